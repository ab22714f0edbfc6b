"""What the FHE tests share: the service as a real process, the digits, the shipped models, a
registered client."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from inference.processes import NO_LIMITS, inference_process


@pytest.fixture(scope="session")
def service(tmp_path_factory) -> Iterator[str]:
    """The service as shipped, seed limits raised."""
    with inference_process(tmp_path_factory.mktemp("inference"), *NO_LIMITS) as url:
        yield url


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits
    return load_digits()


@pytest.fixture(scope="session")
def models():
    from cifer.fhe.models import load_models
    return load_models()


@pytest.fixture(scope="session")
def heldout(digits) -> tuple[np.ndarray, np.ndarray]:
    from cifer.fhe.models import heldout_indices
    index = np.array(heldout_indices())
    return digits.data[index], digits.target[index]


@pytest.fixture(scope="session")
def client(service):
    """An FHEClient with registered keys (default parameters), shared by the tests."""
    from cifer.fhe import FHEClient
    fhe = FHEClient(service)
    fhe.setup()
    fhe.register_keys()
    yield fhe
    fhe.close()
