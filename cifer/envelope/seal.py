"""Encrypt and decrypt envelopes: bytes, sync and async streams, file objects; and rewrap.

Encryption needs only a public key (`Recipient`). Decryption needs something that turns a
header into its data key (`KeyOpener`): a local `Keyring` here, the key service in the
sidecar. Plaintext comes out one verified chunk at a time; a stream that ends early raises
`InvalidCiphertext` instead of ending quietly, so partial plaintext is never a success.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import BinaryIO

from cifer.crypto.suites import Suite
from cifer.envelope import keys
from cifer.envelope.format import (
    DEFAULT_CHUNK_LOG2, MAX_HEADER_BYTES, Header, Incomplete, encode_message_header, encode_metadata,
    parse_header,
)
from cifer.envelope.stream import PayloadOpener, PayloadSealer
from cifer.exceptions import InvalidCiphertext

DEFAULT_CHUNK_SIZE = 1 << DEFAULT_CHUNK_LOG2
KeyOpener = Callable[[Header], bytes]
AsyncKeyOpener = Callable[[Header], bytes | Awaitable[bytes]]


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """A cifer's public key at one version: all that encryption needs. The suite's KEM must be
    the key's; its AEAD (AES-256-GCM or ChaCha20-Poly1305) is the payload's, the sender's choice."""

    cifer_id: str
    key_version: int
    suite: Suite
    public_key: bytes


class Keyring:
    """Private seeds held in memory, by cifer id and version: a local `KeyOpener`. A seed is a
    KEM key, so it opens headers of its KEM under either payload AEAD."""

    def __init__(self) -> None:
        self._seeds: dict[tuple[str, int], tuple[Suite, bytes]] = {}

    def add(self, cifer_id: str, key_version: int, suite: Suite, seed: bytes) -> Recipient:
        self._seeds[(cifer_id, key_version)] = (suite, seed)
        return Recipient(cifer_id, key_version, suite, suite.public_key(seed))

    def __call__(self, header: Header) -> bytes:
        found = self._seeds.get((header.cifer_id, header.key_version))
        if found is None or found[0].name != header.suite.name:
            raise InvalidCiphertext()  # unknown cifer or key version, or another KEM
        return keys.open_slot(header, found[1])


def _chunk_log2(chunk_size: int) -> int:
    if chunk_size <= 0 or chunk_size & (chunk_size - 1):
        raise ValueError("chunk size must be a power of two")
    return chunk_size.bit_length() - 1


@dataclasses.dataclass(frozen=True, slots=True)
class FixedRandomness:
    """Every random input of one encryption, fixed: for golden vectors, never for data."""

    data_key: bytes
    message_id: bytes
    shared_secret: bytes
    kem_ciphertext: bytes


class _Encryption:
    """One message being sealed: its header bytes, then sealed chunks."""

    def __init__(
        self, recipient: Recipient, *, metadata: Mapping[str, str] | None, chunk_size: int,
        unsafe_randomness: FixedRandomness | None = None,
    ) -> None:
        fixed = unsafe_randomness
        data_key, message_id = (fixed.data_key, fixed.message_id) if fixed else keys.new_data_key()
        commitment = keys.commitment(data_key, message_id)
        message_header = encode_message_header(
            suite=recipient.suite, chunk_log2=_chunk_log2(chunk_size), cifer_id=recipient.cifer_id,
            message_id=message_id, metadata=encode_metadata(metadata or {}), commitment=commitment,
        )
        slot = keys.seal_slot(
            data_key, suite=recipient.suite, public_key=recipient.public_key, cifer_id=recipient.cifer_id,
            key_version=recipient.key_version, message_header=message_header,
            unsafe_encapsulation=(fixed.shared_secret, fixed.kem_ciphertext) if fixed else None,
        )
        # What parse_header would return for these bytes, without parsing what was just written.
        self.header = Header(recipient.suite, chunk_size, recipient.cifer_id, message_id,
                             MappingProxyType(dict(metadata or {})), commitment, slot, message_header)
        self.sealer = PayloadSealer(
            keys.payload_key(self.header, data_key), aead_class=recipient.suite.aead_class, chunk_size=chunk_size,
            associated_data=message_header,
        )


class _HeaderReader:
    """Collects the header from pieces of input. It copies at most MAX_HEADER_BYTES; the rest
    of the input is handed on as views, so a large first piece is never copied."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def update(self, data: bytes | bytearray | memoryview) -> tuple[Header, list[memoryview]] | None:
        """The header and the input after it, once the header is complete; else None."""
        view = memoryview(data)
        if not self._buffer:
            try:
                header, length = parse_header(view)
                return header, [view[length:]]
            except Incomplete:
                pass
        room = MAX_HEADER_BYTES - len(self._buffer)
        self._buffer += view[:room]
        try:
            header, length = parse_header(self._buffer)
        except Incomplete:
            if len(self._buffer) >= MAX_HEADER_BYTES:
                raise InvalidCiphertext() from None
            return None
        # The buffer is ours and small: freeze it so the opener may hold a view of it.
        return header, [memoryview(bytes(self._buffer[length:])), view[room:]]


def _opener(header: Header, data_key: bytes) -> PayloadOpener:
    return PayloadOpener(
        keys.payload_key(header, data_key), aead_class=header.suite.aead_class, chunk_size=header.chunk_size,
        associated_data=header.message_bytes,
    )


# --- sync streams -----------------------------------------------------------------------

def encrypt_stream(
    recipient: Recipient, chunks: Iterable[bytes], *, metadata: Mapping[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE, unsafe_randomness: FixedRandomness | None = None,
) -> Iterator[bytes]:
    """Yields the envelope: the header, then sealed chunks as the input arrives."""
    enc = _Encryption(recipient, metadata=metadata, chunk_size=chunk_size, unsafe_randomness=unsafe_randomness)
    yield enc.header.to_bytes()
    for piece in chunks:
        yield from enc.sealer.update(piece)
    yield enc.sealer.finalize()


def decrypt_stream(chunks: Iterable[bytes], open_key: KeyOpener) -> Iterator[bytes]:
    """Yields verified plaintext; raises InvalidCiphertext on any fault, including an early end."""
    reader, opener = _HeaderReader(), None
    for piece in chunks:
        if opener is not None:
            yield from opener.update(piece)
            continue
        found = reader.update(piece)
        if found is not None:
            header, rest = found
            opener = _opener(header, open_key(header))
            for part in rest:
                yield from opener.update(part)
    if opener is None:
        raise InvalidCiphertext()  # ended inside the header
    yield opener.finalize()


# --- async streams ----------------------------------------------------------------------

async def aencrypt_stream(
    recipient: Recipient, chunks: AsyncIterable[bytes], *, metadata: Mapping[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> AsyncIterator[bytes]:
    enc = _Encryption(recipient, metadata=metadata, chunk_size=chunk_size)
    yield enc.header.to_bytes()
    async for piece in chunks:
        for sealed in enc.sealer.update(piece):
            yield sealed
    yield enc.sealer.finalize()


async def adecrypt_stream(chunks: AsyncIterable[bytes], open_key: AsyncKeyOpener) -> AsyncIterator[bytes]:
    """As `decrypt_stream`; `open_key` may be a coroutine function (a call to the key service)."""
    reader, opener = _HeaderReader(), None
    async for piece in chunks:
        if opener is not None:
            for plain in opener.update(piece):
                yield plain
            continue
        found = reader.update(piece)
        if found is not None:
            header, rest = found
            data_key = open_key(header)
            if inspect.isawaitable(data_key):
                data_key = await data_key
            opener = _opener(header, data_key)
            for part in rest:
                for plain in opener.update(part):
                    yield plain
    if opener is None:
        raise InvalidCiphertext()
    yield opener.finalize()


# --- bytes and files --------------------------------------------------------------------

def encrypt(
    recipient: Recipient, plaintext: bytes, *, metadata: Mapping[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE, unsafe_randomness: FixedRandomness | None = None,
) -> bytes:
    return b"".join(encrypt_stream(
        recipient, [plaintext], metadata=metadata, chunk_size=chunk_size, unsafe_randomness=unsafe_randomness
    ))


def decrypt(envelope: bytes, open_key: KeyOpener) -> bytes:
    return b"".join(decrypt_stream([envelope], open_key))


def _read_pieces(src: BinaryIO, size: int) -> Iterator[bytes]:
    return iter(functools.partial(src.read, size), b"")


def encrypt_file(
    recipient: Recipient, src: BinaryIO, dst: BinaryIO, *, metadata: Mapping[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> None:
    for piece in encrypt_stream(recipient, _read_pieces(src, chunk_size), metadata=metadata, chunk_size=chunk_size):
        dst.write(piece)


def decrypt_file(src: BinaryIO, dst: BinaryIO, open_key: KeyOpener, *, read_size: int = DEFAULT_CHUNK_SIZE) -> None:
    """Writes verified plaintext to `dst` as it goes; if this raises, discard `dst`."""
    for piece in decrypt_stream(_read_pieces(src, read_size), open_key):
        dst.write(piece)


# --- rotation ---------------------------------------------------------------------------

def rewrap_header(header: Header, data_key: bytes, recipient: Recipient) -> Header:
    """The same message header with a key slot for `recipient`; the payload stays valid.

    The suite is the header's: `recipient` must have its KEM, and the payload AEAD cannot
    change without re-encrypting the payload, so a ChaCha20-Poly1305 envelope stays one
    whichever AEAD `recipient.suite` names.
    """
    if recipient.cifer_id != header.cifer_id or recipient.suite.name != header.suite.name:
        raise ValueError("a rewrap keeps the cifer id, KEM and payload AEAD; only the key version changes")
    keys.payload_key(header, data_key)  # refuse a data key that does not belong to this header
    return header.with_slot(keys.seal_slot(
        data_key, suite=header.suite, public_key=recipient.public_key, cifer_id=recipient.cifer_id,
        key_version=recipient.key_version, message_header=header.message_bytes,
    ))


def rewrap(envelope: bytes, open_key: KeyOpener, recipient: Recipient) -> bytes:
    """The envelope resealed to `recipient`: new key slot, payload bytes unchanged."""
    try:
        header, length = parse_header(envelope)
    except Incomplete:
        raise InvalidCiphertext() from None
    return rewrap_header(header, open_key(header), recipient).to_bytes() + envelope[length:]
