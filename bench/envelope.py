"""Envelope size and speed, each against a baseline from the same run. Prints one JSON object.

Workload (fixed):
- fixed_overhead_bytes: envelope of a 1-byte plaintext, ML-KEM-768, no metadata, a 16-character
  cifer id, minus the plaintext and the 1088-byte KEM ciphertext. Goal <= 160.
- overhead_1mib: envelope bytes / plaintext bytes - 1 for 1 MiB. Goal <= 0.002.
- stream_vs_raw_aesgcm: throughput of `encrypt_stream` over 256 MiB fed in 64 KiB pieces, divided by
  the throughput of bare AES-256-GCM over the same bytes in 64 KiB calls; median of 5 interleaved
  runs each. Goal >= 0.70.
- stream_vs_raw_chacha20_poly1305: the same for the ChaCha20-Poly1305 suite against bare
  ChaCha20-Poly1305, interleaved with the above in the same runs. No goal of its own; it is
  printed so the two AEADs' costs can be compared on one machine (with or without AES-NI).
- stream_peak_rss_mib: peak RSS of a child process that stream-encrypts a 1 GiB file to a file,
  beside the peak RSS of a child that only imports cifer and builds the same recipient. Goal <= 64.

Usage: python bench/envelope.py [--stream-mib 256] [--file-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from cifer.crypto.suites import CHACHA20_POLY1305, ML_KEM_768, suite_by_name
from cifer.envelope import Keyring, encrypt, encrypt_stream

PIECE = 64 * 1024
CIFER_ID = "cif_benchbenchben"[:16]

# VmHWM, not ru_maxrss: ru_maxrss keeps the forked parent's high-water mark across exec.
_CHILD = """
import sys
from cifer.crypto.suites import ML_KEM_768
from cifer.envelope import Keyring, encrypt_file
recipient = Keyring().add({cifer_id!r}, 1, ML_KEM_768, ML_KEM_768.generate_seed())
if sys.argv[1] != "idle":
    with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
        encrypt_file(recipient, src, dst)
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))  # KiB
"""


def raw_aead_seconds(aead_class, data: memoryview) -> float:
    aead = aead_class(os.urandom(32))
    start = time.perf_counter()
    for i, offset in enumerate(range(0, len(data), PIECE)):
        aead.encrypt(i.to_bytes(12, "big"), data[offset:offset + PIECE], b"")
    return time.perf_counter() - start


def stream_seconds(recipient, data: memoryview) -> float:
    pieces = (data[offset:offset + PIECE] for offset in range(0, len(data), PIECE))
    start = time.perf_counter()
    for _ in encrypt_stream(recipient, pieces):
        pass
    return time.perf_counter() - start


def child_peak_rss_mib(*args: str) -> float:
    code = _CHILD.format(cifer_id=CIFER_ID)
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    return int(out.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-mib", type=int, default=256)
    parser.add_argument("--file-mib", type=int, default=1024)
    args = parser.parse_args()

    recipient = Keyring().add(CIFER_ID, 1, ML_KEM_768, ML_KEM_768.generate_seed())
    chacha_suite = suite_by_name(ML_KEM_768.name, CHACHA20_POLY1305)
    chacha_recipient = Keyring().add(CIFER_ID, 1, chacha_suite, chacha_suite.generate_seed())
    fixed_overhead = len(encrypt(recipient, b"x")) - 1 - ML_KEM_768.ciphertext_bytes
    mib = os.urandom(1 << 20)
    overhead_1mib = len(encrypt(recipient, mib)) / len(mib) - 1

    data = memoryview(os.urandom(1 << 20) * args.stream_mib)
    raw, streamed, raw_chacha, streamed_chacha = [], [], [], []
    for _ in range(5):
        raw.append(raw_aead_seconds(AESGCM, data))
        streamed.append(stream_seconds(recipient, data))
        raw_chacha.append(raw_aead_seconds(ChaCha20Poly1305, data))
        streamed_chacha.append(stream_seconds(chacha_recipient, data))
    raw_s, stream_s = statistics.median(raw), statistics.median(streamed)
    raw_chacha_s, stream_chacha_s = statistics.median(raw_chacha), statistics.median(streamed_chacha)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "plain"), os.path.join(tmp, "sealed")
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.file_mib):
                f.write(block)
        idle_rss = child_peak_rss_mib("idle")
        stream_rss = child_peak_rss_mib(src, dst)
        sealed_size = os.path.getsize(dst)

    total = len(data) / (1 << 20)
    print(json.dumps({
        "fixed_overhead_bytes": fixed_overhead,
        "fixed_overhead_goal": 160,
        "overhead_1mib": round(overhead_1mib, 6),
        "overhead_1mib_goal": 0.002,
        "stream_mib_per_s": round(total / stream_s, 1),
        "raw_aesgcm_mib_per_s": round(total / raw_s, 1),
        "stream_vs_raw_aesgcm": round(raw_s / stream_s, 3),
        "stream_vs_raw_aesgcm_goal": 0.70,
        "stream_chacha20_poly1305_mib_per_s": round(total / stream_chacha_s, 1),
        "raw_chacha20_poly1305_mib_per_s": round(total / raw_chacha_s, 1),
        "stream_vs_raw_chacha20_poly1305": round(raw_chacha_s / stream_chacha_s, 3),
        "stream_peak_rss_mib": round(stream_rss, 1),
        "idle_child_peak_rss_mib": round(idle_rss, 1),
        "stream_peak_rss_goal_mib": 64,
        "file_mib": args.file_mib,
        "sealed_file_overhead": round(sealed_size / (args.file_mib << 20) - 1, 6),
        "runs": 5,
    }, indent=1))


if __name__ == "__main__":
    main()
