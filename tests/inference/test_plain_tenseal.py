"""A client written from seed 004 alone, with plain TenSEAL: it builds its own context, sends
`ctx.serialize()` after `make_context_public()`, and decrypts the answer with TenSEAL. It runs
in its own interpreter, which never imports CIFER."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

PLAIN_TENSEAL_CLIENT = r'''
import base64, json, sys, urllib.error, urllib.request, uuid
import tenseal as ts

url, model_id, eval_keys = sys.argv[1], sys.argv[2], sys.argv[3]
embedding = json.loads(sys.stdin.read())

def post(path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
ctx.global_scale = 2 ** 40
ctx.generate_galois_keys()
public = ctx.copy()
public.make_context_public()
public_b64 = base64.b64encode(public.serialize()).decode("ascii")
session_id = str(uuid.uuid4())
body = {"session_id": session_id, "fhe_scheme": "ckks",
        "params": {"poly_modulus_degree": 8192, "security_level": 128}, "context_b64": public_b64}
if eval_keys == "same":
    body["eval_keys_b64"] = public_b64
status, registered = post("/v1/keys/register", body)
assert status == 201, (status, registered)

enc = ts.ckks_vector(ctx, embedding)
status, answer = post("/v1/infer", {"session_id": session_id, "model_id": model_id,
                                    "ciphertext_input_b64": base64.b64encode(enc.serialize()).decode("ascii")})
out = {"status": status, "answer": answer,
       "cifer_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("cifer", "fhe_inference_service"))}
if status == 200:
    result = ts.ckks_vector_from(ctx, base64.b64decode(answer.pop("ciphertext_output_b64")))
    out["scores"] = result.decrypt()
print(json.dumps(out))
'''


def plain_tenseal(url: str, model_id: str, embedding, eval_keys: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PLAIN_TENSEAL_CLIENT, url, model_id, eval_keys],
                          input=json.dumps(list(map(float, embedding))), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["cifer_modules"] == []
    return out


@pytest.mark.parametrize("eval_keys", ["same", "absent"])
def test_a_plain_tenseal_client_registers_infers_and_decrypts_three_scores(service, models, digits, eval_keys):
    x = digits.data[digits.target == 2][0]
    out = plain_tenseal(service, "demo-linear-classifier", x, eval_keys)
    assert out["status"] == 200, out["answer"]
    scores = np.array(out["scores"])
    assert scores.shape == (3,)
    expected = models["demo-linear-classifier"].scores(x[None])[0]
    assert np.abs(scores - expected).max() < 1e-3
    assert int(np.argmax(scores)) == 2
    meta = out["answer"]["metadata"]
    assert meta["model_id"] == "demo-linear-classifier" and meta["latency_ms"] > 0
    assert meta["ct_input_bytes"] > 0 and meta["ct_output_bytes"] > 0


def test_a_context_too_shallow_for_a_model_is_told_so(service, digits):
    """[60, 40, 40, 60] allows two rescalings; the square network needs three."""
    out = plain_tenseal(service, "digits-mlp-square", digits.data[0], "absent")
    assert out["status"] == 400
    assert "needs 3" in out["answer"]["detail"]
