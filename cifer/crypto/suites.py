"""The suites: which KEM seals an envelope's data key, and which AEAD seals its payload.

A suite is a KEM (ML-KEM-768, ML-KEM-1024 or X-Wing) with HKDF-SHA256 and a payload AEAD
(AES-256-GCM or ChaCha20-Poly1305): six suites. Its u16 id says both: high byte the
payload AEAD (0x00 AES-256-GCM, 0x01 ChaCha20-Poly1305), low byte the KEM. The KEM is all
a key pair knows, so `name` is the KEM's name, and a cifer's key opens envelopes of either
AEAD. Private keys are their seeds (64 bytes for ML-KEM, d || z of FIPS 203; 32 bytes for
X-Wing), never expanded forms.
"""

from __future__ import annotations

import abc
import functools
import os
from collections.abc import Callable, Iterator
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from cifer.crypto import xwing
from cifer.exceptions import InvalidCiphertext, InvalidKey

SHARED_SECRET_BYTES = 32
AES_256_GCM = "AES-256-GCM"
CHACHA20_POLY1305 = "ChaCha20-Poly1305"
AEADS = (AES_256_GCM, CHACHA20_POLY1305)  # the payload AEADs; the first is the default


class Suite(abc.ABC):
    """A KEM with its sizes, and the payload AEAD; `suite_id` is the u16 written into every envelope."""

    suite_id: ClassVar[int]  # high byte: the payload AEAD; low byte: the KEM
    name: ClassVar[str]  # the KEM's name as the API reports it, e.g. "ML-KEM-768"
    kdf: ClassVar[str] = "HKDF-SHA256"
    aead: ClassVar[str] = AES_256_GCM  # the payload AEAD's name; the key slot is AES-256-GCM in every suite
    aead_class: ClassVar[type[AESGCM] | type[ChaCha20Poly1305]] = AESGCM  # aead_class(payload key) seals chunks
    seed_bytes: ClassVar[int]
    public_key_bytes: ClassVar[int]
    ciphertext_bytes: ClassVar[int]

    def generate_seed(self) -> bytes:
        return os.urandom(self.seed_bytes)

    @abc.abstractmethod
    def public_key(self, seed: bytes) -> bytes:
        """The raw encapsulation key for a private seed."""

    @abc.abstractmethod
    def public_key_der(self, public_key: bytes) -> bytes:
        """The standard SubjectPublicKeyInfo DER of a raw public key (the API's `encapsulation_key`)."""

    @abc.abstractmethod
    def public_key_from_der(self, der: bytes) -> bytes:
        """The raw public key in a SubjectPublicKeyInfo DER; InvalidKey if it is not this suite's."""

    @abc.abstractmethod
    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        """Returns (shared_secret, kem_ciphertext). Raises InvalidKey for a bad public key."""

    @abc.abstractmethod
    def decapsulator(self, seed: bytes) -> Callable[[bytes], bytes]:
        """The private key expanded once, as a function from KEM ciphertext to shared secret
        (InvalidCiphertext for a malformed one): for many headers under one key."""

    def decapsulate(self, seed: bytes, kem_ciphertext: bytes) -> bytes:
        """Returns the shared secret. Raises InvalidCiphertext for a malformed ciphertext."""
        return self.decapsulator(seed)(kem_ciphertext)

    def _check_seed(self, seed: bytes) -> None:
        if len(seed) != self.seed_bytes:
            raise InvalidKey(f"{self.name} private seed must be {self.seed_bytes} bytes")

    def _check_public_key(self, public_key: bytes) -> None:
        if len(public_key) != self.public_key_bytes:
            raise InvalidKey(f"{self.name} public key must be {self.public_key_bytes} bytes")

    def __repr__(self) -> str:
        return f"<Suite {self.suite_id:#06x} {self.name} {self.aead}>"


@functools.lru_cache(maxsize=256)
def _public_key_object(public_class: type, public_key: bytes):
    """Parsed once per key: a sidecar encrypts to the same few keys all day."""
    return public_class.from_public_bytes(public_key)


class _MlKemSuite(Suite):
    _private_class: ClassVar[type]
    _public_class: ClassVar[type]
    _spki_prefix: ClassVar[bytes]
    seed_bytes = 64

    def public_key(self, seed: bytes) -> bytes:
        self._check_seed(seed)
        return self._private_class.from_seed_bytes(seed).public_key().public_bytes_raw()

    def _load(self, public_key: bytes):
        self._check_public_key(public_key)
        try:
            return _public_key_object(self._public_class, public_key)
        except ValueError:
            raise InvalidKey(f"not a valid {self.name} public key") from None

    def public_key_der(self, public_key: bytes) -> bytes:
        self._load(public_key)  # a valid key, or InvalidKey
        return self._spki_prefix + public_key

    def public_key_from_der(self, der: bytes) -> bytes:
        """DER is canonical, so the SubjectPublicKeyInfo of this suite is exactly its prefix and the
        raw key: no ASN.1 parser is needed (nor loaded: a sidecar saves about 0.9 MiB)."""
        if len(der) != len(self._spki_prefix) + self.public_key_bytes or not der.startswith(self._spki_prefix):
            raise InvalidKey(f"not a {self.name} SubjectPublicKeyInfo")
        raw = der[len(self._spki_prefix):]
        self._load(raw)
        return raw

    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        return self._load(public_key).encapsulate()

    def decapsulator(self, seed: bytes) -> Callable[[bytes], bytes]:
        self._check_seed(seed)
        key = self._private_class.from_seed_bytes(seed)

        def decapsulate(kem_ciphertext: bytes) -> bytes:
            if len(kem_ciphertext) != self.ciphertext_bytes:
                raise InvalidCiphertext()
            try:
                return key.decapsulate(kem_ciphertext)
            except ValueError:
                raise InvalidCiphertext() from None

        return decapsulate


class MlKem768(_MlKemSuite):
    suite_id = 0x0001
    name = "ML-KEM-768"
    public_key_bytes = 1184
    ciphertext_bytes = 1088
    # SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.4.2 }, BIT STRING (0 unused bits) }, then the key
    _spki_prefix = bytes.fromhex("308204b2300b0609608648016503040402038204a100")
    _private_class = mlkem.MLKEM768PrivateKey
    _public_class = mlkem.MLKEM768PublicKey


class MlKem1024(_MlKemSuite):
    suite_id = 0x0002
    name = "ML-KEM-1024"
    public_key_bytes = 1568
    ciphertext_bytes = 1568
    _spki_prefix = bytes.fromhex("30820632300b06096086480165030404030382062100")  # OID 2.16.840.1.101.3.4.4.3
    _private_class = mlkem.MLKEM1024PrivateKey
    _public_class = mlkem.MLKEM1024PublicKey


class XWing(Suite):
    """X-Wing (draft-connolly-cfrg-xwing-kem): ML-KEM-768 and X25519, secure if either holds."""

    suite_id = 0x0003
    name = "X-Wing"
    seed_bytes = xwing.SEED_BYTES
    public_key_bytes = xwing.PUBLIC_KEY_BYTES
    ciphertext_bytes = xwing.CIPHERTEXT_BYTES

    def public_key(self, seed: bytes) -> bytes:
        self._check_seed(seed)
        return xwing.public_key(seed)

    def public_key_der(self, public_key: bytes) -> bytes:
        self._check_public_key(public_key)
        return xwing.SPKI_PREFIX + public_key

    def public_key_from_der(self, der: bytes) -> bytes:
        if len(der) != len(xwing.SPKI_PREFIX) + self.public_key_bytes or not der.startswith(xwing.SPKI_PREFIX):
            raise InvalidKey("not an X-Wing SubjectPublicKeyInfo")
        return der[len(xwing.SPKI_PREFIX):]

    def encapsulate(self, public_key: bytes) -> tuple[bytes, bytes]:
        self._check_public_key(public_key)
        try:
            return xwing.encapsulate(public_key)
        except ValueError:
            raise InvalidKey("not a valid X-Wing public key") from None

    def decapsulator(self, seed: bytes) -> Callable[[bytes], bytes]:
        self._check_seed(seed)
        expanded = xwing.decapsulator(seed)

        def decapsulate(kem_ciphertext: bytes) -> bytes:
            if len(kem_ciphertext) != self.ciphertext_bytes:
                raise InvalidCiphertext()
            try:
                return expanded(kem_ciphertext)
            except ValueError:
                raise InvalidCiphertext() from None

        return decapsulate


# The same KEMs with ChaCha20-Poly1305 as the payload AEAD: for machines without AES-NI.
class MlKem768ChaCha20Poly1305(MlKem768):
    suite_id = 0x0101
    aead = CHACHA20_POLY1305
    aead_class = ChaCha20Poly1305


class MlKem1024ChaCha20Poly1305(MlKem1024):
    suite_id = 0x0102
    aead = CHACHA20_POLY1305
    aead_class = ChaCha20Poly1305


class XWingChaCha20Poly1305(XWing):
    suite_id = 0x0103
    aead = CHACHA20_POLY1305
    aead_class = ChaCha20Poly1305


# One instance per suite id: headers carry these, and code may compare them by identity.
ML_KEM_768 = MlKem768()
ML_KEM_1024 = MlKem1024()
X_WING = XWing()
ML_KEM_768_CHACHA20_POLY1305 = MlKem768ChaCha20Poly1305()
ML_KEM_1024_CHACHA20_POLY1305 = MlKem1024ChaCha20Poly1305()
X_WING_CHACHA20_POLY1305 = XWingChaCha20Poly1305()
DEFAULT_SUITE = ML_KEM_768

_KEM_SUITES = (ML_KEM_768, ML_KEM_1024, X_WING)
_BY_ID = {suite.suite_id: suite for suite in (
    *_KEM_SUITES, ML_KEM_768_CHACHA20_POLY1305, ML_KEM_1024_CHACHA20_POLY1305, X_WING_CHACHA20_POLY1305,
)}
_BY_NAME = {(suite.name, suite.aead): suite for suite in _BY_ID.values()}


def all_suites() -> Iterator[Suite]:
    """All six, the AES-256-GCM ones first (in KEM order), then the ChaCha20-Poly1305 ones."""
    return iter(_BY_ID.values())


def kem_suites() -> Iterator[Suite]:
    """One suite per KEM, with the default AEAD: where KEMs are listed (key pairs, the API's algorithms)."""
    return iter(_KEM_SUITES)


def suite_by_id(suite_id: int) -> Suite | None:
    return _BY_ID.get(suite_id)


def suite_by_name(name: str, aead: str = AES_256_GCM) -> Suite:
    """The suite of a KEM (an API algorithm name) and a payload AEAD; KeyError if there is none."""
    return _BY_NAME[(name, aead)]
