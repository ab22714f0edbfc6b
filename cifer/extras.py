"""The optional dependencies. Each comes with an extra of the `cifer` distribution (pyproject.toml:
operator, postgres, redis, hsm, fhe, reports, grpc, all); without it, the feature that needs it says so in one
line that names the extra, never with an ImportError traceback."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from cifer.exceptions import CoreError

DISTRIBUTION = "cifer"


def install(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def needs(feature: str, extra: str) -> str:
    """The one line a missing extra is reported with."""
    return f"{feature} needs the {extra} extra: {install(extra)}"


class MissingExtra(CoreError):
    """A feature was asked for whose extra is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(needs(feature, extra))
        self.extra = extra


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Imports `module`, which `extra` installs; raises MissingExtra if it is not installed.
    A module that is installed but fails to import raises as usual: that is a bug, not a choice."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise
        raise MissingExtra(feature, extra) from None


def importable(module: str) -> bool:
    """Whether a top-level `module` is installed, found without importing it."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def missing(extra: str) -> list[str]:
    """The distributions `extra` adds that are not installed, read from the installed metadata
    (so nothing is imported to find out)."""
    from importlib import metadata  # here: importlib.metadata costs every process that loads this ~0.7 MiB

    marker = re.compile(rf"""^([A-Za-z0-9][A-Za-z0-9._-]*).*;.*\bextra\s*==\s*["']{re.escape(extra)}["']""")
    absent = []
    for requirement in metadata.requires(DISTRIBUTION) or []:
        found = marker.match(requirement)
        if found is None:
            continue
        try:
            metadata.distribution(found[1])
        except metadata.PackageNotFoundError:
            absent.append(found[1])
    return absent
