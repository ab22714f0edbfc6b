"""FileKek: a development KEK that refuses unsafe files and writes RFC 5649."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from cifer.exceptions import InvalidWrappedKey, KeystoreUnavailable
from cifer.keystore.file_kek import FileKek
from cifer.keystore.kek import Kek

SEED_64 = bytes(range(64))
SEED_32 = bytes(range(100, 132))


def write_key_file(path: Path, key: bytes, mode: int) -> None:
    path.write_bytes(key)
    path.chmod(mode)


def test_created_key_file_has_mode_0600_and_32_bytes(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    FileKek.open(path, create=True).close()
    status = path.stat()
    assert stat.S_IMODE(status.st_mode) == 0o600
    assert status.st_size == 32


def test_file_kek_satisfies_the_kek_protocol(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    with FileKek.open(path, create=True) as kek:
        assert isinstance(kek, Kek)
        assert kek.kek_id == f"file:{path}"


def test_kek_id_is_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with FileKek.open(Path("kek.key"), create=True) as kek:
        assert kek.kek_id == f"file:{tmp_path / 'kek.key'}"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_a_key_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "kek.key"
    write_key_file(path, os.urandom(32), mode)
    with pytest.raises(KeystoreUnavailable) as raised:
        FileKek.open(path, create=False)
    assert str(raised.value) == (
        f"key file {path} has mode {mode:04o}; it must be 0600 or stricter"
    )


def test_accepts_a_read_only_key_file(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    key = os.urandom(32)
    write_key_file(path, key, 0o400)
    with FileKek.open(path, create=False) as kek:
        assert kek.wrap(SEED_32) == aes_key_wrap_with_padding(key, SEED_32)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_refuses_a_key_file_of_the_wrong_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "kek.key"
    write_key_file(path, os.urandom(size), 0o600)
    with pytest.raises(KeystoreUnavailable, match="must hold exactly 32"):
        FileKek.open(path, create=False)


def test_refuses_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    path.mkdir(mode=0o700)
    with pytest.raises(KeystoreUnavailable, match="not a regular file"):
        FileKek.open(path, create=True)


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    os.mkfifo(path, 0o600)
    with pytest.raises(KeystoreUnavailable, match="not a regular file"):
        FileKek.open(path, create=False)


def test_create_opens_an_existing_key_instead_of_overwriting_it(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    key = os.urandom(32)
    write_key_file(path, key, 0o600)
    with FileKek.open(path, create=True) as kek:
        assert kek.wrap(SEED_64) == aes_key_wrap_with_padding(key, SEED_64)
    assert path.read_bytes() == key


def test_second_create_reuses_the_first_key(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    with FileKek.open(path, create=True) as first:
        wrapped = first.wrap(SEED_64)
    with FileKek.open(path, create=True) as second:
        assert second.unwrap(wrapped) == SEED_64


def test_create_still_refuses_an_existing_unsafe_file(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    write_key_file(path, os.urandom(32), 0o644)
    with pytest.raises(KeystoreUnavailable, match="mode 0644"):
        FileKek.open(path, create=True)


def test_missing_file_without_create_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    with pytest.raises(KeystoreUnavailable, match="does not exist"):
        FileKek.open(path, create=False)
    assert not path.exists()


def test_create_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(KeystoreUnavailable, match="cannot create key file"):
        FileKek.open(tmp_path / "absent" / "kek.key", create=True)


@pytest.mark.parametrize("seed", [SEED_64, SEED_32], ids=["64-byte", "32-byte"])
def test_wrap_then_unwrap_returns_the_seed(tmp_path: Path, seed: bytes) -> None:
    with FileKek.open(tmp_path / "kek.key", create=True) as kek:
        wrapped = kek.wrap(seed)
        assert len(wrapped) == len(seed) + 8
        assert kek.unwrap(wrapped) == seed


@pytest.mark.parametrize("seed", [SEED_64, SEED_32], ids=["64-byte", "32-byte"])
def test_wrap_output_equals_cryptography_rfc5649(tmp_path: Path, seed: bytes) -> None:
    path = tmp_path / "kek.key"
    with FileKek.open(path, create=True) as kek:
        assert kek.wrap(seed) == aes_key_wrap_with_padding(path.read_bytes(), seed)


def test_every_flipped_bit_is_an_invalid_wrapped_key(tmp_path: Path) -> None:
    with FileKek.open(tmp_path / "kek.key", create=True) as kek:
        wrapped = kek.wrap(SEED_64)
        for bit in range(len(wrapped) * 8):
            tampered = bytearray(wrapped)
            tampered[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(InvalidWrappedKey):
                kek.unwrap(bytes(tampered))


@pytest.mark.parametrize("cut", [1, 8, 40, 72])
def test_truncated_blob_is_an_invalid_wrapped_key(tmp_path: Path, cut: int) -> None:
    with FileKek.open(tmp_path / "kek.key", create=True) as kek:
        wrapped = kek.wrap(SEED_64)
        with pytest.raises(InvalidWrappedKey):
            kek.unwrap(wrapped[:-cut])


def test_blob_of_another_kek_is_an_invalid_wrapped_key(tmp_path: Path) -> None:
    with FileKek.open(tmp_path / "one.key", create=True) as one:
        wrapped = one.wrap(SEED_64)
    with FileKek.open(tmp_path / "two.key", create=True) as two, pytest.raises(InvalidWrappedKey):
        two.unwrap(wrapped)


def test_valid_rfc5649_blob_of_a_length_we_never_wrap_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    with FileKek.open(path, create=True) as kek:
        foreign = aes_key_wrap_with_padding(path.read_bytes(), bytes(20))  # 20: not a multiple of 8
        with pytest.raises(InvalidWrappedKey):
            kek.unwrap(foreign)


@pytest.mark.parametrize("length", [0, 8, 15, 17, 1025, 1032])
def test_wrap_refuses_a_secret_of_a_bad_length(tmp_path: Path, length: int) -> None:
    with FileKek.open(tmp_path / "kek.key", create=True) as kek, pytest.raises(ValueError):
        kek.wrap(bytes(length))


def test_wrap_accepts_the_largest_secret(tmp_path: Path) -> None:
    with FileKek.open(tmp_path / "kek.key", create=True) as kek:
        secret = os.urandom(1024)
        assert kek.unwrap(kek.wrap(secret)) == secret


def test_closed_kek_is_unavailable(tmp_path: Path) -> None:
    kek = FileKek.open(tmp_path / "kek.key", create=True)
    kek.close()
    with pytest.raises(KeystoreUnavailable, match="closed"):
        kek.wrap(SEED_32)


def test_repr_does_not_show_the_key(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    with FileKek.open(path, create=True) as kek:
        assert path.read_bytes().hex() not in repr(kek)
        assert repr(kek) == f"FileKek('file:{path}')"
