"""scripts/apt-sources: the build scripts' apt sources, deb-src lines and debootstrap mirror are
the machine's own, read from its deb822 sources file or, without one, its sources.list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apt-sources"

DEB822 = """\
Types: deb
# a comment between fields
URIs: http://apt.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://apt.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://apt.example/debian
Suites: trixie
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/local.gpg] http://apt.example/debian bookworm main
deb-src http://apt.example/debian bookworm main
deb http://apt.example/security bookworm-security main
"""


def _run(tmp_path: Path, *args: str, deb822: str | None = None, one_line: str | None = None):
    sources, listing = tmp_path / "debian.sources", tmp_path / "sources.list"
    if deb822 is not None:
        sources.write_text(deb822)
    if one_line is not None:
        listing.write_text(one_line)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--sources", str(sources), "--list", str(listing), *args],
        capture_output=True, text=True,
    )


def test_deb_src_restates_every_enabled_deb_stanza(tmp_path):
    result = _run(tmp_path, "deb-src", deb822=DEB822)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Types: deb-src\nURIs: http://apt.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb-src\nURIs: http://apt.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb-src\nURIs: http://apt.example/debian\nSuites: trixie\nComponents: main\n"
    )


def test_the_debootstrap_mirror_is_the_entry_listing_the_suite(tmp_path):
    result = _run(tmp_path, "mirror", "bookworm", deb822=DEB822)
    assert (result.returncode, result.stdout) == (0, "http://apt.example/debian\n")


def test_a_root_filesystem_gets_the_suite_and_its_pockets_only(tmp_path):
    result = _run(tmp_path, "deb822", "bookworm", deb822=DEB822)
    assert result.returncode == 0, result.stderr
    assert "trixie" not in result.stdout and "disabled.example" not in result.stdout
    assert "Suites: bookworm bookworm-updates\n" in result.stdout
    assert "Suites: bookworm-security\n" in result.stdout


def test_without_a_deb822_file_the_deb_lines_of_sources_list_count(tmp_path):
    src = _run(tmp_path, "deb-src", one_line=ONE_LINE)
    assert src.returncode == 0, src.stderr
    assert src.stdout == (
        "Types: deb-src\nURIs: http://apt.example/debian\nSuites: bookworm\nComponents: main\n"
        "Signed-By: /etc/apt/keyrings/local.gpg\n\n"
        "Types: deb-src\nURIs: http://apt.example/security\nSuites: bookworm-security\nComponents: main\n"
    )
    mirror = _run(tmp_path, "mirror", "bookworm", one_line=ONE_LINE)
    assert mirror.stdout == "http://apt.example/debian\n"


def test_no_entry_for_the_suite_fails_in_one_line(tmp_path):
    result = _run(tmp_path, "mirror", "bullseye", deb822=DEB822)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "bullseye" in result.stderr
