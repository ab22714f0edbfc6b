"""Encrypted inference (seed 004): CKKS parameters, the models and their packing, the SEAL
evaluation, and the client, `from cifer.fhe import FHEClient`.

Names load on first use: importing `cifer.fhe` loads neither numpy nor TenSEAL, and TenSEAL is
loaded only when keys are made or a ciphertext is touched (`pip install 'cifer[fhe]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cifer import lazy

EXPORTS: dict[str, str] = {
    "FHEClient": "cifer.fhe.client",
    "AsyncFHEClient": "cifer.fhe.client",
    "FHEServiceError": "cifer.fhe.client",
    "InferenceResult": "cifer.fhe.protocol",
    "ModelInfo": "cifer.fhe.protocol",
    "CkksParameters": "cifer.fhe.params",
    "DEFAULT_PARAMETERS": "cifer.fhe.params",
    "CkksKeyring": "cifer.fhe.keys",
    "FHEUnavailable": "cifer.fhe.seal",
}
"""Public name -> the module that defines it."""
__all__ = sorted(EXPORTS)


__getattr__, __dir__ = lazy.exports(__name__, EXPORTS)


if TYPE_CHECKING:
    from cifer.fhe.client import AsyncFHEClient, FHEClient, FHEServiceError
    from cifer.fhe.keys import CkksKeyring
    from cifer.fhe.params import DEFAULT_PARAMETERS, CkksParameters
    from cifer.fhe.protocol import InferenceResult, ModelInfo
    from cifer.fhe.seal import FHEUnavailable
