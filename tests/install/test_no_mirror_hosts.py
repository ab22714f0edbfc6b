"""No file in the repository names an apt mirror's host: every apt source, deb-src line and
debootstrap mirror the scripts use is derived from the machine's own apt sources
(scripts/apt-sources), so a build on a machine with another mirror uses that mirror.

The product's published image coordinate (the chart's `image.repository`) is not a build mirror
and is not looked for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Apt archive hosts, spelled as patterns so that this file does not name them itself.
MIRROR_HOST = re.compile(
    r"(?<![\w.-])("
    r"(deb|security|snapshot|ftp|ftp-master|httpredir|archive|incoming|cdn-aws\.deb|cdn-fastly\.deb)\.debian\.org"
    r"|ftp\.[a-z]{2}\.debian\.org"
    r"|([a-z]{2}\.)?(archive|security|ports|old-releases)\.ubuntu\.com"
    r"|deb\.nodesource\.com|download\.docker\.com|apt\.kubernetes\.io|pkgs\.k8s\.io"
    r")(?![\w-])",
    re.IGNORECASE,
)


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_names_an_apt_mirror_host():
    found = []
    for path in _tracked_files():
        if not path.is_file():
            continue  # deleted in the working tree
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            match = MIRROR_HOST.search(line)
            if match:
                found.append(f"{path.relative_to(REPO)}:{number}: {match.group(0)}")
    assert not found, "apt mirror hosts written into the repository:\n" + "\n".join(found)


def test_the_pattern_finds_the_usual_mirrors_and_not_the_product_image():
    # Joined here, so that this file, which the test above also reads, names no host itself.
    debian, ubuntu = "debian.org", "ubuntu.com"
    hosts = [f"deb.{debian}", f"security.{debian}", f"snapshot.{debian}", f"ftp.de.{debian}",
             f"archive.{ubuntu}", f"de.archive.{ubuntu}", f"security.{ubuntu}"]
    for host in hosts:
        assert MIRROR_HOST.search(f"URIs: http://{host}/debian"), host
    for text in ["repository: ghcr.io/cifer/cifer", "https://www.debian.org/doc/", "mydeb.debian.org.example"]:
        assert not MIRROR_HOST.search(text), text
