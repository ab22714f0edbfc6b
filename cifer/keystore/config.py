"""Which KEK a process uses, chosen explicitly and once.

There is no fallback: a process told to use an HSM that is unreachable, or whose PIN is
wrong, fails to start (KeystoreUnavailable) rather than quietly wrapping keys with a file.
The PIN comes from the environment or a file, never from the command line (`ps` shows argv).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from cifer.exceptions import KeystoreUnavailable
from cifer.keystore.file_kek import FileKek
from cifer.keystore.kek import Kek
from cifer.keystore.pkcs11_kek import DEFAULT_KEY_LABEL, Pkcs11Kek

PIN_ENV = "CIFER_PKCS11_PIN"


@dataclasses.dataclass(frozen=True)
class FileKekSettings:
    path: Path
    """The 32-byte key file; created 0600 if absent, refused if its mode is looser."""


@dataclasses.dataclass(frozen=True)
class Pkcs11KekSettings:
    library_path: str
    """The vendor's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so."""
    token_label: str
    """The token holding the KEK."""
    pin_file: Path | None = None
    """A file holding the user PIN; when absent, the PIN is read from $CIFER_PKCS11_PIN."""
    key_label: str = DEFAULT_KEY_LABEL
    """Label of the AES-256 KEK on the token."""

    def pin(self) -> str:
        if self.pin_file is not None:
            try:
                return self.pin_file.read_text().strip()
            except OSError as exc:
                raise KeystoreUnavailable(f"cannot read the PIN file {self.pin_file}: {exc.strerror}") from None
        pin = os.environ.get(PIN_ENV)
        if not pin:
            raise KeystoreUnavailable(f"no PKCS#11 PIN: set {PIN_ENV} or give a PIN file")
        return pin


KekSettings = FileKekSettings | Pkcs11KekSettings


def open_kek(settings: KekSettings, *, create: bool) -> Kek:
    """Opens exactly the KEK `settings` names; any failure is KeystoreUnavailable."""
    if isinstance(settings, Pkcs11KekSettings):
        return Pkcs11Kek.open(
            settings.library_path, settings.token_label, settings.pin(), settings.key_label, create=create
        )
    return FileKek.open(settings.path, create=create)
