"""Webhooks (seed §7): endpoints registered by owners (`service`, `routes`), their signing
secrets sealed at rest (`secrets`), the signature a receiver checks (`signing`), and the
dispatcher that sends the outbox's deliveries with retries (`delivery`)."""
