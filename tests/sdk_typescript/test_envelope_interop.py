"""The TypeScript envelope code against the Python core, with no server: the golden vectors
reproduced byte for byte, and `sealLocally` output opened by `cifer.envelope`."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from cifer.crypto.suites import ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305, ML_KEM_1024, X_WING, all_suites
from cifer.envelope import Keyring, decrypt
from cifer.envelope.format import encode_metadata, parse_header
from cifer.exceptions import InvalidCiphertext
from sdk_typescript.node import run_js, tool

TESTS = Path(__file__).resolve().parents[1]
VECTORS = TESTS / "vectors" / "envelope-v1.json"
CHACHA_VECTORS = TESTS / "vectors" / "envelope-v1-chacha20-poly1305.json"
CIFER_ID = "cif_typescriptSDK01"


def _recipient(suite, version=3):
    keyring = Keyring()
    recipient = keyring.add(CIFER_ID, version, suite, suite.generate_seed())
    key = {"ciferId": CIFER_ID, "keyVersion": version, "algorithm": suite.name,
           "encapsulationKey": base64.b64encode(suite.public_key_der(recipient.public_key)).decode()}
    if suite.aead != "AES-256-GCM":  # absent means AES-256-GCM, as from a server that predates the field
        key["aead"] = suite.aead
    return keyring, key


@pytest.mark.parametrize("file, aead", [(VECTORS, "AES-256-GCM"), (CHACHA_VECTORS, "ChaCha20-Poly1305")],
                         ids=["aes-256-gcm", "chacha20-poly1305"])
def test_the_golden_vectors_are_reproduced_byte_for_byte(ts_sdk, file, aead):
    done = __import__("subprocess").run(
        [tool("node"), str(TESTS / "sdk_typescript" / "scripts" / "vectors.mjs"), str(file)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "CIFER_SDK_DIR": str(ts_sdk)})
    assert done.returncode == 0, done.stderr
    produced = json.loads(done.stdout)
    vectors = json.loads(file.read_text())["vectors"]
    assert {v["suite"] for v in vectors} == {"ML-KEM-768", "ML-KEM-1024", "X-Wing"}
    assert {v.get("aead", "AES-256-GCM") for v in vectors} == {aead}
    # The public function, and each set of AEADs it may use (node:crypto; WebCrypto and @noble/ciphers).
    for vector in vectors:
        assert produced[vector["name"]] == {"public": vector["envelope"], "platform": vector["envelope"],
                                            "portable": vector["envelope"]}, vector["name"]


SIZES = [0, 1, 1024, 2048, 3584 + 7]


@pytest.mark.parametrize("suite", list(all_suites()), ids=lambda s: f"{s.name}-{s.aead}")
def test_seal_locally_is_opened_by_the_python_core(ts_sdk, suite):
    keyring, key = _recipient(suite)
    metadata = {"filename": "a\"b\\c\n.bin", "ü": "✓", "\U0001d4b3": "astral", "\uffff": "bmp"}
    sealed = run_js(f"""
      const key = {json.dumps(key)};
      const result = {{}};
      for (const size of {json.dumps(SIZES)}) {{
        const plaintext = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
        result[size] = hex(await sdk.sealLocally(key, plaintext, {{ metadata: {json.dumps(metadata)}, chunkSize: 1024 }}));
      }}
      out(result);
    """)
    for size in SIZES:
        envelope = bytes.fromhex(sealed[str(size)])
        assert decrypt(envelope, keyring) == bytes((i * 31 + 7) & 0xFF for i in range(size))
        header, _ = parse_header(envelope)
        assert header.suite is suite and header.key_version == 3 and header.chunk_size == 1024
        assert dict(header.metadata) == metadata
    # Fresh randomness every time: two seals of the same input differ.
    assert sealed["1"] != run_js(f"out(hex(await sdk.sealLocally({json.dumps(key)}, new Uint8Array([7]))));")


@pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305], ids=lambda s: s.aead)
def test_a_sealed_stream_from_a_node_readable_is_opened_by_the_python_core(ts_sdk, suite):
    keyring, key = _recipient(suite)
    envelope = run_js(f"""
      const {{ Readable }} = await import('node:stream');
      // Pieces of awkward sizes, so chunk boundaries fall inside pieces and between them.
      const pieces = [0, 1, 1023, 1024, 5000, 3, 65536].map((n, k) => new Uint8Array(n).fill(k + 1));
      const stream = sdk.sealStreamLocally({json.dumps(key)}, Readable.from(pieces), {{ chunkSize: 1024 }});
      const parts = [];
      for await (const part of stream) parts.push(part);
      out(hex(Buffer.concat(parts)));
    """)
    expected = b"".join(bytes([k + 1]) * n for k, n in enumerate([0, 1, 1023, 1024, 5000, 3, 65536]))
    assert decrypt(bytes.fromhex(envelope), keyring) == expected
    assert parse_header(bytes.fromhex(envelope))[0].suite is suite


@pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305], ids=lambda s: s.aead)
def test_any_bit_flip_in_a_locally_sealed_envelope_is_rejected_by_the_python_core(ts_sdk, suite):
    keyring, key = _recipient(suite)
    envelope = bytes.fromhex(run_js(f"out(hex(await sdk.sealLocally({json.dumps(key)}, new Uint8Array(3000), {{ chunkSize: 1024 }})));"))
    for bit in range(0, len(envelope) * 8, 97):  # a spread of positions over header, slot and chunks
        flipped = bytearray(envelope)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(InvalidCiphertext):
            decrypt(bytes(flipped), keyring)


def test_metadata_is_encoded_as_the_python_core_encodes_it(ts_sdk):
    cases = [{}, {"a": "b"}, {"b": "1", "a": "2", "A": "3"}, {"ctl": "\x00\x01\x1f\x7f\t\r\n\b\f"},
             {"quote": "\"'\\/", "\u2028": "\u2029"}, {"\U0001f600": "x", "\uffff": "y", "\ue000": "z"}]
    produced = run_js(f"out({json.dumps(cases)}.map((m) => hex(sdk.encodeMetadata(m))));")
    assert produced == [encode_metadata(case).hex() for case in cases]


def test_a_public_key_of_another_suite_is_refused(ts_sdk):
    _, key = _recipient(ML_KEM_1024)
    wrong = {**key, "algorithm": "ML-KEM-768"}
    result = run_js(f"out(await failure(sdk.sealLocally({json.dumps(wrong)}, new Uint8Array(1))));")
    assert result["cls"] == "InvalidKeyError" and result["code"] == "INVALID_KEY"
    bad_id = {**key, "ciferId": "cif_short"}
    result = run_js(f"out(await failure(sdk.sealLocally({json.dumps(bad_id)}, new Uint8Array(1))));")
    assert result["cls"] == "TypeError"


def test_a_chacha20_poly1305_envelope_relabelled_as_aes_256_gcm_does_not_open(ts_sdk):
    """The whole suite id is in the wrapping key's info and in every chunk's associated data."""
    keyring, key = _recipient(ML_KEM_768_CHACHA20_POLY1305)
    envelope = bytearray.fromhex(run_js(f"out(hex(await sdk.sealLocally({json.dumps(key)}, new Uint8Array([1, 2]))));"))
    assert envelope[6:8] == b"\x01\x01"
    envelope[6] = 0x00
    with pytest.raises(InvalidCiphertext):
        decrypt(bytes(envelope), keyring)


def test_an_unknown_aead_and_an_expired_key_are_refused(ts_sdk):
    _, key = _recipient(ML_KEM_768)
    result = run_js(f"""
      const key = {json.dumps(key)};
      const day = 86400000;
      out({{
        unknown: await failure(sdk.sealLocally({{ ...key, aead: 'AES-256-CBC' }}, new Uint8Array(1))),
        expired: await failure(sdk.sealLocally({{ ...key, expiresAt: new Date(Date.now() - day) }}, new Uint8Array(1))),
        expiredText: await failure(sdk.sealLocally({{ ...key, expiresAt: '2020-01-01T00:00:00Z' }}, new Uint8Array(1))),
        future: (await sdk.sealLocally({{ ...key, expiresAt: new Date(Date.now() + day) }}, new Uint8Array(1))).length,
        none: (await sdk.sealLocally({{ ...key, expiresAt: null }}, new Uint8Array(1))).length,
      }});
    """)
    assert (result["unknown"]["cls"], result["unknown"]["code"]) == ("InvalidKeyError", "INVALID_KEY")
    for name in ("expired", "expiredText"):  # as the API refuses an expired key: 403 FORBIDDEN with expired_at
        assert (result[name]["cls"], result[name]["code"]) == ("PermissionDeniedError", "FORBIDDEN"), result[name]
    assert result["expiredText"]["details"] == {"cifer_id": CIFER_ID, "expired_at": "2020-01-01T00:00:00Z"}
    assert result["future"] == result["none"] == 1233 + len(CIFER_ID) - 16


def test_x_wing_public_keys_come_in_the_python_cores_spki(ts_sdk):
    keyring, key = _recipient(X_WING, version=1)
    envelope = bytes.fromhex(run_js(f"out(hex(await sdk.sealLocally({json.dumps(key)}, new Uint8Array([1, 2, 3]))));"))
    assert decrypt(envelope, keyring) == b"\x01\x02\x03"
    assert parse_header(envelope)[0].suite is X_WING


def test_a_key_failing_the_fips_203_modulus_check_is_refused(ts_sdk):
    _, key = _recipient(ML_KEM_768)
    der = bytearray(base64.b64decode(key["encapsulationKey"]))
    prefix = len(der) - ML_KEM_768.public_key_bytes
    der[prefix:prefix + 2] = b"\xff\xff"  # the first coefficient becomes 4095, past q = 3329
    bad = {**key, "encapsulationKey": base64.b64encode(bytes(der)).decode()}
    result = run_js(f"out([await failure(sdk.sealLocally({json.dumps(bad)}, new Uint8Array(1))), "
                    f"await failure(sdk.sealLocally({json.dumps(bad)}, new Uint8Array(1)))]);")
    assert [r["cls"] for r in result] == ["InvalidKeyError", "InvalidKeyError"]


def test_an_expanded_key_is_never_used_for_another_key_that_starts_alike(ts_sdk):
    """Expanded public keys are cached by their first 32 bytes: a key that differs only after them
    (here in rho, its last 32 bytes) must be expanded anew, or it would be sealed to the first."""
    keyring, key = _recipient(ML_KEM_768)
    der = bytearray(base64.b64decode(key["encapsulationKey"]))
    der[-1] ^= 1
    other = {**key, "encapsulationKey": base64.b64encode(bytes(der)).decode()}
    envelopes = run_js(f"""
      const first = await sdk.sealLocally({json.dumps(key)}, new Uint8Array([1]));
      const second = await sdk.sealLocally({json.dumps(other)}, new Uint8Array([2]));
      out([hex(first), hex(second)]);
    """)
    assert decrypt(bytes.fromhex(envelopes[0]), keyring) == b"\x01"
    with pytest.raises(InvalidCiphertext):  # sealed to the other key: the first key's seed cannot open it
        decrypt(bytes.fromhex(envelopes[1]), keyring)


def test_a_recipient_given_whole_must_be_of_a_known_suite(ts_sdk):
    result = run_js("""
      const fake = { id: 1, name: 'ML-KEM-768', publicKeyBytes: 1, ciphertextBytes: 1, spkiPrefix: new Uint8Array(0),
                     encapsulate: () => ({ sharedSecret: new Uint8Array(32), kemCiphertext: new Uint8Array(1) }) };
      const recipient = { ciferId: 'cif_typescriptSDK01', keyVersion: 1, suite: fake, publicKey: new Uint8Array(1) };
      out(await failure(sdk.sealLocally(recipient, new Uint8Array(1))));
    """)
    assert result["cls"] == "TypeError"
