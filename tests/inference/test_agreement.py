"""Encrypted predictions agree with plaintext ones on the held-out digits, for every model,
through the real service, with slot packing (many inputs per ciphertext)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

MODELS = ["demo-linear-classifier", "digits-logistic-poly3", "digits-mlp-square"]


@pytest.mark.parametrize("model_id", MODELS)
def test_encrypted_predictions_match_plaintext_on_the_heldout_digits(client, models, heldout, model_id, capsys):
    model = models[model_id]
    x, y = heldout
    x = x[np.isin(y, model.classes)]  # the demo model knows digits 0, 1 and 2 only
    results = client.infer_batch(model_id, x)
    encrypted = np.array([r.scores for r in results])
    plain = model.scores(x)
    agreement = float(np.mean(encrypted.argmax(axis=1) == plain.argmax(axis=1)))
    error = float(np.abs(encrypted - plain).max())
    with capsys.disabled():
        print(f"\n{model_id}: agreement {agreement:.4f} on {len(x)} held-out digits, max |score error| "
              f"{error:.2e}, {results[0].batch_size} inputs per ciphertext", file=sys.stderr)
    assert agreement >= 0.99, (agreement, error)
    assert results[0].batch_size > 1  # packed: many inputs per ciphertext
    labels = np.array(model.classes)[encrypted.argmax(axis=1)]
    assert [r.predicted_class for r in results] == labels.tolist()


def test_one_input_and_a_batch_of_one_give_the_same_scores(client, heldout):
    x = heldout[0][0]
    single = client.infer("digits-mlp-square", x)
    batched = client.infer_batch("digits-mlp-square", x[None])[0]
    assert np.abs(np.array(single.scores) - np.array(batched.scores)).max() < 1e-3
    assert single.predicted_class == batched.predicted_class
