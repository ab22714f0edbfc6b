"""Where `cifer encrypt` and `cifer decrypt` read and write: a file or `-` (stdin, stdout).

An output file is written beside its final name and renamed into place only once the stream
ended properly, so a decryption that fails part-way never leaves a file that looks complete
(and `-i x -o x` works in place). A progress bar goes to stderr only when that is a terminal.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from cifer.commands.common import UsageError

STDIO = "-"
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
"""Smaller inputs finish before a bar would help; inputs of unknown size always get one."""


def _regular_file_size(stream: BinaryIO) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


@contextlib.contextmanager
def open_input(name: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """The input stream and its size when it is a regular file."""
    if name == STDIO:
        yield sys.stdin.buffer, _regular_file_size(sys.stdin.buffer)
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    with stream:
        yield stream, _regular_file_size(stream)


class Output:
    """A file written to `<dir>/.<name>.XXXX.part` (mode 0600) and renamed to `name` by
    `commit()`; left uncommitted, the part file is removed. `-` writes to stdout directly."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._final: Path | None = None if name == STDIO else Path(name)
        self._part: Path | None = None
        self._stream: BinaryIO | None = None

    @property
    def is_stdout(self) -> bool:
        return self._final is None

    def __enter__(self) -> Output:
        if self._final is None:
            self._stream = sys.stdout.buffer
            return self
        if self._final.is_dir():
            raise UsageError(f"cannot write {self._name}: it is a directory")
        try:
            fd, part = tempfile.mkstemp(prefix=f".{self._final.name}.", suffix=".part", dir=self._final.parent)
        except OSError as exc:
            raise UsageError(f"cannot write {self._name}: {exc.strerror or exc}") from None
        self._part = Path(part)
        self._stream = os.fdopen(fd, "wb")
        return self

    def write(self, data: bytes) -> None:
        assert self._stream is not None, "internal error: Output used outside `with`"
        self._stream.write(data)

    def commit(self) -> None:
        """The stream ended properly: make the output visible under its name."""
        assert self._stream is not None, "internal error: Output used outside `with`"
        self._stream.flush()
        if self._part is None:
            return
        os.fsync(self._stream.fileno())
        self._stream.close()
        os.replace(self._part, self._final)
        self._part = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._part is not None:  # not committed: nothing may look finished
            with contextlib.suppress(OSError):
                self._stream.close()
            with contextlib.suppress(OSError):
                self._part.unlink()
            self._part = None


class Progress:
    """Wraps the input so every read advances a byte counter on stderr (tqdm)."""

    def __init__(self, stream: BinaryIO, *, total: int | None, label: str, enabled: bool) -> None:
        self._stream = stream
        self._bar = None
        if enabled:
            from tqdm import tqdm  # only when a terminal will show it

            self._bar = tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr, leave=False, dynamic_ncols=True)

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if self._bar is not None and data:
            self._bar.update(len(data))
        return data

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def want_progress(*, input_name: str, size: int | None, disabled: bool) -> bool:
    """Only for a person watching: stderr is a terminal, the input is not being typed in, and
    it is large or of unknown size."""
    if disabled or not sys.stderr.isatty():
        return False
    if input_name == STDIO and sys.stdin.isatty():
        return False
    return size is None or size >= PROGRESS_MIN_BYTES
