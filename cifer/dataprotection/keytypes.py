"""Which key a seed-001 request goes to: the key types, and the data types each serves.

`POST /api/security/encrypt` names no key: the key is the newest active one generated for the
request's `userId` whose `keyType` serves its `dataType` (docs/security-api.md, "Choosing the key").
A generated key is a cifer named `KEY_NAME.format(key_type, user_id)`, so finding it is a lookup by
name; its metadata repeats `userId` and `keyType` for readers.
"""

from __future__ import annotations

KEY_TYPES = ("user-data", "health-data", "financial-data", "backup")
DATA_TYPES = {
    "health": "health-data",
    "financial": "financial-data",
    "personal": "user-data",
    "location": "user-data",
    "biometric": "user-data",
}
KEY_USAGES = {  # keyUsage: the operations the cifer's policy allows
    "encrypt": ("encrypt", "rotate", "revoke"),
    "decrypt": ("decrypt", "rotate", "revoke"),
    "both": ("encrypt", "decrypt", "rotate", "revoke"),
}
KEY_NAME = "{0}:{1}"  # keyType:userId
MAX_USER_ID_CHARS = 128


def key_name(key_type: str, user_id: str) -> str:
    return KEY_NAME.format(key_type, user_id)


def valid_user_id(value: object) -> bool:
    """1 to MAX_USER_ID_CHARS characters of Unicode text, no NUL (which no database column holds)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_USER_ID_CHARS or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True
