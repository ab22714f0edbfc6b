"""The CIFER envelope: format version 1 (docs/envelope.md)."""

from cifer.envelope.seal import (
    DEFAULT_CHUNK_SIZE, FixedRandomness, Keyring, KeyOpener, Recipient, adecrypt_stream, aencrypt_stream, decrypt, decrypt_file,
    decrypt_stream, encrypt, encrypt_file, encrypt_stream, rewrap, rewrap_header,
)
from cifer.envelope.format import Header, KeySlot, parse_header_exact

__all__ = [
    "DEFAULT_CHUNK_SIZE", "FixedRandomness", "Header", "KeyOpener", "KeySlot", "Keyring", "Recipient", "adecrypt_stream",
    "aencrypt_stream", "decrypt", "decrypt_file", "decrypt_stream", "encrypt", "encrypt_file", "encrypt_stream",
    "parse_header_exact", "rewrap", "rewrap_header",
]
