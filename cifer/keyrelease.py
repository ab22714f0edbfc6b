"""Key release (docs/key-release.md): data keys sealed to the sidecar that asked.

A sidecar sends `/v1/decapsulate` a `recipient`: the public half of an ephemeral key pair that
lives only in its memory (`RotatingRecipientKey`, rotated at least hourly). The key service
answers each data key as a `sealed_data_key`: RFC 9180 HPKE, base mode, single shot, with the
envelope header's SHA-256 in `info`. This module owns those bytes: the suites, the request
field, the sealed key, and the HPKE key schedule under them. Every problem with a recipient
or a sealed key is one `InvalidKeyRelease`, naming the request field at fault.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cifer.exceptions import CoreError

LABEL = b"CIFER-v1 key-release"
DATA_KEY_BYTES = 32
TAG_BYTES = 16
MAX_ROTATION_S = 3600.0  # a recipient key pair is never used for longer than an hour

_KDF_HKDF_SHA256 = 0x0001
_AEADS = {0x0001: 16, 0x0002: 32}  # HPKE AEAD id -> key length: AES-128-GCM, AES-256-GCM
_NONCE_BYTES = 12


class InvalidKeyRelease(CoreError):
    """A recipient or a sealed data key that is malformed, of another suite, or does not open.
    `field` is the request or answer field at fault (`recipient.suite`, `sealed_data_key`, ...)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class ReleaseSuite:
    """One HPKE suite: a KEM (by its RFC 9180 / draft-ietf-hpke-pq id), HKDF-SHA256, an AEAD."""

    name: str
    kem_id: int
    public_key_bytes: int
    enc_bytes: int
    aead_id: int = 0x0002

    @property
    def sealed_bytes(self) -> int:
        return self.enc_bytes + DATA_KEY_BYTES + TAG_BYTES

    def generate(self) -> Any:
        return x25519.X25519PrivateKey.generate() if self.kem_id == 0x0020 else mlkem.MLKEM768PrivateKey.generate()

    def public_bytes(self, private_key: Any) -> bytes:
        return private_key.public_key().public_bytes_raw()

    def public_key(self, raw: bytes) -> Any:
        if self.kem_id == 0x0020:
            return x25519.X25519PublicKey.from_public_bytes(raw)
        return mlkem.MLKEM768PublicKey.from_public_bytes(raw)

    def encapsulate(self, public_key: Any) -> tuple[bytes, bytes]:
        """(shared secret, enc) of a fresh encapsulation to `public_key`."""
        if self.kem_id == 0x0020:
            ephemeral = x25519.X25519PrivateKey.generate()
            return self.dh_encapsulate(ephemeral, public_key), ephemeral.public_key().public_bytes_raw()
        return public_key.encapsulate()

    def dh_encapsulate(self, ephemeral: x25519.X25519PrivateKey, public_key: x25519.X25519PublicKey) -> bytes:
        """DHKEM(X25519, HKDF-SHA256) Encap with a given ephemeral key (RFC 9180 §4.1)."""
        enc = ephemeral.public_key().public_bytes_raw()
        return self._dh_shared_secret(ephemeral.exchange(public_key), enc + public_key.public_bytes_raw())

    def decapsulate(self, private_key: Any, enc: bytes) -> bytes:
        if self.kem_id == 0x0020:
            dh = private_key.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
            return self._dh_shared_secret(dh, enc + private_key.public_key().public_bytes_raw())
        return private_key.decapsulate(enc)  # ML-KEM-768 (draft-ietf-hpke-pq): enc is the KEM ciphertext

    def _dh_shared_secret(self, dh: bytes, kem_context: bytes) -> bytes:
        kem_suite = b"KEM" + self.kem_id.to_bytes(2, "big")
        eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
        return _labeled_expand(kem_suite, eae_prk, b"shared_secret", kem_context, 32)


X25519 = ReleaseSuite("x25519-hkdf-sha256-aes-256-gcm", 0x0020, 32, 32)
ML_KEM_768 = ReleaseSuite("ml-kem-768-hkdf-sha256-aes-256-gcm", 0x0041, 1184, 1088)
SUITES: Mapping[str, ReleaseSuite] = {suite.name: suite for suite in (X25519, ML_KEM_768)}
DEFAULT_SUITE = X25519


def suite_name(name: str) -> str:
    """`name` if it names a suite (for settings); ValueError otherwise."""
    if name not in SUITES:
        raise ValueError(f"not a key-release suite: {name!r} (one of {', '.join(SUITES)})")
    return name


# -- RFC 9180 base mode, single shot (sequence number 0) ------------------------------------------

def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm, "sha256")


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand of at most one SHA-256 block (every length here is 32 or less): T(1), truncated."""
    if not 0 < length <= 32:
        raise RuntimeError("internal error: one HKDF block only")
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    return hmac.digest(prk, labeled_info + b"\x01", "sha256")[:length]


def _key_schedule(suite: ReleaseSuite, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    """(key, base nonce) of HPKE's KeySchedule in mode_base with the default PSK (RFC 9180 §5.1)."""
    suite_id = b"HPKE" + b"".join(n.to_bytes(2, "big") for n in (suite.kem_id, _KDF_HKDF_SHA256, suite.aead_id))
    psk_id_hash = _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite_id, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite_id, shared_secret, b"secret", b"")
    return (_labeled_expand(suite_id, secret, b"key", context, _AEADS[suite.aead_id]),
            _labeled_expand(suite_id, secret, b"base_nonce", context, _NONCE_BYTES))


def hpke_seal(suite: ReleaseSuite, encapsulation: tuple[bytes, bytes], plaintext: bytes, *,
              info: bytes, aad: bytes) -> bytes:
    """`enc || ciphertext` of HPKE SealBase, from an encapsulation (shared secret, enc)."""
    shared_secret, enc = encapsulation
    key, nonce = _key_schedule(suite, shared_secret, info)
    return enc + AESGCM(key).encrypt(nonce, plaintext, aad)


def hpke_open(suite: ReleaseSuite, private_key: Any, sealed: bytes, *, info: bytes, aad: bytes) -> bytes:
    """HPKE OpenBase of `enc || ciphertext`; cryptography's errors for a bad one (callers collapse them)."""
    enc, ciphertext = sealed[:suite.enc_bytes], sealed[suite.enc_bytes:]
    key, nonce = _key_schedule(suite, suite.decapsulate(private_key, enc), info)
    return AESGCM(key).decrypt(nonce, ciphertext, aad)


# -- the request's recipient and the answer's sealed keys -------------------------------------------

def release_info(header: bytes) -> bytes:
    """HPKE `info` of the data key of one envelope header: lp(label) || lp(SHA-256(header))."""
    return _lp(LABEL) + _lp(hashlib.sha256(header).digest())


def _lp(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def _strict_b64(value: object, field: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise InvalidKeyRelease(field, "must be a base64 string")
    try:
        raw = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidKeyRelease(field, "must be canonical base64") from None
    if base64.b64encode(raw).decode() != value:
        raise InvalidKeyRelease(field, "must be canonical base64")
    if len(raw) != length:
        raise InvalidKeyRelease(field, f"must be {length} bytes")
    return raw


@dataclasses.dataclass(frozen=True)
class ReleaseRecipient:
    """The public key a request names (what the key service seals to)."""

    suite: ReleaseSuite
    public_bytes: bytes
    _key: Any = dataclasses.field(default=None, compare=False, repr=False)  # parsed once, used per seal

    def __post_init__(self) -> None:
        if self._key is None:
            object.__setattr__(self, "_key", self.suite.public_key(self.public_bytes))

    def to_field(self) -> dict[str, str]:
        """The request's `recipient` field."""
        return {"suite": self.suite.name, "public_key": base64.b64encode(self.public_bytes).decode()}

    def seal(self, data_key: bytes, header: bytes, *,
             unsafe_encapsulation: tuple[bytes, bytes] | None = None) -> str:
        """The answer's `sealed_data_key` for `header`: base64 of enc || AES-256-GCM(data key).
        `unsafe_encapsulation` fixes (shared secret, enc) for test vectors only."""
        if len(data_key) != DATA_KEY_BYTES:
            raise RuntimeError("internal error: a data key is 32 bytes")
        encapsulation = unsafe_encapsulation or self.suite.encapsulate(self._key)
        sealed = hpke_seal(self.suite, encapsulation, data_key, info=release_info(header), aad=b"")
        return base64.b64encode(sealed).decode()


def parse_recipient(value: object) -> ReleaseRecipient:
    """The request's `recipient`, strictly: exactly `suite` and `public_key`, a known suite, a public
    key of the suite's length that the suite accepts."""
    if not isinstance(value, dict) or set(value) != {"suite", "public_key"}:
        raise InvalidKeyRelease("recipient", "must be an object of exactly `suite` and `public_key`")
    suite = SUITES.get(value["suite"]) if isinstance(value["suite"], str) else None
    if suite is None:
        raise InvalidKeyRelease("recipient.suite", f"must be one of {', '.join(SUITES)}")
    raw = _strict_b64(value["public_key"], "recipient.public_key", suite.public_key_bytes)
    try:
        recipient = ReleaseRecipient(suite, raw)
        suite.encapsulate(recipient._key)  # refuses what no seal could use (an X25519 point of small order)
    except ValueError:
        raise InvalidKeyRelease("recipient.public_key", f"is not a {suite.name} public key") from None
    return recipient


class RecipientKey:
    """An ephemeral key pair held only in memory: its public half goes into requests, its private half
    opens the answers. Never written anywhere, never logged."""

    __slots__ = ("suite", "_private", "recipient", "created_at")

    def __init__(self, suite: ReleaseSuite, private_key: Any, *, created_at: float) -> None:
        self.suite = suite
        self._private = private_key
        self.recipient = ReleaseRecipient(suite, suite.public_bytes(private_key))
        self.created_at = created_at

    @classmethod
    def generate(cls, suite: ReleaseSuite, *, now: float) -> RecipientKey:
        return cls(suite, suite.generate(), created_at=now)

    def __repr__(self) -> str:
        return f"RecipientKey({self.suite.name}, created_at={self.created_at})"

    def open(self, sealed_data_key: object, header: bytes) -> bytes:
        """The data key of `header` from the answer's `sealed_data_key`; InvalidKeyRelease otherwise."""
        sealed = _strict_b64(sealed_data_key, "sealed_data_key", self.suite.sealed_bytes)
        try:
            return hpke_open(self.suite, self._private, sealed, info=release_info(header), aad=b"")
        except (InvalidTag, ValueError):
            raise InvalidKeyRelease("sealed_data_key", "does not open") from None


class RotatingRecipientKey:
    """The sidecar's current RecipientKey, replaced by a fresh one once it is `rotate_after_s` old.
    A request keeps the key it was sent with, so a rotation never strands an answer in flight."""

    def __init__(self, suite: ReleaseSuite = DEFAULT_SUITE, *, rotate_after_s: float = MAX_ROTATION_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < rotate_after_s <= MAX_ROTATION_S:
            raise ValueError(f"rotate_after_s must be in (0, {MAX_ROTATION_S:g}]")
        self._suite, self._rotate_after_s, self._clock = suite, rotate_after_s, clock
        self._lock = threading.Lock()
        self._key = RecipientKey.generate(suite, now=clock())

    def current(self) -> RecipientKey:
        now = self._clock()
        with self._lock:
            if now - self._key.created_at >= self._rotate_after_s or now < self._key.created_at:
                self._key = RecipientKey.generate(self._suite, now=now)
            return self._key
