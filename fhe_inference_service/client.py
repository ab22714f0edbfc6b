"""`from fhe_inference_service.client import FHEClient`, as seed 004's example flow writes it:
the same client as `from cifer.fhe import FHEClient`."""

from cifer.fhe.client import AsyncFHEClient, FHEClient, FHEServiceError
from cifer.fhe.protocol import InferenceResult

__all__ = ["AsyncFHEClient", "FHEClient", "FHEServiceError", "InferenceResult"]
