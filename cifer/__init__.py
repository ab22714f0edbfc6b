"""CIFER: zero-key, post-quantum encryption for workloads on Kubernetes.

`from cifer import CiferClient` is the seed's SDK import (§6.4). The SDK's names are loaded on
first use, so importing `cifer` (as every service and the CLI do) does not load aiohttp.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def _sdk() -> Any:
    # import_module, not `from cifer import sdk`: that would ask this module's __getattr__ again
    return importlib.import_module("cifer.sdk")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    sdk = _sdk()
    if name not in sdk.EXPORTS:  # the table of public SDK names lives there, once
        raise AttributeError(f"module 'cifer' has no attribute {name!r}")
    value = getattr(sdk, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_sdk().EXPORTS})
