"""The FHE inference API of seed 004 as both its client and its server spell it: paths, field
names, the details that tell a client what went wrong, and the typed results."""

from __future__ import annotations

import dataclasses

BACKEND = "TenSEAL-CKKS"
SCHEME = "ckks"

HEALTH = "/v1/health"
MODELS = "/v1/models"
REGISTER = "/v1/keys/register"
INFER = "/v1/infer"
SESSION = "/v1/keys/{session_id}"

SESSION_NOT_FOUND = "Session not found or expired"
"""The 404 detail a client answers by registering its keys again (a session expires when idle)."""
MODEL_NOT_FOUND = "Model not found"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One entry of `GET /v1/models`: the seed's fields, then how to pack and key for it."""

    model_id: str
    input_dim: int
    output_dim: int
    scheme: str
    description: str
    model_type: str
    multiplicative_depth: int
    batch_stride: int
    galois_steps: tuple[int, ...]
    classes: tuple[int, ...]

    @classmethod
    def from_json(cls, doc: dict) -> ModelInfo:
        return cls(model_id=doc["model_id"], input_dim=int(doc["input_dim"]), output_dim=int(doc["output_dim"]),
                   scheme=doc["scheme"], description=doc.get("description", ""), model_type=doc.get("model_type", ""),
                   multiplicative_depth=int(doc["multiplicative_depth"]), batch_stride=int(doc["batch_stride"]),
                   galois_steps=tuple(int(s) for s in doc["galois_steps"]),
                   classes=tuple(int(c) for c in doc.get("classes", range(int(doc["output_dim"])))))


@dataclasses.dataclass(frozen=True)
class InferenceResult:
    """One decrypted prediction. `predicted_class` is the model's class with the highest score
    (for the digits models, the digit)."""

    model_id: str
    scores: list[float]
    predicted_class: int
    latency_ms: float
    """The service's own time for the request that carried this input (shared by a batch)."""
    ct_input_bytes: int
    ct_output_bytes: int
    batch_size: int = 1
