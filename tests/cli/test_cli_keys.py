"""`cifer keys`, against `tests/sdk_standin.py`: an aiohttp server on loopback standing in for
the sidecar. Each command runs in a worker thread with its own blocking client."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from sdk_standin import API_KEY

from cifer.cli import main


async def keys(standin, capsys, *argv: str) -> tuple[int, str, str]:
    args = ["keys", argv[0], "--url", standin.url, "--api-key", API_KEY, *argv[1:]]
    code = await asyncio.get_running_loop().run_in_executor(None, main, args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_create_prints_a_table_or_the_apis_json(standin, capsys):
    code, out, err = await keys(standin, capsys, "create", "payments", "--description", "card data",
                                "--algorithm", "X-Wing")
    assert code == 0 and err == ""
    lines = dict(line.split(None, 1) for line in out.splitlines() if not line.startswith(("KEY", "LAST")))
    assert lines["ID"].startswith("cif_standin") and lines["NAME"] == "payments" and lines["ALGORITHM"] == "X-Wing"
    assert json.loads(standin.requests[0].body) == {"name": "payments", "description": "card data", "algorithm": "X-Wing"}
    code, out, _ = await keys(standin, capsys, "create", "second", "-o", "json")
    data = json.loads(out)
    assert code == 0 and data["name"] == "second" and data["cifer_id"].startswith("cif_")


async def test_get_and_list(standin, capsys):
    ids = []
    for name in ("a", "b", "c"):
        ids.append(json.loads((await keys(standin, capsys, "create", name, "-o", "json"))[1])["cifer_id"])
    code, out, _ = await keys(standin, capsys, "get", ids[1])
    assert code == 0 and ids[1] in out and "ENCRYPTIONS" in out
    code, out, _ = await keys(standin, capsys, "list", "--limit", "2")
    rows = out.splitlines()
    assert code == 0 and rows[0].split() == ["ID", "NAME", "STATUS", "VERSION", "ALGORITHM", "CREATED"]
    assert [r.split()[0] for r in rows[1:3]] == ids[:2] and rows[3] == f"(more: --cursor {ids[1]})"
    code, out, _ = await keys(standin, capsys, "list", "--cursor", ids[1], "--status", "active", "-o", "json")
    page = json.loads(out)
    assert [c["cifer_id"] for c in page["cifers"]] == ids[2:] and page["has_more"] is False
    assert standin.requests[-1].query == {"limit": "20", "cursor": ids[1], "status": "active"}


async def test_rotate(standin, capsys):
    cifer_id = json.loads((await keys(standin, capsys, "create", "k", "-o", "json"))[1])["cifer_id"]
    code, out, _ = await keys(standin, capsys, "rotate", cifer_id, "--window-days", "7", "--reason", "drill", "-o", "json")
    assert code == 0 and json.loads(out)["new_key_version"] == 2
    assert json.loads(standin.requests[-1].body) == {"re_encryption_window_days": 7, "reason": "drill"}


async def test_revoke_needs_yes_when_nobody_can_be_asked(standin, capsys, monkeypatch):
    cifer_id = json.loads((await keys(standin, capsys, "create", "k", "-o", "json"))[1])["cifer_id"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = await keys(standin, capsys, "revoke", cifer_id)
    assert code == 2 and "--yes" in err and standin.cifers[cifer_id]["status"] == "active"
    code, out, _ = await keys(standin, capsys, "revoke", cifer_id, "--yes")
    assert code == 0 and "revoked" in out and standin.cifers[cifer_id]["status"] == "revoked"
    assert standin.requests[-1].headers["X-Confirm-Revocation"] == "true"


async def test_revoke_asks_for_the_id_on_a_terminal(standin, capsys, monkeypatch):
    cifer_id = json.loads((await keys(standin, capsys, "create", "k", "-o", "json"))[1])["cifer_id"]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal("not-the-id\n"))
    code, _, err = await keys(standin, capsys, "revoke", cifer_id)
    assert code == 2 and standin.cifers[cifer_id]["status"] == "active" and "irreversible" in err
    monkeypatch.setattr("sys.stdin", Terminal(cifer_id + "\n"))
    code, _, _ = await keys(standin, capsys, "revoke", cifer_id)
    assert code == 0 and standin.cifers[cifer_id]["status"] == "revoked"


async def test_failures_are_one_line_with_their_exit_code(standin, capsys):
    code, out, err = await keys(standin, capsys, "get", "cif_nosuchcifer00", "-o", "json")
    assert (code, out) == (4, "") and err == "cifer keys get: NOT_FOUND: Resource not found [request req_err]\n"
    cifer_id = json.loads((await keys(standin, capsys, "create", "k", "-o", "json"))[1])["cifer_id"]
    await keys(standin, capsys, "revoke", cifer_id, "--yes")
    code, _, err = await keys(standin, capsys, "rotate", cifer_id)
    assert code == 4 and err.startswith("cifer keys rotate: CIFER_REVOKED")


async def test_bad_arguments_are_usage_errors(standin, capsys):
    for argv in (["list", "--limit", "0"], ["list", "--status", "sleeping"], ["rotate", "cif_x", "--window-days", "400"],
                 ["get", "cif_x", "-o", "yaml"]):
        with pytest.raises(SystemExit) as caught:
            await keys(standin, capsys, *argv)
        assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["keys"])
    assert caught.value.code == 2
