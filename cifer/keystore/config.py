"""Which KEK a process uses, chosen explicitly and once.

There is no fallback: a process told to use an HSM that is unreachable, or whose PIN is
wrong, fails to start (KeystoreUnavailable) rather than quietly wrapping keys with a file.
The PIN comes from the environment or a file, never from the command line (`ps` shows argv).
"""

from __future__ import annotations

import argparse
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


def add_kek_arguments(parser: argparse.ArgumentParser) -> None:
    """The KEK options every command that opens a keystore takes."""
    hsm = parser.add_argument_group(
        "KEK", f"a PKCS#11 token (PIN in ${PIN_ENV} or --pkcs11-pin-file), else a 0600 key file"
    )
    hsm.add_argument("--pkcs11-library", default=None, help="path of the PKCS#11 module")
    hsm.add_argument("--pkcs11-token", default=None, help="label of the token")
    hsm.add_argument("--pkcs11-pin-file", type=Path, default=None, help="file holding the user PIN")
    hsm.add_argument("--kek-file", type=Path, default=None, help="the file KEK (default: kek.key in the data directory)")


def kek_settings(args: argparse.Namespace, *, default_file: Path) -> KekSettings:
    """The KEK the options name; a token when one is named, never both."""
    if args.pkcs11_library or args.pkcs11_token:
        if not (args.pkcs11_library and args.pkcs11_token):
            raise SystemExit("--pkcs11-library and --pkcs11-token go together")
        if args.kek_file:
            raise SystemExit("name either a PKCS#11 token or a KEK file, not both")
        return Pkcs11KekSettings(args.pkcs11_library, args.pkcs11_token, pin_file=args.pkcs11_pin_file)
    return FileKekSettings(args.kek_file or default_file)
