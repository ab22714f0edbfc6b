"""`cifer encrypt` and `cifer decrypt`, against `tests/sdk_standin.py`: an aiohttp server on
loopback standing in for the sidecar. The command runs in a worker thread (its own blocking
client), or as a real process for stdin and stdout."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from sdk_standin import API_KEY, TRAILER, error, toy_envelope

from cifer.cli import main
from cifer.commands import files
from cifer.commands.common import EXIT_CODES_EPILOG, exit_code
from cifer.sdk.errors import ERROR_CLASSES, CiferConnectionError, StreamError


async def cifer(standin, *argv: str) -> int:
    args = [*argv[:1], "--url", standin.url, "--api-key", API_KEY, *argv[1:]]
    return await asyncio.get_running_loop().run_in_executor(None, main, args)


@pytest.fixture
def standin(standin):
    """The shared stand-in, with one cifer the commands can name."""
    standin.cifer_id = standin.add_cifer({"name": "files"})
    return standin


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


async def test_a_file_round_trips_with_its_metadata(standin, tmp_path):
    data = os.urandom(1024 * 1024 + 3)
    (tmp_path / "plain").write_bytes(data)
    assert await cifer(standin, "encrypt", "--cifer-id", standin.cifer_id, "-i", str(tmp_path / "plain"),
                       "-o", str(tmp_path / "sealed"), "--metadata", "a=1", "b=x=y", "--metadata", "c=") == 0
    assert (tmp_path / "sealed").read_bytes() == toy_envelope(standin.cifer_id, data, {"a": "1", "b": "x=y", "c": ""})
    assert await cifer(standin, "decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "opened")) == 0
    assert (tmp_path / "opened").read_bytes() == data
    assert leftovers(tmp_path) == []


async def test_a_failed_decryption_leaves_no_output_file(standin, tmp_path, capsys):
    tampered = toy_envelope(standin.cifer_id, os.urandom(2 * 1024 * 1024))[: -len(TRAILER)] + b"BAD!"
    (tmp_path / "sealed").write_bytes(tampered)
    code = await cifer(standin, "decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "opened"))
    assert code == 5
    assert not (tmp_path / "opened").exists() and leftovers(tmp_path) == []
    err = capsys.readouterr().err
    assert err.startswith("cifer decrypt: STREAM_ABORTED: ") and err.count("\n") == 1 and "Traceback" not in err


async def test_a_failed_decryption_keeps_an_existing_output_file_as_it_was(standin, tmp_path):
    (tmp_path / "opened").write_bytes(b"yesterday's plaintext")
    (tmp_path / "sealed").write_bytes(toy_envelope(standin.cifer_id, b"x" * 100_000)[:-1])
    assert await cifer(standin, "decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "opened")) == 5
    assert (tmp_path / "opened").read_bytes() == b"yesterday's plaintext"


async def test_stdin_to_stdout_as_a_real_process(standin):
    data = os.urandom(300_000)
    env = {**os.environ, "CIFER_PROXY_URL": standin.url, "CIFER_API_KEY": API_KEY}

    async def run(*argv: str, given: bytes) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cifer.cli", *argv, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(given), timeout=60)
        return proc.returncode, out, err

    code, sealed, err = await run("encrypt", "--cifer-id", standin.cifer_id, given=data)
    assert (code, err) == (0, b"") and sealed == toy_envelope(standin.cifer_id, data)
    code, opened, err = await run("decrypt", "-i", "-", "-o", "-", given=sealed)
    assert (code, err) == (0, b"") and opened == data
    code, _, err = await run("decrypt", given=b"garbage\n")
    assert code == 5 and err.decode().startswith("cifer decrypt: INVALID_CIPHERTEXT:")


@pytest.mark.parametrize(("scripted", "expected"), [
    (lambda: error("UNAUTHORIZED", 401), 3), (lambda: error("FORBIDDEN", 403), 3),
    (lambda: error("UNAUTHORIZED_DECRYPT", 403), 3), (lambda: error("NOT_FOUND", 404), 4),
    (lambda: error("CIFER_REVOKED", 410), 4), (lambda: error("INVALID_CIPHERTEXT", 400), 5),
    (lambda: error("RATE_LIMIT_EXCEEDED", 429, headers={"Retry-After": "3600"}), 6),
    (lambda: error("INTERNAL_ERROR", 500), 1),
])
async def test_exit_codes_tell_failures_apart(standin, tmp_path, capsys, scripted, expected):
    standin.fail_next("POST", "/v1/decrypt", scripted)
    (tmp_path / "sealed").write_bytes(b"CIFR")
    assert await cifer(standin, "decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "out")) == expected
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and API_KEY not in err


async def test_a_wrong_key_is_exit_3_without_showing_it(standin, tmp_path, capsys):
    (tmp_path / "plain").write_bytes(b"x")
    wrong = "sk_test_" + "b" * 56
    code = await asyncio.get_running_loop().run_in_executor(None, main, [
        "encrypt", "--url", standin.url, "--api-key", wrong, "--cifer-id", standin.cifer_id,
        "-i", str(tmp_path / "plain"), "-o", str(tmp_path / "sealed")])
    assert code == 3 and wrong not in capsys.readouterr().err
    assert not (tmp_path / "sealed").exists()


async def test_usage_errors_are_exit_2(standin, tmp_path, capsys):
    assert await cifer(standin, "decrypt", "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "out")) == 2
    assert "cannot read" in capsys.readouterr().err
    assert await cifer(standin, "encrypt", "--cifer-id", standin.cifer_id, "-i", str(tmp_path / "missing")) == 2
    (tmp_path / "plain").write_bytes(b"x")
    assert await cifer(standin, "encrypt", "--cifer-id", standin.cifer_id, "-i", str(tmp_path / "plain"),
                       "-o", str(tmp_path / "no" / "such" / "dir" / "out")) == 2
    with pytest.raises(SystemExit) as caught:
        await cifer(standin, "encrypt", "-i", str(tmp_path / "plain"))  # no --cifer-id
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        await cifer(standin, "encrypt", "--cifer-id", standin.cifer_id, "--metadata", "novalue")
    assert caught.value.code == 2


def test_exit_code_table_matches_the_epilog():
    codes = {code: exit_code(cls("m")) for code, cls in ERROR_CLASSES.items()}
    assert codes == {"UNAUTHORIZED": 3, "FORBIDDEN": 3, "UNAUTHORIZED_DECRYPT": 3, "NOT_FOUND": 4, "CIFER_REVOKED": 4,
                     "INVALID_REQUEST": 5, "INVALID_CIFER_ID": 5, "INVALID_CIPHERTEXT": 5, "RATE_LIMIT_EXCEEDED": 6,
                     "SERVICE_UNAVAILABLE": 7, "INTERNAL_ERROR": 1}
    assert exit_code(CiferConnectionError("m")) == 7
    assert exit_code(StreamError("m"), stream_aborted=5) == 5
    for line in ("0  success", "2  usage", "3  authentication", "4  not found", "5  invalid", "6  rate limited",
                 "7  service unavailable"):
        assert line in EXIT_CODES_EPILOG


@pytest.mark.parametrize("command", ["encrypt", "decrypt", "keys"])
def test_help_documents_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_progress_only_for_a_terminal_and_large_or_unknown_sizes(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not files.want_progress(input_name="f", size=10**9, disabled=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert files.want_progress(input_name="f", size=10**9, disabled=False)
    assert files.want_progress(input_name="f", size=None, disabled=False)
    assert not files.want_progress(input_name="f", size=1000, disabled=False)
    assert not files.want_progress(input_name="f", size=10**9, disabled=True)
