"""The weight files: the training script reproduces them, they load, and they are what
`GET /v1/models` describes. Also the CKKS parameter table and the lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cifer.fhe.models import DEFAULT_MODELS_DIR, HELDOUT_FILE, Model, load_models
from cifer.fhe.params import MAX_COEFF_MODULUS_BITS, CkksParameters, ParameterError

REPO = Path(__file__).resolve().parents[2]


def test_the_training_script_reproduces_the_shipped_weights(tmp_path, models):
    """Weights within 1e-6 and the same held-out split. Byte-equal on the machine that wrote
    them; compared with a tolerance here, since another CPU or BLAS may round a last digit
    differently before the 7-significant-digit rounding."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "train-fhe-models"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / HELDOUT_FILE).read_text() == (DEFAULT_MODELS_DIR / HELDOUT_FILE).read_text()
    fresh = load_models(tmp_path)
    assert fresh.keys() == models.keys()
    for model_id, model in models.items():
        for mine, theirs in zip(model.layers, fresh[model_id].layers, strict=True):
            assert np.allclose(mine.weights, theirs.weights, rtol=1e-5, atol=1e-6)
            assert np.allclose(mine.bias, theirs.bias, rtol=1e-5, atol=1e-6)
            assert mine.coefficients == theirs.coefficients and mine.activation == theirs.activation


def test_the_models_are_the_three_of_the_issue(models, heldout):
    x, y = heldout
    assert [(m.model_id, m.model_type, m.input_dim, m.output_dim) for m in models.values()] == [
        ("demo-linear-classifier", "linear", 64, 3), ("digits-logistic-poly3", "logistic", 64, 10),
        ("digits-mlp-square", "mlp", 64, 10)]
    assert [layer.activation for layer in models["digits-mlp-square"].layers] == ["square", "none"]
    assert models["digits-logistic-poly3"].layers[0].activation == "poly3"
    for model in models.values():  # useful models, not just agreeing ones
        keep = np.isin(y, model.classes)
        accuracy = np.mean(np.array(model.classes)[model.predict(x[keep])] == y[keep])
        assert accuracy > 0.9, (model.model_id, accuracy)


def test_a_malformed_model_file_is_refused(tmp_path):
    doc = json.loads((DEFAULT_MODELS_DIR / "demo-linear-classifier.json").read_text())
    doc["layers"][0]["bias"] = [0.0]
    with pytest.raises(Exception, match="layer 0"):
        Model.from_json(doc)


def test_the_security_table_is_seals():
    from tenseal import sealapi as sa
    levels = {128: sa.SEC_LEVEL_TYPE.TC128, 192: sa.SEC_LEVEL_TYPE.TC192, 256: sa.SEC_LEVEL_TYPE.TC256}
    for level, table in MAX_COEFF_MODULUS_BITS.items():
        for degree, bits in table.items():
            assert sa.CoeffModulus.MaxBitCount(degree, levels[level]) == bits


@pytest.mark.parametrize("params, words", [
    (CkksParameters(8192, (60, 40, 40, 40, 60), 40), "not 128-bit secure"),
    (CkksParameters(8192, (60, 60), 40), "no rescaling"),
    (CkksParameters(2048, (20, 20, 14), 15), "not supported"),
    (CkksParameters(8192, (60, 40, 60), 16), "imprecise"),
    (CkksParameters(8192, (40, 40, 40), 40), "no room"),
])
def test_insecure_or_useless_parameters_are_refused(params, words):
    with pytest.raises(ParameterError, match=words):
        params.check()


def test_cifer_and_its_cli_load_neither_tenseal_nor_numpy():
    code = ("import sys, cifer.cli, cifer.fhe; cifer.cli.build_parser(); "
            "import fhe_inference_service; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tenseal', 'numpy', 'sklearn'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_service_refuses_to_start_on_a_registry_without_models(tmp_path):
    from proxy.processes import cifer_command
    done = subprocess.run(cifer_command("inference", "--models", str(tmp_path), "--port", "1"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "no model files" in done.stderr
