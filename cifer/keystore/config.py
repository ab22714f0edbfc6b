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

from cifer.datadir import default_data_dir
from cifer.exceptions import KeystoreUnavailable
from cifer.keystore.file_kek import FileKek
from cifer.keystore.kek import Kek
from cifer.keystore.pkcs11_kek import DEFAULT_KEY_LABEL, Pkcs11Kek
from cifer.settings import add_flags, from_arguments, setting

PIN_ENV = "CIFER_PKCS11_PIN"  # read when the token is opened, never kept in settings


def _absolute(path: str) -> Path:
    return Path(path).resolve()


@dataclasses.dataclass(frozen=True)
class StateSettings:
    """Where a command that keeps state on this machine keeps it (`cifer keyservice`, `cifer dev`)."""

    data_dir: Path = setting("--data-dir", default_factory=lambda: default_data_dir().resolve(), parse=_absolute,
                             help=f"State directory: the SQLite database, the file KEK, the audit log of `cifer dev` "
                                  f"(default {default_data_dir()}).")


@dataclasses.dataclass(frozen=True)
class FileKekSettings:
    path: Path = setting("--kek-file")
    """The 32-byte key file; created 0600 if absent, refused if its mode is looser (default: kek.key
    in the data directory)."""


@dataclasses.dataclass(frozen=True)
class Pkcs11KekSettings:
    library_path: str = setting("--pkcs11-library")
    """The vendor's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so."""
    token_label: str = setting("--pkcs11-token")
    """The token holding the KEK."""
    pin_file: Path | None = setting("--pkcs11-pin-file", default=None)
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


def add_kek_arguments(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """The KEK options every command that opens a keystore takes (`again`: see add_flags)."""
    hsm = parser.add_argument_group(
        "KEK", f"a PKCS#11 token (PIN in ${PIN_ENV} or --pkcs11-pin-file), else a 0600 key file"
    )
    add_flags(hsm, Pkcs11KekSettings, again=again)
    add_flags(hsm, FileKekSettings, again=again)


def kek_settings(args: argparse.Namespace, *, default_file: Path) -> KekSettings:
    """The KEK the options name; a token when one is named, never both."""
    if args.pkcs11_library or args.pkcs11_token:
        if not (args.pkcs11_library and args.pkcs11_token):
            raise SystemExit("--pkcs11-library and --pkcs11-token go together")
        if args.kek_file:
            raise SystemExit("name either a PKCS#11 token or a KEK file, not both")
        return from_arguments(Pkcs11KekSettings, args)
    return from_arguments(FileKekSettings, args, defaults={"path": default_file})
