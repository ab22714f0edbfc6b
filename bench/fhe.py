"""Encrypted inference through `cifer inference` against its baselines in the same run. Prints
one JSON object.

Workload (fixed): `cifer inference --no-rate-limits` as its own process on loopback (the seed's
limits would allow 60 inferences a minute per session); one FHEClient with the default
parameters (N=8192, primes 56/35/35/35/56, scale 2^35), the held-out digits 0, 1 and 2
(scripts/train-fhe-models' split), model demo-linear-classifier (64 -> 3).
- server_p50_ms, server_p99_ms: the service's own `metadata.latency_ms`, SINGLE one-input
  requests after WARMUP. Goal p50 <= 50 (the seed's example says 245.67).
- tenseal_matmul_p50_ms: the baseline: TenSEAL's own CKKSVector.matmul of the same weights on a
  TenSEAL ciphertext (one rotation per input feature), in this process, the seed's parameters
  (N=8192, 60/40/60, 2^40), SINGLE_BASELINE times; speedup = tenseal_matmul_p50_ms / server_p50_ms.
- e2e_p50_ms: the client's view of one input: encrypt + HTTP + decrypt.
- batched_per_s: inputs per second through infer_batch, as many per ciphertext as fit (62),
  BATCH_INPUTS inputs. Goal >= 200.
- plain_p50_ms: the same model in plaintext numpy, one input.
- ct_in_bytes, ct_out_bytes: one single-input request's ciphertexts.
- agreement: encrypted vs plaintext predicted class on the held-out digits 0-2; with
  agreement_by_model and max_abs_error_by_model for every model (batched).

Usage: python bench/fhe.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from ports import free_port  # noqa: E402
from proxy.processes import cifer_command, stop, wait_until_healthy  # noqa: E402

from cifer.fhe import FHEClient  # noqa: E402
from cifer.fhe.models import heldout_indices, load_models  # noqa: E402

MODEL = "demo-linear-classifier"
WARMUP = 10
SINGLE = 200
SINGLE_BASELINE = 10
BATCH_INPUTS = 62 * 20


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def tenseal_matmul_ms(weights: np.ndarray, bias: np.ndarray, x: np.ndarray) -> float:
    import tenseal as ts
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 60])
    ctx.global_scale = 2**40
    ctx.generate_galois_keys()
    enc = ts.ckks_vector(ctx, x.tolist())
    w, b = weights.tolist(), bias.tolist()
    times = []
    for _ in range(SINGLE_BASELINE):
        started = time.perf_counter()
        enc.matmul(w).add(b)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    from sklearn.datasets import load_digits
    digits = load_digits()
    index = np.array(heldout_indices())
    models = load_models()
    model = models[MODEL]
    x_all, y_all = digits.data[index], digits.target[index]
    x = x_all[np.isin(y_all, model.classes)]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cifer_command("inference", "--port", str(port), "--no-rate-limits"),
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until_healthy(url, proc)
        client = FHEClient(url)
        client.setup()
        client.register_keys()
        for i in range(WARMUP):
            client.infer(MODEL, x[i % len(x)])
        server, e2e = [], []
        for i in range(SINGLE):
            started = time.perf_counter()
            result = client.infer(MODEL, x[i % len(x)])
            e2e.append((time.perf_counter() - started) * 1000)
            server.append(result.latency_ms)
        inputs = np.resize(x, (BATCH_INPUTS, x.shape[1]))
        started = time.perf_counter()
        batched = client.infer_batch(MODEL, inputs)
        batched_per_s = len(batched) / (time.perf_counter() - started)
        agreement, errors = {}, {}
        for model_id, each in models.items():
            rows = x_all[np.isin(y_all, each.classes)]
            got = np.array([r.scores for r in client.infer_batch(model_id, rows)])
            plain = each.scores(rows)
            agreement[model_id] = round(float(np.mean(got.argmax(1) == plain.argmax(1))), 4)
            errors[model_id] = float(f"{np.abs(got - plain).max():.3g}")
        client.close()
    finally:
        stop(proc)

    plain = []
    for i in range(SINGLE):
        started = time.perf_counter()
        int(np.argmax(model.scores(x[i % len(x)][None])[0]))
        plain.append((time.perf_counter() - started) * 1000)
    baseline = tenseal_matmul_ms(model.layers[0].weights, model.layers[0].bias, x[0])
    server_p50 = statistics.median(server)
    print(json.dumps({
        "model": MODEL,
        "server_p50_ms": round(server_p50, 2),
        "server_p99_ms": round(percentile(server, 0.99), 2),
        "tenseal_matmul_p50_ms": round(baseline, 2),
        "speedup_vs_tenseal_matmul": round(baseline / server_p50, 1),
        "e2e_p50_ms": round(statistics.median(e2e), 2),
        "batched_per_s": round(batched_per_s, 1),
        "plain_p50_ms": round(statistics.median(plain), 4),
        "ct_in_bytes": result.ct_input_bytes,
        "ct_out_bytes": result.ct_output_bytes,
        "agreement": agreement[MODEL],
        "agreement_by_model": agreement,
        "max_abs_error_by_model": errors,
        "goals": {"server_p50_ms": 50, "batched_per_s": 200},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
