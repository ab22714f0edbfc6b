"""Writes tests/vectors/envelope-v1.json. Run it only when a new format version is made:
the committed file is what keeps version 1 from drifting.

Seeds, data keys, message ids and plaintexts come from fixed labels. The KEM ciphertexts
come from one real encapsulation each (cryptography offers no derandomized ML-KEM
encapsulation) and are stored, so the vectors are reproducible from the file alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cifer.crypto.suites import ML_KEM_768, ML_KEM_1024, X_WING
from cifer.envelope import FixedRandomness, Recipient, encrypt

OUT = Path(__file__).with_name("envelope-v1.json")


def fixed(label: str, n: int) -> bytes:
    return hashlib.shake_256(b"cifer test vector: " + label.encode()).digest(n)


CASES = [
    # name, suite, chunk size, plaintext length, metadata
    ("ml-kem-768 one byte", ML_KEM_768, 65536, 1, {}),
    ("ml-kem-768 empty", ML_KEM_768, 65536, 0, {}),
    ("ml-kem-768 three chunks with metadata", ML_KEM_768, 1024, 2500, {"filename": "secret.bin", "ü": "✓"}),
    ("ml-kem-768 exact chunk multiple", ML_KEM_768, 1024, 2048, {}),
    ("ml-kem-1024 two chunks", ML_KEM_1024, 1024, 1500, {"purpose": "backup"}),
    ("x-wing two chunks", X_WING, 1024, 1025, {"purpose": "test"}),
]


def main() -> None:
    vectors = []
    for name, suite, chunk_size, length, metadata in CASES:
        seed = fixed(name + " seed", suite.seed_bytes)
        recipient = Recipient("cif_" + fixed(name + " id", 8).hex(), 7, suite, suite.public_key(seed))
        shared_secret, kem_ciphertext = suite.encapsulate(recipient.public_key)
        randomness = FixedRandomness(fixed(name + " dk", 32), fixed(name + " mid", 16), shared_secret, kem_ciphertext)
        plaintext = fixed(name + " plaintext", length)
        envelope = encrypt(
            recipient, plaintext, metadata=metadata, chunk_size=chunk_size, unsafe_randomness=randomness
        )
        vectors.append({
            "name": name, "suite": suite.name, "seed": seed.hex(), "cifer_id": recipient.cifer_id,
            "key_version": recipient.key_version, "chunk_size": chunk_size, "metadata": metadata,
            "plaintext": plaintext.hex(), "data_key": randomness.data_key.hex(),
            "message_id": randomness.message_id.hex(), "kem_ciphertext": kem_ciphertext.hex(),
            "envelope": envelope.hex(),
        })
    OUT.write_text(json.dumps({"format_version": 1, "vectors": vectors}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
