"""Every refusal of seed 004's API: its status and its `{"detail": ...}` body. The service keeps
serving after each (a bad ciphertext never crashes a worker)."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from cifer.fhe.keys import CkksKeyring
from cifer.fhe.models import pack_single
from cifer.fhe.params import CkksParameters
from inference.raw import b64, call, infer_body, register_body

LINEAR = "demo-linear-classifier"


@pytest.fixture(scope="module")
def lean() -> CkksKeyring:
    """Default parameters, one Galois key: a small context for the registration refusals."""
    return CkksKeyring(galois_steps=(1,))


@pytest.fixture(scope="module")
def session(client) -> tuple[str, CkksKeyring]:
    return client.session_id, client._session.keyring


def ciphertext(keyring: CkksKeyring, *, size: int = 64, depth: int = 1) -> bytes:
    return keyring.encrypt(pack_single(np.arange(64.0) % 17, keyring.slot_count), size=size, depth=depth)


def assert_refused(answer, status: int, *words: str) -> None:
    code, doc, _ = answer
    assert code == status, doc
    assert set(doc) == {"detail"} and isinstance(doc["detail"], str), doc
    for word in words:
        assert word in doc["detail"], doc["detail"]


# --- 422: not the seed's shape ------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_422(service, raw):
    assert_refused(call(service, "POST", "/v1/keys/register", raw=raw), 422, "JSON")
    assert_refused(call(service, "POST", "/v1/infer", raw=raw), 422, "JSON")


@pytest.mark.parametrize("drop", ["session_id", "fhe_scheme", "params", "context_b64"])
def test_a_registration_missing_a_field_is_422_naming_it(service, lean, drop):
    body = register_body(lean.public_context)
    del body[drop]
    assert_refused(call(service, "POST", "/v1/keys/register", body), 422, drop)


@pytest.mark.parametrize("change", [
    {"params": {"poly_modulus_degree": "8192"}},
    {"params": {"poly_modulus_degree": 8192, "security_level": True}},
    {"params": 8192},
    {"context_b64": 12},
    {"session_id": "not-a-uuid"},
    {"unexpected": 1},
])
def test_a_registration_with_a_wrong_type_or_unknown_field_is_422(service, lean, change):
    assert_refused(call(service, "POST", "/v1/keys/register", {**register_body(lean.public_context), **change}), 422)


@pytest.mark.parametrize("drop", ["session_id", "model_id", "ciphertext_input_b64"])
def test_an_inference_missing_a_field_is_422_naming_it(service, session, drop):
    body = infer_body(session[0], b"x")
    del body[drop]
    assert_refused(call(service, "POST", "/v1/infer", body), 422, drop)


# --- 400: well formed, not acceptable -------------------------------------------------------

def test_an_unsupported_scheme_is_400(service, lean):
    body = {**register_body(lean.public_context), "fhe_scheme": "bfv"}
    assert_refused(call(service, "POST", "/v1/keys/register", body), 400, "Unsupported scheme")


@pytest.mark.parametrize("field", ["context_b64", "eval_keys_b64"])
def test_bad_base64_in_a_registration_is_400(service, lean, field):
    body = {**register_body(lean.public_context), field: "not*base64!"}
    assert_refused(call(service, "POST", "/v1/keys/register", body), 400, "base64", field)


def test_a_context_with_a_secret_key_is_refused_and_not_stored(service):
    import tenseal as ts
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 60])
    ctx.global_scale = 2**40
    ctx.generate_galois_keys()
    private = ctx.serialize(save_secret_key=True)
    public = ctx.copy()
    public.make_context_public()
    for body in (register_body(private), register_body(public.serialize(), eval_keys_b64=b64(private))):
        assert_refused(call(service, "POST", "/v1/keys/register", body), 400, "secret key")
        assert_refused(call(service, "DELETE", f"/v1/keys/{body['session_id']}"), 404, "Session not found")


@pytest.mark.parametrize("params, words", [
    ({"poly_modulus_degree": 2048}, ["2048", "not supported"]),
    ({"poly_modulus_degree": 16384}, ["16384"]),
    ({"poly_modulus_degree": 8192, "security_level": 192}, ["192-bit secure"]),
    ({"poly_modulus_degree": 8192, "security_level": 100}, ["security_level"]),
    ({"poly_modulus_degree": 8192, "coeff_mod_bit_sizes": [60, 40, 40, 60]}, ["coeff_mod_bit_sizes"]),
])
def test_parameters_that_are_unsupported_insecure_or_not_the_contexts_are_400(service, lean, params, words):
    body = {**register_body(lean.public_context), "params": params}
    assert_refused(call(service, "POST", "/v1/keys/register", body), 400, "Invalid parameters", *words)


def test_a_context_without_galois_keys_is_400(service):
    import tenseal as ts
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 60])
    ctx.make_context_public()
    assert_refused(call(service, "POST", "/v1/keys/register", register_body(ctx.serialize())), 400, "Galois")


def test_eval_keys_for_other_parameters_are_400(service, lean):
    other = CkksKeyring(CkksParameters(8192, (60, 40, 60), 40), galois_steps=(1,))
    body = register_body(lean.public_context, eval_keys_b64=b64(other.public_context))
    assert_refused(call(service, "POST", "/v1/keys/register", body), 400, "other encryption parameters")


def test_bytes_that_are_not_a_tenseal_context_are_400(service):
    assert_refused(call(service, "POST", "/v1/keys/register", register_body(b"\x0a\xff\xff\xff\xff\x0f")), 400,
                   "not a serialized TenSEAL context")


def test_bad_base64_in_an_inference_is_400(service, session):
    body = {**infer_body(session[0], b"x"), "ciphertext_input_b64": "%%%"}
    assert_refused(call(service, "POST", "/v1/infer", body), 400, "base64")


def _garbled(keyring: CkksKeyring) -> dict[str, bytes]:
    from cifer.fhe import wire
    good = ciphertext(keyring)
    vector = wire.parse_vector(good)
    seal_blob = bytes(vector.ciphertexts[0])
    truncated = seal_blob[:len(seal_blob) // 2]
    relabelled = bytearray(truncated)  # a header that agrees with the truncated length
    relabelled[8:16] = len(truncated).to_bytes(8, "little")
    flipped = bytearray(seal_blob)  # in the header: a flip in the payload may still be a valid (garbage)
    flipped[0] ^= 0xFF              # ciphertext, as CKKS ciphertexts carry no integrity of their own
    return {
        "random bytes": bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
        "not a SEAL object": wire.encode_vector(64, b"\x00" * 64, vector.scale),
        "truncated": wire.encode_vector(64, truncated, vector.scale),
        "truncated, header fixed": wire.encode_vector(64, bytes(relabelled), vector.scale),
        "a flipped magic byte": wire.encode_vector(64, bytes(flipped), vector.scale),
        "two ciphertexts": good[:-9] + b"\x12" + good[2:4] + good[-9:],
    }


def test_garbled_ciphertexts_are_400_and_the_service_keeps_serving(service, session):
    session_id, keyring = session
    for name, blob in _garbled(keyring).items():
        code, doc, _ = call(service, "POST", "/v1/infer", infer_body(session_id, blob))
        assert code == 400, (name, doc)
        assert set(doc) == {"detail"}
    code, doc, _ = call(service, "POST", "/v1/infer", infer_body(session_id, ciphertext(keyring)))
    assert code == 200, doc
    assert call(service, "GET", "/v1/health")[0] == 200


def test_a_ciphertext_of_the_wrong_size_is_400(service, session):
    session_id, keyring = session
    assert_refused(call(service, "POST", "/v1/infer", infer_body(session_id, ciphertext(keyring, size=10))),
                   400, "holds 10 values", "takes 64")


def test_a_ciphertext_under_other_parameters_is_400(service, session):
    session_id, _ = session
    for params in (CkksParameters(8192, (60, 40, 60), 40), CkksParameters(4096, (40, 30, 30), 30)):
        other = CkksKeyring(params, galois_steps=(1,))
        assert_refused(call(service, "POST", "/v1/infer", infer_body(session_id, ciphertext(other))), 400,
                       "does not match the session's parameters")


def test_a_ciphertext_without_levels_left_is_400(service, session):
    session_id, keyring = session
    assert_refused(call(service, "POST", "/v1/infer", infer_body(session_id, ciphertext(keyring, depth=0))), 400,
                   "levels left")


def test_an_unrelinearized_product_is_400(service, session):
    from cifer.fhe import wire
    from cifer.fhe.seal import BRIDGE, sealapi
    session_id, keyring = session
    ct = keyring.context.load_ciphertext(wire.parse_vector(ciphertext(keyring)).ciphertexts[0])
    product = sealapi().Ciphertext()
    keyring.context.evaluator.multiply(ct, ct, product)  # three polynomials
    blob = wire.encode_vector(64, BRIDGE.dump(product), keyring.params.scale)
    assert_refused(call(service, "POST", "/v1/infer", infer_body(session_id, blob)), 400, "polynomials")


def test_a_scale_that_would_overflow_the_result_is_400(service):
    keyring = CkksKeyring(CkksParameters(8192, (60, 40, 60), 57), galois_steps=(1, 2, 4, 8, 16, 32))
    body = register_body(keyring.public_context)
    assert call(service, "POST", "/v1/keys/register", body)[0] == 201
    assert_refused(call(service, "POST", "/v1/infer", infer_body(body["session_id"], ciphertext(keyring))), 400,
                   "overflow")


def test_a_session_missing_a_rotation_the_model_needs_is_400(service, lean):
    body = register_body(lean.public_context)
    assert call(service, "POST", "/v1/keys/register", body)[0] == 201
    assert_refused(call(service, "POST", "/v1/infer", infer_body(body["session_id"], ciphertext(lean))), 400,
                   "cannot rotate by")


# --- 404 ------------------------------------------------------------------------------------

def test_an_unknown_session_is_404(service, session):
    body = infer_body(str(uuid.uuid4()), ciphertext(session[1]))
    assert_refused(call(service, "POST", "/v1/infer", body), 404, "Session not found or expired")
    assert_refused(call(service, "DELETE", f"/v1/keys/{uuid.uuid4()}"), 404, "Session not found")


def test_an_unknown_model_is_404(service, session):
    body = infer_body(session[0], ciphertext(session[1]), model_id="no-such-model")
    assert_refused(call(service, "POST", "/v1/infer", body), 404, "Model not found", "no-such-model")


def test_unknown_paths_and_methods_answer_in_the_seeds_error_format(service):
    assert_refused(call(service, "GET", "/v1/nothing"), 404)
    code, doc, headers = call(service, "GET", "/v1/infer")
    assert code == 405 and set(doc) == {"detail"} and "POST" in headers["Allow"]


# --- the happy paths' exact bodies ------------------------------------------------------------

def test_health_and_models_answer_the_seeds_bodies(service):
    code, doc, _ = call(service, "GET", "/v1/health")
    assert (code, doc) == (200, {"status": "healthy", "version": "0.1.0", "backend": "TenSEAL-CKKS"})
    code, doc, _ = call(service, "GET", "/v1/models")
    assert code == 200
    linear = next(m for m in doc["models"] if m["model_id"] == LINEAR)
    seed_fields = {"model_id": LINEAR, "input_dim": 64, "output_dim": 3, "scheme": "ckks", "model_type": "linear"}
    assert seed_fields.items() <= linear.items() and linear["description"].startswith("Demo linear classifier")
    assert {m["model_id"] for m in doc["models"]} == {LINEAR, "digits-logistic-poly3", "digits-mlp-square"}


def test_register_infer_delete_answer_the_seeds_bodies(service, lean):
    keyring = CkksKeyring(galois_steps=(1, 2, 4, 8, 16, 32))
    body = register_body(keyring.public_context, eval_keys_b64=b64(keyring.public_context))
    code, doc, _ = call(service, "POST", "/v1/keys/register", body)
    assert (code, doc) == (201, {"session_id": body["session_id"], "status": "registered",
                                 "message": "Evaluation keys registered successfully"})
    blob = ciphertext(keyring)
    code, doc, _ = call(service, "POST", "/v1/infer", infer_body(body["session_id"], blob))
    assert code == 200 and set(doc) == {"ciphertext_output_b64", "metadata"}
    assert set(doc["metadata"]) == {"latency_ms", "ct_input_bytes", "ct_output_bytes", "model_id"}
    assert doc["metadata"]["ct_input_bytes"] == len(blob) and doc["metadata"]["model_id"] == LINEAR
    assert len(keyring.decrypt(__import__("base64").b64decode(doc["ciphertext_output_b64"]))) == 3
    code, doc, _ = call(service, "DELETE", f"/v1/keys/{body['session_id']}")
    assert (code, doc) == (200, {"status": "deleted", "session_id": body["session_id"]})
    assert_refused(call(service, "POST", "/v1/infer", infer_body(body["session_id"], blob)), 404)


def test_an_inference_body_beyond_the_bound_is_413(service, session):
    raw = json.dumps(infer_body(session[0], b"\x00" * (7 * 1024 * 1024))).encode()  # > 8 MiB in base64
    assert_refused(call(service, "POST", "/v1/infer", raw=raw), 413)
