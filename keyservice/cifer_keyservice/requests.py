"""Emptied: request parsing is `cifer.api.parsing` and `cifer_keyservice.bodies`, `Policy` is in
`cifer_keyservice.records`. Kept only until `cli.py` imports `MAX_PRINCIPAL_CHARS` from
`cifer.api.schemas`; then delete it (the name shadows the `requests` library)."""

from cifer.api.schemas import MAX_PRINCIPAL_CHARS

__all__ = ["MAX_PRINCIPAL_CHARS"]
