"""The KEK on a PKCS#11 token: an AES-256 key that cannot leave the HSM.

A seed crosses the token only as a short-lived session object (a generic secret) that the
token key wraps, or that it unwraps into, and that is destroyed at once.

A PKCS#11 login belongs to the process, not to a session: a second login is refused as
"already logged in" whatever PIN it carries, and closing one logged-in session logs every
session out. So one Pkcs11Kek per token per process; a second open is refused, never let in
without its PIN being checked.

The mechanism is picked by a known-answer test: the specification's RFC 5649 is
CKM_AES_KEY_WRAP_KWP, but SoftHSM offers RFC 5649 only as CKM_AES_KEY_WRAP_PAD, which the
specification defines as something else (PKCS #7 padding, then RFC 3394).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from cifer.exceptions import InvalidWrappedKey, KeystoreUnavailable
from cifer.extras import needs
from cifer.keystore.kek import ClosesOnExit, check_secret, check_unwrapped, check_wrapped

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11 import exceptions as p11
except ModuleNotFoundError as exc:  # the hsm extra: without it this module imports, and opening a token says so
    if exc.name != "pkcs11":
        raise
    pkcs11 = None

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Library

DEFAULT_KEY_LABEL = "cifer-kek"
KEK_BYTES = 32  # AES-256

# A public key and secret: the known answer tests the token's algorithm, not our KEK.
_KAT_KEY = bytes(range(KEK_BYTES))
_KAT_SECRET = bytes(range(KEK_BYTES, 2 * KEK_BYTES))

# The tables below name python-pkcs11's constants, so they are built when a token is used.


def _kek_template() -> dict[Attribute, Any]:
    """Only wrapping and unwrapping; never readable, never extractable, never modified."""
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.MODIFIABLE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.SIGN: False,
        Attribute.VERIFY: False,
        Attribute.DERIVE: False,
    }


def _seed_template() -> dict[Attribute, Any]:
    """A seed on its way in or out: a session object the token can wrap or hand back."""
    return {
        Attribute.TOKEN: False,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True,
    }


def _bad_blob_errors() -> tuple[type[p11.PKCS11Error], ...]:
    """C_UnwrapKey failures that mean "not a blob this KEK made"; SoftHSM reports a failed
    integrity check as CKR_GENERAL_ERROR. Every other failure is the token's, not the data's."""
    return (
        p11.GeneralError,
        p11.WrappedKeyInvalid,
        p11.WrappedKeyLenRange,
        p11.EncryptedDataInvalid,
        p11.EncryptedDataLenRange,
        p11.DataInvalid,
        p11.DataLenRange,
        p11.KeySizeRange,
    )


def _candidate_mechanisms() -> tuple[Mechanism, ...]:
    """RFC 5649 under its specified name first; each candidate must still pass the known answer."""
    return (Mechanism.AES_KEY_WRAP_KWP, Mechanism.AES_KEY_WRAP_PAD)


# (real library path, token label) of every token this process is logged in to.
_open_tokens: set[tuple[str, str]] = set()
_open_tokens_lock = threading.Lock()


class Pkcs11Kek(ClosesOnExit):
    """An AES-256 KEK on a PKCS#11 token; build it with `Pkcs11Kek.open`."""

    def __init__(
        self,
        *,
        kek_id: str,
        claim: tuple[str, str],
        session: pkcs11.Session,
        key: pkcs11.SecretKey,
        mechanism: Mechanism,
    ) -> None:
        self._kek_id = kek_id
        self._claim = claim
        self._session: pkcs11.Session | None = session
        self._key: pkcs11.SecretKey | None = key
        self._mechanism = mechanism
        # python-pkcs11 sessions are not thread-safe, and a wrap is several calls in a row.
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        library_path: str,
        token_label: str,
        pin: str,
        key_label: str = DEFAULT_KEY_LABEL,
        *,
        create: bool,
        unsafe_allow_extractable_kek: bool = False,
    ) -> Pkcs11Kek:
        """Logs in to the token and finds the AES-256 key `key_label`; with `create`,
        generates it first if it is absent. Run `create` from one process only: two
        concurrent creators would leave two keys with one label, which every open refuses.
        `unsafe_allow_extractable_kek` admits a KEK whose bytes can leave the token (tests)."""
        library = _load_library(library_path)
        token = _find_token(library, library_path, token_label)
        claim = (os.path.realpath(library_path), token_label)
        with _open_tokens_lock:
            if claim in _open_tokens:
                raise KeystoreUnavailable(
                    f"token {token_label!r} is already open in this process; "
                    "share one Pkcs11Kek per token"
                )
            _open_tokens.add(claim)
        try:
            session = _log_in(token, token_label, pin)
            try:
                key, mechanism = _prepare(
                    session, token, token_label, key_label, create, unsafe_allow_extractable_kek
                )
            except BaseException:
                _close_quietly(session)
                raise
        except BaseException:
            with _open_tokens_lock:
                _open_tokens.discard(claim)
            raise
        return cls(
            kek_id=f"pkcs11:{token_label}/{key_label}",
            claim=claim,
            session=session,
            key=key,
            mechanism=mechanism,
        )

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, secret: bytes) -> bytes:
        check_secret(secret)
        with self._lock:
            session, key = self._live()
            try:
                seed = _secret_object(session, secret)
                try:
                    return bytes(key.wrap_key(seed, mechanism=self._mechanism))
                finally:
                    seed.destroy()
            except p11.PKCS11Error as exc:
                raise KeystoreUnavailable(f"{self._kek_id}: wrap failed: {_describe(exc)}") from exc

    def unwrap(self, wrapped: bytes) -> bytes:
        check_wrapped(wrapped)
        with self._lock:
            _, key = self._live()
            try:
                seed = key.unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    wrapped,
                    mechanism=self._mechanism,
                    store=False,
                    template=_seed_template(),
                )
            except _bad_blob_errors():
                raise InvalidWrappedKey("invalid wrapped key") from None
            except p11.PKCS11Error as exc:
                raise KeystoreUnavailable(
                    f"{self._kek_id}: unwrap failed: {_describe(exc)}"
                ) from exc
            try:
                try:
                    secret = bytes(seed[Attribute.VALUE])
                finally:
                    seed.destroy()
            except p11.PKCS11Error as exc:
                raise KeystoreUnavailable(
                    f"{self._kek_id}: unwrap failed: {_describe(exc)}"
                ) from exc
        return check_unwrapped(secret)

    def close(self) -> None:
        """Logs out and closes the session; closing twice is harmless."""
        with self._lock:
            session, self._session, self._key = self._session, None, None
        if session is None:
            return
        try:
            _close_quietly(session)
        finally:
            with _open_tokens_lock:
                _open_tokens.discard(self._claim)


    def __repr__(self) -> str:
        return f"Pkcs11Kek({self._kek_id!r})"

    def _live(self) -> tuple[pkcs11.Session, pkcs11.SecretKey]:
        if self._session is None or self._key is None:
            raise KeystoreUnavailable(f"{self._kek_id} is closed")
        return self._session, self._key


def _describe(exc: BaseException) -> str:
    """python-pkcs11 errors mostly have no text; their class names the return value."""
    return str(exc) or type(exc).__name__


def _load_library(library_path: str) -> Pkcs11Library:
    if pkcs11 is None:
        raise KeystoreUnavailable(needs("a PKCS#11 token", "hsm"))
    if not os.path.isfile(library_path):
        raise KeystoreUnavailable(f"PKCS#11 library not found: {library_path}")
    try:
        return pkcs11.lib(library_path)
    except (p11.PKCS11Error, OSError) as exc:
        raise KeystoreUnavailable(
            f"cannot load PKCS#11 library {library_path}: {_describe(exc)}"
        ) from exc


def _find_token(library: Pkcs11Library, library_path: str, token_label: str) -> pkcs11.Token:
    try:
        return library.get_token(token_label=token_label)
    except p11.NoSuchToken:
        raise KeystoreUnavailable(f"no token labelled {token_label!r} in {library_path}") from None
    except p11.MultipleTokensReturned:
        raise KeystoreUnavailable(
            f"more than one token labelled {token_label!r} in {library_path}"
        ) from None
    except p11.PKCS11Error as exc:
        raise KeystoreUnavailable(
            f"cannot list the tokens of {library_path}: {_describe(exc)}"
        ) from exc


def _log_in(token: pkcs11.Token, token_label: str, pin: str) -> pkcs11.Session:
    """Opens a read-write session as the user; no message here may carry the PIN."""
    try:
        return token.open(user_pin=pin, rw=True)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
        raise KeystoreUnavailable(f"wrong PIN for token {token_label!r}") from None
    except p11.PinLocked:
        raise KeystoreUnavailable(f"the user PIN of token {token_label!r} is locked") from None
    except p11.PinExpired:
        raise KeystoreUnavailable(f"the user PIN of token {token_label!r} has expired") from None
    except p11.UserPinNotInitialized:
        raise KeystoreUnavailable(f"token {token_label!r} has no user PIN set") from None
    except (p11.UserAlreadyLoggedIn, p11.AnotherUserAlreadyLoggedIn):
        raise KeystoreUnavailable(
            f"token {token_label!r} is already logged in to by this process; "
            "share one Pkcs11Kek per token"
        ) from None
    except p11.PKCS11Error as exc:
        raise KeystoreUnavailable(
            f"cannot open a session on token {token_label!r}: {_describe(exc)}"
        ) from exc


def _prepare(
    session: pkcs11.Session,
    token: pkcs11.Token,
    token_label: str,
    key_label: str,
    create: bool,
    allow_extractable: bool,
) -> tuple[pkcs11.SecretKey, Mechanism]:
    """Finds (or makes) and checks the KEK, and picks the mechanism, in a fresh session."""
    try:
        key = _find_or_create_key(session, token_label, key_label, create=create)
        _check_key(key, token_label, key_label, allow_extractable)
        return key, _pick_mechanism(session, token, token_label)
    except p11.PKCS11Error as exc:
        raise KeystoreUnavailable(f"cannot use token {token_label!r}: {_describe(exc)}") from exc


def _find_or_create_key(
    session: pkcs11.Session, token_label: str, key_label: str, *, create: bool
) -> pkcs11.SecretKey:
    try:
        return session.get_key(object_class=ObjectClass.SECRET_KEY, label=key_label)
    except p11.MultipleObjectsReturned:
        raise KeystoreUnavailable(
            f"more than one key labelled {key_label!r} on token {token_label!r}"
        ) from None
    except p11.NoSuchKey:
        if not create:
            raise KeystoreUnavailable(
                f"no key labelled {key_label!r} on token {token_label!r}"
            ) from None
    return session.generate_key(
        KeyType.AES,
        KEK_BYTES * 8,
        label=key_label,
        store=True,
        capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
        template=_kek_template(),
    )


def _check_key(
    key: pkcs11.SecretKey, token_label: str, key_label: str, allow_extractable: bool
) -> None:
    """Refuses a key that is not an AES-256 wrapping key, or that could leave the token."""
    attributes = key.get_attributes(
        [
            Attribute.KEY_TYPE,
            Attribute.VALUE_LEN,
            Attribute.WRAP,
            Attribute.UNWRAP,
            Attribute.EXTRACTABLE,
            Attribute.SENSITIVE,
        ]
    )
    name = f"key {key_label!r} on token {token_label!r}"
    is_aes_256 = attributes[Attribute.KEY_TYPE] == KeyType.AES and (
        attributes[Attribute.VALUE_LEN] == KEK_BYTES
    )
    if not is_aes_256:
        raise KeystoreUnavailable(f"{name} is not an AES-256 key")
    if not (attributes[Attribute.WRAP] and attributes[Attribute.UNWRAP]):
        raise KeystoreUnavailable(f"{name} is not allowed to wrap and unwrap")
    if allow_extractable:
        return
    if attributes[Attribute.EXTRACTABLE] or not attributes[Attribute.SENSITIVE]:
        raise KeystoreUnavailable(
            f"{name} is extractable or not sensitive; a KEK must never leave its token"
        )


def _pick_mechanism(session: pkcs11.Session, token: pkcs11.Token, token_label: str) -> Mechanism:
    offered = set(token.slot.get_mechanisms())
    for mechanism in _candidate_mechanisms():
        if mechanism in offered and _wraps_rfc5649(session, mechanism):
            return mechanism
    raise KeystoreUnavailable(
        f"token {token_label!r} offers no RFC 5649 AES key wrap "
        "(tried CKM_AES_KEY_WRAP_KWP and CKM_AES_KEY_WRAP_PAD)"
    )


def _wraps_rfc5649(session: pkcs11.Session, mechanism: Mechanism) -> bool:
    """Wraps a known secret under a known session key and compares with cryptography's."""
    test_key = session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: _KAT_KEY,
            Attribute.TOKEN: False,
            Attribute.WRAP: True,
        }
    )
    try:
        secret = _secret_object(session, _KAT_SECRET)
        try:
            wrapped = bytes(test_key.wrap_key(secret, mechanism=mechanism))
        except (p11.MechanismInvalid, p11.MechanismParamInvalid, p11.FunctionNotSupported):
            # Listed but refused for wrapping: this token cannot use it as our KEK mechanism.
            return False
        finally:
            secret.destroy()
    finally:
        test_key.destroy()
    return wrapped == aes_key_wrap_with_padding(_KAT_KEY, _KAT_SECRET)


def _secret_object(session: pkcs11.Session, value: bytes) -> pkcs11.SecretKey:
    """A short-lived session object holding `value`, for the KEK to wrap; destroy it after."""
    return session.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE: value,
        **_seed_template(),
    })


def _close_quietly(session: pkcs11.Session) -> None:
    """Logs out and closes; a token that is already gone has nothing left to close."""
    try:
        session.close()
    except p11.PKCS11Error:
        pass
