"""Seed 001's data protection over the CIFER envelope: what a structured value becomes before it
is sealed and after it is opened (`values`), which fields of an object are sealed on their own
(`fields`), and which key a user's data type goes to (`keytypes`). No HTTP, no key service: the
sidecar's `/api/security/*` routes and the SDKs build on these."""
