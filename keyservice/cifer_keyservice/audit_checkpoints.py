"""Audit checkpoints kept outside the database: the defence against a log rolled back as a whole.

The chain and its MAC'd head (`audit`) show any edit, deletion, cut tail or wipe *inside* a
consistent database. They cannot show the database's own past: a tail cut back to an earlier
head with that head row put back, or an older copy restored. So the service writes, every
`audit_checkpoint_interval_s` when the log has grown and once more at shutdown, a MAC'd
checkpoint `(seq, hash)` of the head to places an attacker with only the database cannot reach:
- the audit stream (stdout, or `audit.log` of `cifer dev`) as a JSON line
  `{"audit_checkpoint": true, "seq": ..., "hash": ..., "at": ..., "mac": ...}`;
- a file (`audit_checkpoint_file`), replaced atomically, holding the latest checkpoint;
- a Kubernetes Event on the key service's pod (`audit_checkpoint_events`, `kube_events`).
`cifer keyservice audit verify --checkpoint FILE` (the file, or a saved audit stream: every
checkpoint line in it) or `--expect SEQ:HASH` then fails when the log falls short of one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.audit import AuditLog, Checkpoint
from cifer_keyservice.clock import utcnow

log = logging.getLogger("cifer.audit")
_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)
_EXPECT = re.compile(r"(0|[1-9][0-9]{0,18}):([0-9a-f]{64})", re.ASCII)
MAX_CHECKPOINT_FILE_BYTES = 1 << 30  # a saved audit stream may be large; it is read a line at a time
Publish = Callable[[Checkpoint], Awaitable[None]]  # another place to keep a checkpoint (a Kubernetes Event)


class CheckpointError(ValueError):
    """A checkpoint given to `audit verify` that cannot be read; the message says where."""


def parse_expect(text: str) -> Checkpoint:
    """`SEQ:HASH`, as `--expect` takes it: a record number and its 64-hex chain hash."""
    match = _EXPECT.fullmatch(text)
    if match is None:
        raise CheckpointError("--expect takes SEQ:HASH, a record number and its 64 lowercase hex digit hash")
    return Checkpoint(seq=int(match[1]), hash=match[2])


def to_line(point: Checkpoint) -> str:
    return json.dumps({"audit_checkpoint": True, "seq": point.seq, "hash": point.hash, "at": point.at,
                       "mac": point.mac}, sort_keys=True)


def _from_object(value: dict, where: str) -> Checkpoint:
    seq, hash_, at, mac = value.get("seq"), value.get("hash"), value.get("at"), value.get("mac")
    if (type(seq) is not int or seq < 0 or not isinstance(hash_, str) or not _HASH.fullmatch(hash_)
            or not isinstance(at, str) or not isinstance(mac, str) or not _HASH.fullmatch(mac)):
        raise CheckpointError(f"{where}: a checkpoint needs seq, hash, at and mac")
    return Checkpoint(seq=seq, hash=hash_, at=at, mac=mac)


def read_file(path: Path) -> list[Checkpoint]:
    """Every checkpoint in `path`: the checkpoint file, or a saved audit stream, whose other lines
    (the records, or anything but a JSON object marked `"audit_checkpoint": true`) are passed over,
    so no text a caller put in a record can make the file unreadable. A file with no checkpoint at
    all is an error, and so is a marked line that is not a whole checkpoint."""
    found = []
    try:
        if path.stat().st_size > MAX_CHECKPOINT_FILE_BYTES:
            raise CheckpointError(f"{path}: larger than {MAX_CHECKPOINT_FILE_BYTES} bytes")
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if '"audit_checkpoint"' not in line:
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("audit_checkpoint") is True:
                    found.append(_from_object(value, f"{path}, line {number}"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if not found:
        raise CheckpointError(f"{path}: holds no audit checkpoint")
    return found


def write_file(path: Path, point: Checkpoint) -> None:
    """Replaces `path` with `point`, atomically, readable by its owner only."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(to_line(point) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CheckpointWriter:
    """Writes a checkpoint of the head whenever it moved, to every place configured."""

    def __init__(self, audit: AuditLog, readers: async_sessionmaker, *, stream: TextIO, file: Path | None,
                 publish: Publish | None = None) -> None:
        self._audit = audit
        self._readers = readers
        self._stream = stream
        self._file = file
        self._publish = publish
        self._last: tuple[int, str] | None = None
        self._diverged = False

    async def write_once(self) -> Checkpoint | None:
        """A checkpoint of the head if it moved since the last one; failures are logged, never raised
        (the log itself stays the record; a missing checkpoint only weakens rollback detection)."""
        try:
            head = await self._audit.head(self._readers)
        except Exception:
            log.exception("the audit head could not be read for a checkpoint")
            return None
        if head is None or head[0] == 0 or head == self._last:  # seq 0 vouches for nothing
            return None
        if self._last is not None and not await self._audit.holds(self._readers, *self._last):
            if not self._diverged:  # the checkpoints already kept stay as the evidence: never overwritten
                log.error("the audit log no longer holds its checkpoint at record %d: it was rolled back or "
                          "rewritten; no further checkpoint is written until the service is restarted", self._last[0])
            self._diverged = True
            return None
        point = self._audit.checkpoint(*head, utcnow())
        try:
            self._stream.write(to_line(point) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            log.error("the audit checkpoint at record %d could not be written to the audit stream", point.seq)
        if self._file is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, write_file, self._file, point)
            except OSError as exc:
                log.error("the audit checkpoint file %s could not be written: %s", self._file, type(exc).__name__)
        if self._publish is not None:
            try:
                await self._publish(point)
            except Exception:
                log.exception("the audit checkpoint at record %d could not be published", point.seq)
        self._last = head
        return point

    def _resume(self) -> None:
        """The last checkpoint this service kept in its file, if authentic: a database restored
        from an older copy behind it is then seen at the first checkpoint after start."""
        if self._file is None or not self._file.exists():
            return
        try:
            *_, point = read_file(self._file)
        except CheckpointError as exc:
            log.warning("the audit checkpoint file is not read: %s", exc)
            return
        if self._audit.authentic(point):
            self._last = (point.seq, point.hash)
        else:
            log.error("the audit checkpoint file %s was not written with this log's audit key", self._file)

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        """Until `stop`, then one last checkpoint: a clean shutdown leaves the final head outside."""
        self._resume()
        while not stop.is_set():
            await self.write_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass
        await self.write_once()
