"""The import path of seed 004's example flow (`from fhe_inference_service.client import
FHEClient`); the client itself is `cifer.fhe`."""
