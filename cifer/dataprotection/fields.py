"""Field-level encryption: which members of a JSON object are sealed on their own.

A field is named by a JSON Pointer (RFC 6901, `/vitals/heartRate`) or a dotted path
(`vitals.heartRate`); both are held as the pointer, which is what an envelope records in its
`cifer:field` metadata. A path walks objects by member name and arrays by index. Every named
field must exist, none may contain another, and at most `MAX_FIELDS` are named.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

from cifer.dataprotection.values import UnsealableValue

MAX_FIELDS = 64
MAX_PATH_CHARS = 512
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def pointer(spec: Any, field: str = "fields") -> tuple[str, ...]:
    """The reference tokens of a pointer or dotted path."""
    if not isinstance(spec, str) or not spec or len(spec) > MAX_PATH_CHARS:
        raise UnsealableValue(field, f"each must be a JSON Pointer or dotted path of 1 to {MAX_PATH_CHARS} characters")
    if spec.startswith("/"):
        tokens = spec[1:].split("/")
        if any(re.search(r"~(?![01])", token) for token in tokens):
            raise UnsealableValue(field, f"{spec!r} is not a JSON Pointer (~ must be ~0 or ~1)")
        return tuple(token.replace("~1", "/").replace("~0", "~") for token in tokens)
    tokens = spec.split(".")
    if not all(tokens):
        raise UnsealableValue(field, f"{spec!r} has an empty step")
    return tuple(tokens)


def spelled(tokens: Sequence[str]) -> str:
    """The JSON Pointer of `tokens`."""
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def chosen(specs: Any, field: str = "fields") -> list[tuple[str, ...]]:
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_FIELDS:
        raise UnsealableValue(field, f"must be a list of 1 to {MAX_FIELDS} field paths")
    paths = [pointer(spec, field) for spec in specs]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if a[:len(b)] == b or b[:len(a)] == a:
                raise UnsealableValue(field, f"{spelled(a)} and {spelled(b)} overlap")
    return paths


def _parent(document: Any, tokens: Sequence[str], field: str) -> tuple[Any, str | int]:
    node = document
    for depth, token in enumerate(tokens):
        key: str | int = token
        if isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
            key = int(token)
        elif not (isinstance(node, dict) and token in node):
            raise UnsealableValue(field, f"{spelled(tokens[:depth + 1])} is not in data")
        if depth == len(tokens) - 1:
            return node, key
        node = node[key]
    raise UnsealableValue(field, "the whole value is not a field")  # an empty pointer


def replace(document: Any, paths: Sequence[tuple[str, ...]], change: Callable[[tuple[str, ...], Any], Any],
            field: str = "fields") -> Any:
    """A deep copy of `document` with the value at each path replaced by `change(path, value)`."""
    if not isinstance(document, (dict, list)):
        raise UnsealableValue("data", "must be a JSON object to encrypt fields of it")
    out = copy.deepcopy(document)
    for path in paths:
        parent, key = _parent(out, path, field)
        parent[key] = change(path, parent[key])
    return out
