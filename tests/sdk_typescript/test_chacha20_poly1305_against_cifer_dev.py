"""ChaCha20-Poly1305 CIFERs (docs/envelope.md, suites 0x0101-0x0103) through the TypeScript SDK
against its own `cifer dev` (the module-scoped `dev_server`, so its three creations count against
this module's hourly limit, not test_against_cifer_dev.py's): `keys.get` reports the CIFER's
AEAD, `client.sealLocally` seals with it, and `/v1/decrypt` opens what was sealed in Node."""

from __future__ import annotations

import json

import pytest

from sdk_typescript.node import run_js

KEMS = {"ML-KEM-768": 0x0101, "ML-KEM-1024": 0x0102, "X-Wing": 0x0103}


@pytest.fixture(scope="module")
def env(dev_server) -> dict[str, str]:
    return dev_server.environment()


@pytest.fixture(scope="module")
def chacha_cifers(ts_sdk, env) -> dict[str, dict]:
    """One ChaCha20-Poly1305 CIFER per KEM, made as POST /v1/cifers {"name", "algorithm", "aead"}."""
    return run_js(f"""
      const c = new sdk.CiferClient();
      const made = {{}};
      for (const algorithm of {json.dumps(list(KEMS))}) {{
        const cifer = await c.cifers.create({{ name: `chacha ${{algorithm}}`, algorithm, aead: 'ChaCha20-Poly1305' }});
        made[algorithm] = {{ id: cifer.id, aead: cifer.aead, expiresAt: cifer.expiresAt ?? null }};
      }}
      out(made);
    """, env=env)


@pytest.mark.parametrize("algorithm", list(KEMS))
def test_a_chacha20_poly1305_cifer_is_sealed_locally_with_it_and_opened_by_v1_decrypt(env, chacha_cifers, algorithm):
    made = chacha_cifers[algorithm]
    assert (made["aead"], made["expiresAt"]) == ("ChaCha20-Poly1305", None)
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const id = {json.dumps(made["id"])};
      const key = await c.keys.get(id);
      const plaintext = new TextEncoder().encode('sealed with ChaCha20-Poly1305 in node ✓'.repeat(2500));
      const envelope = await c.sealLocally(id, plaintext, {{ metadata: {{ origin: 'node' }}, chunkSize: 4096 }});
      const opened = await c.decrypt(envelope);
      const pieces = (async function* () {{ for (let i = 0; i < 5; i++) yield plaintext.subarray(i * 999, (i + 1) * 999); }})();
      const streamed = await c.sealStreamLocally(id, pieces, {{ chunkSize: 1024 }});
      const streamedOpen = await (await c.decryptStream(streamed)).bytes();
      const bySidecar = await c.encrypt(id, new Uint8Array([1, 2, 3]));  // the sidecar seals with the CIFER's AEAD too
      out({{ key: [key.algorithm, key.aead, key.expiresAt ?? null, key.raw.aead],
             suite: new DataView(envelope.buffer, envelope.byteOffset).getUint16(6),
             same: Buffer.from(opened.plaintext).equals(Buffer.from(plaintext)), version: opened.keyVersion,
             metadata: opened.metadata,
             streamed: Buffer.from(streamedOpen).equals(Buffer.from(plaintext.subarray(0, 4995))),
             sidecar: [bySidecar.algorithm.aead, bySidecar.ciphertext.toString('hex').slice(12, 16)] }});
    """, env=env)
    assert result["key"] == [algorithm, "ChaCha20-Poly1305", None, "ChaCha20-Poly1305"]
    assert result["suite"] == KEMS[algorithm]
    assert result["same"] and result["streamed"] and result["version"] == 1
    assert result["metadata"] == {"origin": "node"}
    assert result["sidecar"] == ["ChaCha20-Poly1305", f"{KEMS[algorithm]:04x}"]


def test_a_chacha20_poly1305_envelope_relabelled_as_aes_256_gcm_is_refused_by_v1_decrypt(env, chacha_cifers):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const envelope = await c.sealLocally({json.dumps(chacha_cifers["ML-KEM-768"]["id"])}, new Uint8Array([1, 2, 3]));
      envelope[6] = 0;  // suite 0x0101 -> 0x0001: the same KEM, the other AEAD
      out(await failure(c.decrypt(envelope)));
    """, env=env)
    assert (result["cls"], result["code"], result["status"]) == ("InvalidCiphertextError", "INVALID_CIPHERTEXT", 400)
