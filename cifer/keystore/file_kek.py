"""A KEK in a file: 32 raw bytes of AES-256, for development only.

A file on disk is as safe as its permissions, so it is refused unless only its owner can
read it. It is created exclusively and never overwritten: replacing a KEK would orphan every
seed wrapped under it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

from cifer.exceptions import InvalidWrappedKey, KeystoreUnavailable
from cifer.keystore.kek import ClosesOnExit, check_secret, check_unwrapped, check_wrapped

KEY_BYTES = 32  # AES-256
KEY_FILE_MODE = 0o600
_GROUP_OR_OTHER_BITS = 0o077


class FileKek(ClosesOnExit):
    """An AES-256 KEK read from a file; build it with `FileKek.open`."""

    def __init__(self, path: Path, key: bytes) -> None:
        self._path = path
        self._key: bytes | None = key

    @classmethod
    def open(cls, path: Path, *, create: bool) -> FileKek:
        """Opens the key file at `path`; with `create`, makes it first if it does not exist."""
        path = Path(os.path.abspath(path))
        if create:
            _create_if_missing(path)
        return cls(path, _read_key(path))

    @property
    def kek_id(self) -> str:
        return f"file:{self._path}"

    def wrap(self, secret: bytes) -> bytes:
        check_secret(secret)
        return aes_key_wrap_with_padding(self._live_key(), secret)

    def unwrap(self, wrapped: bytes) -> bytes:
        check_wrapped(wrapped)
        try:
            secret = aes_key_unwrap_with_padding(self._live_key(), wrapped)
        except InvalidUnwrap:
            raise InvalidWrappedKey("invalid wrapped key") from None
        return check_unwrapped(secret)

    def close(self) -> None:
        self._key = None


    def __repr__(self) -> str:
        return f"FileKek({self.kek_id!r})"

    def _live_key(self) -> bytes:
        if self._key is None:
            raise KeystoreUnavailable(f"{self.kek_id} is closed")
        return self._key


def _create_if_missing(path: Path) -> None:
    """Writes a fresh key; O_EXCL makes "exists, so open it" race-free against a creator."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, KEY_FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise KeystoreUnavailable(f"cannot create key file {path}: {exc.strerror}") from exc
    try:
        with open(fd, "wb") as key_file:
            key_file.write(os.urandom(KEY_BYTES))
            key_file.flush()
            os.fsync(key_file.fileno())
    except OSError as exc:
        # A short key file would be refused on every later open; leave nothing behind.
        path.unlink(missing_ok=True)
        raise KeystoreUnavailable(f"cannot write key file {path}: {exc.strerror}") from exc
    try:
        _fsync_directory(path.parent)
    except OSError as exc:
        raise KeystoreUnavailable(
            f"cannot sync the directory of key file {path}: {exc.strerror}"
        ) from exc


def _fsync_directory(directory: Path) -> None:
    """Makes the new directory entry durable, not only the file's bytes."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_key(path: Path) -> bytes:
    """Reads the key after checking, on the open descriptor, what the file is."""
    try:
        # O_NONBLOCK: opening a FIFO planted at the path must fail the checks, not hang.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise KeystoreUnavailable(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeystoreUnavailable(f"cannot open key file {path}: {exc.strerror}") from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeystoreUnavailable(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & _GROUP_OR_OTHER_BITS:
            raise KeystoreUnavailable(
                f"key file {path} has mode {mode:04o}; it must be {KEY_FILE_MODE:04o} or stricter"
            )
        if status.st_size != KEY_BYTES:
            raise KeystoreUnavailable(
                f"key file {path} holds {status.st_size} bytes; it must hold exactly {KEY_BYTES}"
            )
        # One byte more than expected, so a file that grew since fstat is caught too.
        key = os.read(fd, KEY_BYTES + 1)
    except OSError as exc:
        raise KeystoreUnavailable(f"cannot read key file {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(key) != KEY_BYTES:
        raise KeystoreUnavailable(f"key file {path} changed while it was read")
    return key
