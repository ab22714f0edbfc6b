import aiohttp
import pytest

from proxy.processes import Api, keyservice_process, sidecar_process


@pytest.fixture
def key_service(tmp_path):
    with keyservice_process(tmp_path / "keyservice") as service:
        yield service


@pytest.fixture
def sidecar_url(key_service):
    with sidecar_process(key_service.url, "--public-key-ttl", "1") as url:
        yield url


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def alice(http, key_service, sidecar_url):
    return Api(http, sidecar_url, key_service.api_key("usr_alice"))
