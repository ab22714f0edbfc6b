"""Writes the golden vectors of one payload AEAD: tests/vectors/envelope-v1.json for
AES-256-GCM, envelope-v1-chacha20-poly1305.json for ChaCha20-Poly1305. Run it only when a
new format version or a new suite is made: the committed files are what keep version 1 from
drifting, so it refuses to replace one that exists.

    python tests/vectors/make_envelope_vectors.py ChaCha20-Poly1305

Seeds, data keys, message ids and plaintexts come from fixed labels. The KEM ciphertexts
come from one real encapsulation each (cryptography offers no derandomized ML-KEM
encapsulation) and are stored, so the vectors are reproducible from the file alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from cifer.crypto.suites import AEADS, AES_256_GCM, CHACHA20_POLY1305, suite_by_name
from cifer.envelope import FixedRandomness, Recipient, encrypt

FILES = {
    AES_256_GCM: Path(__file__).with_name("envelope-v1.json"),
    CHACHA20_POLY1305: Path(__file__).with_name("envelope-v1-chacha20-poly1305.json"),
}


def fixed(label: str, n: int) -> bytes:
    return hashlib.shake_256(b"cifer test vector: " + label.encode()).digest(n)


CASES = [
    # name, KEM, chunk size, plaintext length, metadata
    ("ml-kem-768 one byte", "ML-KEM-768", 65536, 1, {}),
    ("ml-kem-768 empty", "ML-KEM-768", 65536, 0, {}),
    ("ml-kem-768 three chunks with metadata", "ML-KEM-768", 1024, 2500, {"filename": "secret.bin", "ü": "✓"}),
    ("ml-kem-768 exact chunk multiple", "ML-KEM-768", 1024, 2048, {}),
    ("ml-kem-1024 two chunks", "ML-KEM-1024", 1024, 1500, {"purpose": "backup"}),
    ("x-wing two chunks", "X-Wing", 1024, 1025, {"purpose": "test"}),
]


def vectors_for(aead: str) -> list[dict]:
    """The cases sealed with `aead`; names (and so every fixed input) are the AEAD's own,
    except AES-256-GCM's, which keep the names they were first written with."""
    vectors = []
    for case_name, kem, chunk_size, length, metadata in CASES:
        suite = suite_by_name(kem, aead)
        name = case_name if aead == AES_256_GCM else f"{aead.lower()} {case_name}"
        seed = fixed(name + " seed", suite.seed_bytes)
        recipient = Recipient("cif_" + fixed(name + " id", 8).hex(), 7, suite, suite.public_key(seed))
        shared_secret, kem_ciphertext = suite.encapsulate(recipient.public_key)
        randomness = FixedRandomness(fixed(name + " dk", 32), fixed(name + " mid", 16), shared_secret, kem_ciphertext)
        plaintext = fixed(name + " plaintext", length)
        envelope = encrypt(
            recipient, plaintext, metadata=metadata, chunk_size=chunk_size, unsafe_randomness=randomness
        )
        vectors.append({
            "name": name, "suite": suite.name, **({} if aead == AES_256_GCM else {"aead": aead}),
            "seed": seed.hex(), "cifer_id": recipient.cifer_id,
            "key_version": recipient.key_version, "chunk_size": chunk_size, "metadata": metadata,
            "plaintext": plaintext.hex(), "data_key": randomness.data_key.hex(),
            "message_id": randomness.message_id.hex(), "kem_ciphertext": kem_ciphertext.hex(),
            "envelope": envelope.hex(),
        })
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description="Writes the golden envelope vectors of one payload AEAD.")
    parser.add_argument("aead", choices=AEADS, help="whose vectors to write")
    parser.add_argument("--replace", action="store_true", help="overwrite a committed file (a new format version)")
    args = parser.parse_args()
    out = FILES[args.aead]
    if out.exists() and not args.replace:
        parser.error(f"{out.name} exists: the committed vectors are the format; pass --replace to rewrite them")
    document = {"format_version": 1, "vectors": vectors_for(args.aead)}
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
