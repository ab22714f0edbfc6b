"""Writes tests/vectors/key-release/<suite>.json. Run it only when a new key-release version is made:
the committed files are what keep version 1 (docs/key-release.md) from drifting.

Recipient keys, ephemeral X25519 keys, headers and data keys come from fixed labels. The ML-KEM-768
ciphertext comes from one real encapsulation (cryptography offers no derandomized ML-KEM
encapsulation) and is stored, so the vectors are reproducible from the file alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from cifer.keyrelease import ML_KEM_768, X25519, RecipientKey, release_info

OUT = Path(__file__).parent


def fixed(label: str, n: int) -> bytes:
    return hashlib.shake_256(b"cifer key-release vector: " + label.encode()).digest(n)


def private_key(suite, label: str):
    if suite is X25519:
        return x25519.X25519PrivateKey.from_private_bytes(fixed(label, 32)), fixed(label, 32)
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(fixed(label, 64)), fixed(label, 64)


def vector(suite, name: str, header_len: int) -> dict:
    key, private = private_key(suite, f"{name} recipient")
    recipient = RecipientKey(suite, key, created_at=0.0).recipient
    header, data_key = fixed(f"{name} header", header_len), fixed(f"{name} data key", 32)
    if suite is X25519:
        ephemeral = fixed(f"{name} ephemeral", 32)
        eph = x25519.X25519PrivateKey.from_private_bytes(ephemeral)
        encapsulation = (suite.dh_encapsulate(eph, key.public_key()), eph.public_key().public_bytes_raw())
        randomness = {"ephemeral_private_key": ephemeral.hex()}
    else:
        secret, enc = key.public_key().encapsulate()
        encapsulation = (secret, enc)
        randomness = {"kem_ciphertext": enc.hex()}
    sealed = recipient.seal(data_key, header, unsafe_encapsulation=encapsulation)
    return {"name": name, "suite": suite.name, "recipient_private_key": private.hex(), **randomness,
            "header": header.hex(), "data_key": data_key.hex(), "info": release_info(header).hex(),
            "recipient": recipient.to_field(), "sealed_data_key": sealed}


def main() -> None:
    for suite, file in ((X25519, "x25519.json"), (ML_KEM_768, "ml-kem-768.json")):
        vectors = [vector(suite, f"{suite.name} header {n}", n) for n in (1226, 1233)]
        text = json.dumps({"version": 1, "spec": "docs/key-release.md", "vectors": vectors}, indent=1)
        (OUT / file).write_text(text + "\n")


if __name__ == "__main__":
    main()
