"""The models the inference service evaluates, their weight files, their plaintext evaluation
(the reference the encrypted one must agree with), and how they are packed into CKKS slots.

A model is a stack of dense layers `y = x @ W + b`, each followed by an activation a CKKS
circuit can compute: none, `square`, or `poly3` (a cubic, here a polynomial sigmoid).

## Packing (the layout both sides of the wire share)

One input is the model's `input_dim` values repeated cyclically over every slot, as TenSEAL's
`ckks_vector` already encrypts a short vector (slot s holds x[s mod 64]). A batch of n inputs is
n blocks of `batch_stride` slots, block b holding input b repeated cyclically over the block.

A dense layer from p inputs (a power of two, padded) to m outputs (padded to a power of two,
m <= p) costs m plaintext products and about sqrt(m) + log2(p/m) rotations:
1. z = sum over k < m of rot(x, k) * d_k, with the generalized diagonals
   d_k[t] = W[(t + k) mod p, t mod m], computed baby-step giant-step: rot(x, b) for b < B, then
   Horner over the G = m/B giant steps of B slots each;
2. rotate-and-sum z by p/2, p/4, ..., m: slot t now holds y[t mod m], the layer's output repeated
   with period m, which is exactly the input layout of the next layer.
Each rotation by r reads r slots further on, so in a batch block the first `batch_stride -
(p - 1)` slots stay exact after a layer; `batch_stride` is chosen so that the outputs survive
every layer. An answer's slot t (single input) or slot b * batch_stride + t (input b of a batch)
holds score t, for t < output_dim.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cifer.exceptions import CoreError

FORMAT = "cifer-fhe-model/1"
ACTIVATIONS = ("none", "square", "poly3")
MAX_DIM = 1024
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "weights"
"""The weight files `scripts/train-fhe-models` writes and the package ships."""
HELDOUT_FILE = "heldout.json"


class ModelError(CoreError):
    """A weight file that is not a model this service can evaluate."""


@dataclasses.dataclass(frozen=True)
class Layer:
    weights: np.ndarray  # (inputs, outputs)
    bias: np.ndarray  # (outputs,)
    activation: str = "none"
    coefficients: tuple[float, ...] = ()  # poly3: a0 + a1 u + a2 u^2 + a3 u^3

    def apply(self, x: np.ndarray) -> np.ndarray:
        u = x @ self.weights + self.bias
        if self.activation == "square":
            return u * u
        if self.activation == "poly3":
            a0, a1, a2, a3 = self.coefficients
            return a0 + u * (a1 + u * (a2 + u * a3))
        return u


@dataclasses.dataclass(frozen=True)
class Model:
    model_id: str
    model_type: str
    description: str
    layers: tuple[Layer, ...]
    classes: tuple[int, ...]
    output_bound: float
    """Largest |value| any slot holds at the end, over the training data with margin: the result
    prime must hold it above the scale."""

    @property
    def input_dim(self) -> int:
        return self.layers[0].weights.shape[0]

    @property
    def output_dim(self) -> int:
        return self.layers[-1].weights.shape[1]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Plaintext evaluation, (n, input_dim) -> (n, output_dim): the reference."""
        out = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            out = layer.apply(out)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.scores(x), axis=-1)

    @functools.cached_property
    def plan(self) -> Plan:
        """How the model is packed and evaluated; made once (a model never changes)."""
        return plan(self)

    def describe(self) -> dict:
        """The seed's fields of `GET /v1/models`, then what a client needs to pack and key for it."""
        p = self.plan
        return {"model_id": self.model_id, "input_dim": self.input_dim, "output_dim": self.output_dim,
                "scheme": "ckks", "description": self.description, "model_type": self.model_type,
                "multiplicative_depth": p.depth, "batch_stride": p.batch_stride,
                "galois_steps": list(p.galois_steps), "classes": list(self.classes)}

    # --- the weight file -------------------------------------------------------------------

    def to_json(self, **extra) -> dict:
        return {"format": FORMAT, "model_id": self.model_id, "model_type": self.model_type,
                "description": self.description, "classes": list(self.classes), "output_bound": self.output_bound,
                "layers": [{"weights": layer.weights.tolist(), "bias": layer.bias.tolist(),
                            "activation": layer.activation, "coefficients": list(layer.coefficients)}
                           for layer in self.layers], **extra}

    @classmethod
    def from_json(cls, doc: dict) -> Model:
        try:
            if doc.get("format") != FORMAT:
                raise ModelError(f"not a {FORMAT} file")
            layers = tuple(_layer(raw) for raw in doc["layers"])
            model = cls(model_id=str(doc["model_id"]), model_type=str(doc["model_type"]),
                        description=str(doc["description"]), layers=layers,
                        classes=tuple(int(c) for c in doc["classes"]), output_bound=float(doc["output_bound"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed model file: {exc}") from None
        _validate(model)
        return model


def _layer(raw: dict) -> Layer:
    weights = np.array(raw["weights"], dtype=np.float64)
    bias = np.array(raw["bias"], dtype=np.float64)
    coefficients = tuple(float(c) for c in raw.get("coefficients", ()))
    return Layer(weights=weights, bias=bias, activation=str(raw.get("activation", "none")), coefficients=coefficients)


def _validate(model: Model) -> None:
    if not model.layers:
        raise ModelError(f"{model.model_id}: no layers")
    if model.input_dim != _pow2(model.input_dim):  # inputs are repeated with this period over the slots
        raise ModelError(f"{model.model_id}: input_dim {model.input_dim} is not a power of two")
    width = model.input_dim
    for i, layer in enumerate(model.layers):
        w, b = layer.weights, layer.bias
        if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],) or not 1 <= w.shape[1] <= MAX_DIM:
            raise ModelError(f"{model.model_id}: layer {i} has weights {w.shape} and bias {b.shape} after {width} inputs")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ModelError(f"{model.model_id}: layer {i} has non-finite weights")
        if _pow2(w.shape[1]) > _pow2(w.shape[0]):
            raise ModelError(f"{model.model_id}: layer {i} widens ({w.shape[0]} -> {w.shape[1]}); not packable")
        if layer.activation not in ACTIVATIONS:
            raise ModelError(f"{model.model_id}: layer {i} has activation {layer.activation!r}")
        if layer.activation == "poly3" and (len(layer.coefficients) != 4 or layer.coefficients[3] == 0):
            raise ModelError(f"{model.model_id}: a poly3 activation needs 4 coefficients, the cubic one non-zero")
        width = w.shape[1]
    if len(model.classes) != model.output_dim or not (0 < model.output_bound < 2.0**40):
        raise ModelError(f"{model.model_id}: classes or output_bound do not fit its outputs")


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


# --- packing --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """One dense layer as the CKKS circuit computes it (see the module docstring)."""

    p: int  # inputs, padded to a power of two: the period of the input layout
    m: int  # outputs, padded: the period of the output layout
    outputs: int
    baby: int  # B
    giant: int  # G = m / B
    weights: np.ndarray  # (p, m), zero-padded, already multiplied by a poly3's cube-root factor
    bias: np.ndarray  # (m,)
    activation: str
    coefficients: tuple[float, ...]  # poly3, rewritten for w = c u: a0 + a1' w + a2' w^2 + w^3

    @property
    def fold_steps(self) -> tuple[int, ...]:
        steps, step = [], self.p // 2
        while step >= self.m:
            steps.append(step)
            step //= 2
        return tuple(steps)

    @property
    def reach(self) -> int:
        """How many slots further on the layer reads: (B-1) + (G-1) B + (p - m) = p - 1."""
        return self.p - 1

    @property
    def depth(self) -> int:
        return 1 + {"none": 0, "square": 1, "poly3": 2}[self.activation]

    def diagonals(self, slot_count: int, stride: int) -> list[list[np.ndarray]]:
        """[g][b]: rot(d_{gB+b}, -gB) over every slot, each block of `stride` slots on its own."""
        pos = np.arange(slot_count) % stride
        out = []
        for g in range(self.giant):
            row = []
            for b in range(self.baby):
                k = g * self.baby + b
                t = (pos - g * self.baby) % self.p
                row.append(self.weights[(t + k) % self.p, t % self.m])
            out.append(row)
        return out

    def bias_vector(self, slot_count: int, stride: int) -> np.ndarray:
        return self.bias[(np.arange(slot_count) % stride) % self.m]


@dataclasses.dataclass(frozen=True)
class Plan:
    layers: tuple[LayerPlan, ...]
    input_dim: int
    output_dim: int

    @property
    def depth(self) -> int:
        return sum(layer.depth for layer in self.layers)

    @property
    def galois_steps(self) -> tuple[int, ...]:
        steps: set[int] = set()
        for layer in self.layers:
            if layer.baby > 1:
                steps.add(1)
            if layer.giant > 1:
                steps.add(layer.baby)
            steps.update(layer.fold_steps)
        return tuple(sorted(steps))

    @property
    def needs_relin_keys(self) -> bool:
        return any(layer.activation != "none" for layer in self.layers)

    @property
    def batch_stride(self) -> int:
        """Slots per input in a batch: what every layer's rotations read, plus the outputs."""
        return sum(layer.reach for layer in self.layers) + self.output_dim

    def batch_capacity(self, slot_count: int) -> int:
        return slot_count // self.batch_stride

    def final_scale(self, scale: float, primes: list[int]) -> float:
        """The result's scale, given the input's and the primes dropped in order (plaintext
        weights are encoded at the prime they are rescaled by, so only products of two
        ciphertexts move the scale)."""
        level = iter(primes)
        for layer in self.layers:
            next(level)
            if layer.activation == "square":
                scale = scale * scale / next(level)
            elif layer.activation == "poly3":
                squared = scale * scale / next(level)
                scale = squared * scale / next(level)
        return scale


def plan(model: Model) -> Plan:
    layers = []
    p = _pow2(model.input_dim)
    for layer in model.layers:
        n_in, n_out = layer.weights.shape
        m = _pow2(n_out)
        weights = np.zeros((p, m))
        weights[:n_in, :n_out] = layer.weights
        bias = np.zeros(m)
        bias[:n_out] = layer.bias
        coefficients = layer.coefficients
        if layer.activation == "poly3":  # w = c u with c^3 = a3, so that the cubic term costs no constant
            a0, a1, a2, a3 = coefficients
            c = float(np.cbrt(a3))
            weights, bias = weights * c, bias * c
            coefficients = (a0, a1 / c, a2 / (c * c), 1.0)
        baby = 1 << (int(math.log2(m)) + 1) // 2
        layers.append(LayerPlan(p=p, m=m, outputs=n_out, baby=baby, giant=m // baby, weights=weights, bias=bias,
                                activation=layer.activation, coefficients=coefficients))
        p = m
    return Plan(layers=tuple(layers), input_dim=model.input_dim, output_dim=model.output_dim)


def pack_single(x: np.ndarray, slot_count: int) -> np.ndarray:
    """One input repeated over every slot (what TenSEAL's ckks_vector does with a short vector)."""
    return np.resize(np.asarray(x, dtype=np.float64), slot_count)


def pack_batch(xs: np.ndarray, stride: int) -> np.ndarray:
    """n inputs, each repeated over its own block of `stride` slots."""
    xs = np.asarray(xs, dtype=np.float64)
    return np.concatenate([np.resize(x, stride) for x in xs])


def unpack_batch(values: np.ndarray, n: int, stride: int, output_dim: int) -> np.ndarray:
    return np.asarray(values[:n * stride]).reshape(n, stride)[:, :output_dim]


# --- the registry ----------------------------------------------------------------------------

def load_models(directory: Path = DEFAULT_MODELS_DIR) -> dict[str, Model]:
    """Every `*.json` model file of a directory (the held-out split file aside), by model id."""
    models: dict[str, Model] = {}
    for path in sorted(Path(directory).glob("*.json")):
        if path.name == HELDOUT_FILE:
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: {exc}") from None
        model = Model.from_json(doc)
        if model.model_id in models:
            raise ModelError(f"{path}: model id {model.model_id} twice")
        models[model.model_id] = model
    if not models:
        raise ModelError(f"no model files in {directory}")
    return models


def heldout_indices(directory: Path = DEFAULT_MODELS_DIR) -> list[int]:
    """Indices into `sklearn.datasets.load_digits()` kept out of training."""
    return list(json.loads((Path(directory) / HELDOUT_FILE).read_text())["indices"])


def iter_batches(items, size: int) -> Iterator:
    for start in range(0, len(items), size):
        yield items[start:start + size]
