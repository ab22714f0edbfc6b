"""The payload: STREAM (Hoang, Reyhanitabar, Rogaway, Vizár), as age uses it.

The plaintext is cut into chunks of `chunk_size` bytes (the last may be shorter, and is
empty only when the whole plaintext is). Chunk i is sealed with the suite's payload AEAD
(AES-256-GCM or ChaCha20-Poly1305, both with 12-byte nonces and 16-byte tags) under the
payload key, nonce = i as 11 bytes big-endian || last-chunk flag (0x00 or 0x01), and the
message header as associated data. So a reordered, dropped, duplicated or spliced chunk
fails its tag, and a stream cut at a chunk boundary lacks its final flag.

Both classes are sans-IO: feed bytes in any pieces, get whole sealed (or opened) chunks
out. A chunk's plaintext is returned only after its tag verified.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from cifer.exceptions import InvalidCiphertext

TAG_BYTES = 16
MAX_CHUNKS = 2**32  # 256 TiB at 64 KiB chunks; far below either AEAD's per-key limits
AeadClass = Callable[[bytes], AESGCM | ChaCha20Poly1305]  # a suite's `aead_class`: key in, AEAD out
_LAST = b"\x01"
_NOT_LAST = b"\x00"


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (_LAST if last else _NOT_LAST)


def _immutable(data: bytes | bytearray | memoryview) -> bool:
    """Whether holding a view of `data` is safe: the caller cannot change it afterwards."""
    return isinstance(data, bytes) or (isinstance(data, memoryview) and isinstance(data.obj, bytes))


class _Framer:
    """Cuts a byte stream into units of `unit` bytes, holding the last whole unit back
    until a byte after it arrives: only then is it known not to be the final one."""

    def __init__(self, payload_key: bytes, *, aead_class: AeadClass, unit: int, associated_data: bytes) -> None:
        self._aead = aead_class(payload_key)  # one AEAD object per stream
        self._unit = unit
        self._aad = associated_data
        self._counter = 0
        # Input not yet processed: a view of the caller's immutable bytes when possible (no
        # copy on the hot path), else an owned bytearray. Never more than one unit.
        self._pending: bytearray | memoryview = bytearray()
        self._done = False

    def _apply(self, unit: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        raise NotImplementedError

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self._done:
            raise RuntimeError("internal error: update after finalize")
        size = self._unit
        out: list[bytes] = []
        view = memoryview(data)
        pending = self._pending
        if pending:
            if len(pending) < size:
                pending = pending if isinstance(pending, bytearray) else bytearray(pending)
                take = size - len(pending)
                pending += view[:take]
                view = view[take:]
            if not view:
                self._pending = pending
                return out
            out.append(self._apply(pending, last=False))
        start, end = 0, len(view)
        while end - start > size:
            out.append(self._apply(view[start:start + size], last=False))
            start += size
        tail = view[start:]
        self._pending = tail if _immutable(data) else bytearray(tail)
        return out

    def _finish(self) -> bytes:
        if self._done:
            raise RuntimeError("internal error: finalize twice")
        self._done = True
        result = self._apply(self._pending, last=True)
        self._pending = bytearray()
        return result


class PayloadSealer(_Framer):
    """Seals a plaintext stream fed in arbitrary pieces."""

    def __init__(self, payload_key: bytes, *, aead_class: AeadClass, chunk_size: int, associated_data: bytes) -> None:
        super().__init__(payload_key, aead_class=aead_class, unit=chunk_size, associated_data=associated_data)

    def _apply(self, chunk: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        if self._counter >= MAX_CHUNKS:
            raise ValueError("plaintext too long for one envelope")
        sealed = self._aead.encrypt(_nonce(self._counter, last), chunk, self._aad)
        self._counter += 1
        return sealed

    def finalize(self) -> bytes:
        """The final chunk, sealed (its plaintext is empty only if the whole stream was)."""
        return self._finish()


class PayloadOpener(_Framer):
    """Opens a sealed stream fed in arbitrary pieces; any fault is InvalidCiphertext."""

    def __init__(self, payload_key: bytes, *, aead_class: AeadClass, chunk_size: int, associated_data: bytes) -> None:
        super().__init__(
            payload_key, aead_class=aead_class, unit=chunk_size + TAG_BYTES, associated_data=associated_data
        )

    def _apply(self, sealed: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        if self._counter >= MAX_CHUNKS:
            raise InvalidCiphertext()
        try:
            plain = self._aead.decrypt(_nonce(self._counter, last), sealed, self._aad)
        except InvalidTag:
            raise InvalidCiphertext() from None
        self._counter += 1
        return plain

    def finalize(self) -> bytes:
        """The final chunk's plaintext; raises if the stream ended without one."""
        held = len(self._pending)
        if held < TAG_BYTES or (held == TAG_BYTES and self._counter > 0):
            self._done = True
            raise InvalidCiphertext()  # cut short, or an empty final chunk that is not the only one
        return self._finish()
