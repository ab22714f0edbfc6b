"""Settings declared once: a setting's flag, environment variable and help live on its
dataclass field, and the command line derives from them.

    port: int = setting("--port", default=8080)
    \"\"\"The port applications call (seed §10.4).\"\"\"

- `add_flags(parser, Settings)` puts the class's flags on an argparse parser; the help is the
  field's docstring unless `help=` says otherwise.
- `from_arguments(Settings, args)` builds the settings from what was parsed: a flag not given
  falls back to its environment variable, then to the field's default. A field whose type is
  another settings class is built from that class's flags (present, when optional, as soon as
  one of them is given).
- `to_arguments(settings)` gives the flags that `from_arguments` turns back into `settings`
  (how the injector configures the sidecar); `to_environment` gives the environment variables.

Flags are spelled out on the field, never derived from its name, so that grepping for one
finds its declaration. A setting's unit is in the field's name (`public_key_ttl_s`); its flag
keeps the name the command line has always had (`--public-key-ttl SECONDS`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import os
import textwrap
import types
import typing
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from cifer.exceptions import CoreError

KEY = "cifer.setting"  # the field metadata key


class SettingsError(CoreError):
    """The command line and environment do not make settings: a required one is missing, or an
    environment variable does not parse. The message names the flags; `cifer` prints it in one
    line after the command's name."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """What `setting()` puts on a field."""

    flag: str | None
    """`--port`; None: read from the environment only."""
    env: str | None = None
    """The environment variable that stands in for the flag when it is not given."""
    help: str | None = None
    """Help text; None: the field's docstring."""
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    """One word to a value (to one item, for a repeated flag); None: the field's type."""
    collect: Callable[[list[Any]], Any] | None = None
    """The items of a repeated flag to the field's value; None: the field's own collection type."""
    show: Callable[[Any], list[str]] | None = None
    """The field's value to its words (one per repetition), the inverse of parse and collect."""
    none_flag: str | None = None
    """A flag that sets the field to None (`--standalone`), exclusive with `flag`."""
    none_help: str | None = None


def setting(
    flag: str | None,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    env: str | None = None,
    help: str | None = None,  # noqa: A002 - argparse's name
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    collect: Callable[[list[Any]], Any] | None = None,
    show: Callable[[Any], list[str]] | None = None,
    none_flag: str | None = None,
    none_help: str | None = None,
    repr: bool = True,  # noqa: A002 - dataclasses' name
) -> Any:
    """A dataclass field that is also a command-line setting."""
    if flag is None and env is None:
        raise TypeError("a setting needs a flag, an environment variable or both")
    spec = Setting(flag, env, help, metavar, parse, collect, show, none_flag, none_help)
    return dataclasses.field(default=default, default_factory=default_factory, repr=repr, metadata={KEY: spec})


# ------------------------------------------------------------------ what a field is


@dataclasses.dataclass(frozen=True)
class _Kind:
    inner: Any        # the field's type without None
    optional: bool
    nested: bool      # the type is itself a settings dataclass
    switch: bool      # a flag without a value (bool, or the presence of nested settings)
    repeated: bool
    parse: Callable[[str], Any] | None
    collect: Callable[[list[Any]], Any] | None


def spec_of(field: dataclasses.Field) -> Setting | None:
    return field.metadata.get(KEY)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(cls: type, field: dataclasses.Field) -> _Kind:
    spec = spec_of(field) or Setting(None)
    hint = _hints(cls)[field.name]
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    inner = [m for m in members if m is not type(None)]
    optional = len(inner) < len(members)
    kind = inner[0] if len(inner) == 1 else hint
    origin = typing.get_origin(kind)
    nested = dataclasses.is_dataclass(kind) and spec.parse is None
    if spec.collect is not None:
        return _Kind(kind, optional, False, False, True, spec.parse, spec.collect)
    if origin in (tuple, frozenset):
        item = typing.get_args(kind)[0]
        return _Kind(kind, optional, False, False, True, spec.parse or item, origin)
    switch = kind is bool or nested
    return _Kind(kind, optional, nested, switch, False, None if switch else spec.parse or kind, None)


def default_of(field: dataclasses.Field) -> Any:
    """The field's default (a default_factory called), or dataclasses.MISSING."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@functools.cache
def docstrings(cls: type) -> dict[str, str]:
    """The docstring under each field of `cls`, read from its source; empty if the source
    cannot be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            found[node.target.id] = " ".join(after.value.value.split())
    return found


def _words(spec: Setting, kind: _Kind, value: Any) -> list[str]:
    if spec.show is not None:
        return spec.show(value)
    return [str(item) for item in value] if kind.repeated else [str(value)]


def _help(cls: type, field: dataclasses.Field, spec: Setting, kind: _Kind) -> str:
    text = spec.help if spec.help is not None else docstrings(cls).get(field.name, "")
    default = field.default  # a default_factory's value is not computed for help
    shown = "" if any(default is x for x in (None, False, dataclasses.MISSING)) or kind.switch else " ".join(
        _words(spec, kind, default))
    if spec.env:
        text += f" (default ${spec.env}{', else ' + shown if shown else ''})"
    elif shown:
        text += f" (default {shown})"
    if kind.repeated:
        text += " (repeatable)"
    return text.replace("%", "%%")  # argparse formats help with %


# ------------------------------------------------------------------ the command line


def add_flags(parser: argparse._ActionsContainer, cls: type, *, only: Collection[str] | None = None,
              again: bool = False) -> None:
    """The flags of `cls`'s own settings (not those of nested settings classes: add them to
    their own argument group), or of the fields named in `only`. `again`: the parser is a
    subcommand's and its parent has these flags too, so they may come after the subcommand's
    name as well as before it (argparse would otherwise let the subcommand's unset flags erase
    the parent's)."""
    default = argparse.SUPPRESS if again else None
    for field in dataclasses.fields(cls):
        spec = spec_of(field)
        if spec is None or spec.flag is None or (only is not None and field.name not in only):
            continue
        kind = _kind(cls, field)
        target = parser.add_mutually_exclusive_group() if spec.none_flag else parser
        common = {"dest": _dest(spec.flag), "default": default, "help": _help(cls, field, spec, kind)}
        if kind.switch:
            target.add_argument(spec.flag, action="store_true", **common)
        else:
            target.add_argument(spec.flag, action="append" if kind.repeated else "store", type=kind.parse,
                                metavar=spec.metavar, **common)
        if spec.none_flag:
            target.add_argument(spec.none_flag, dest=_dest(spec.none_flag), action="store_true", default=default,
                                help=spec.none_help)


def _describe(spec: Setting) -> str:
    return " or ".join(part for part in (spec.flag, spec.env and f"${spec.env}") if part)


def _given(cls: type, args: argparse.Namespace) -> bool:
    """Whether any flag or environment variable of `cls` or of its nested settings is set."""
    for field in dataclasses.fields(cls):
        spec, kind = spec_of(field), _kind(cls, field)
        if spec is not None and (
                (spec.flag and getattr(args, _dest(spec.flag), None) is not None)
                or (spec.none_flag and getattr(args, _dest(spec.none_flag), None))
                or (spec.env and os.environ.get(spec.env))):
            return True
        if spec is None and kind.nested and _given(kind.inner, args):
            return True
    return False


_UNSET = object()


def _value(cls: type, field: dataclasses.Field, args: argparse.Namespace) -> Any:
    spec, kind = spec_of(field), _kind(cls, field)
    if kind.nested and (spec is None or not spec.flag or not getattr(args, _dest(spec.flag), None)):
        if not kind.optional:
            return from_arguments(kind.inner, args)
        if not _given(kind.inner, args):
            return _UNSET
        try:
            return from_arguments(kind.inner, args)
        except SettingsError:
            required = [_describe(spec_of(f)) for f in dataclasses.fields(kind.inner)
                        if default_of(f) is dataclasses.MISSING and spec_of(f)]
            if len(required) < 2:
                raise
            raise SettingsError(f"{', '.join(required[:-1])} and {required[-1]} go together") from None
    if spec is None:
        return _UNSET
    if spec.none_flag and getattr(args, _dest(spec.none_flag), None):
        return None
    raw = getattr(args, _dest(spec.flag), None) if spec.flag else None
    if raw is not None:
        if kind.nested:
            return from_arguments(kind.inner, args)
        return kind.collect(raw) if kind.repeated else raw
    text = os.environ.get(spec.env) if spec.env else None
    if not text:
        return _UNSET
    parse = kind.parse or str
    try:
        value = parse(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise SettingsError(f"${spec.env}: {exc}") from None
    return kind.collect([value]) if kind.repeated else value


def from_arguments(cls: type, args: argparse.Namespace, /, *, defaults: dict[str, Any] | None = None,
                   only: Collection[str] | None = None, **given: Any) -> Any:
    """`cls` from parsed arguments, the environment and its defaults. `given` fields are taken as
    they are, and `defaults` stand in for the fields' own (what a command works out itself: a
    file in its data directory); with `only`, the other fields keep their defaults whatever the
    environment says. SettingsError if a required one is missing."""
    values = dict(given)
    for field in dataclasses.fields(cls):
        if field.name in values or (only is not None and field.name not in only):
            continue
        if (value := _value(cls, field, args)) is not _UNSET:
            values[field.name] = value
    values = {**(defaults or {}), **values}
    missing = [field for field in dataclasses.fields(cls)
               if field.name not in values and default_of(field) is dataclasses.MISSING]
    if missing:
        names = [_describe(spec) if (spec := spec_of(f)) else f.name for f in missing]
        raise SettingsError(f"name {' and '.join(names)}")
    return cls(**values)


def to_arguments(value: Any, *, always: Collection[str] = (), leave_out: Collection[str] = ()) -> list[str]:
    """The flags that give `value` back through `from_arguments`, in field order: each setting
    that differs from its default, and those named in `always`. Fields in `leave_out` are left
    to the caller (`to_environment`)."""
    cls, words = type(value), []
    for field in dataclasses.fields(cls):
        if field.name in leave_out:
            continue
        spec, kind, current = spec_of(field), _kind(cls, field), getattr(value, field.name)
        if kind.nested and spec is None:
            words += [] if current is None else to_arguments(current)
            continue
        if current == default_of(field) and field.name not in always:
            continue
        if spec is None or spec.flag is None:
            raise ValueError(f"{cls.__name__}.{field.name} has no flag"
                             + (f": pass it as ${spec.env}" if spec and spec.env else ""))
        if current is None:
            if not spec.none_flag:
                raise ValueError(f"{cls.__name__}.{field.name}: None has no flag")
            words.append(spec.none_flag)
        elif kind.nested:
            words += [spec.flag, *to_arguments(current)]
        elif kind.switch:
            if current:
                words.append(spec.flag)
        else:
            words += [word for item in _words(spec, kind, current) for word in (spec.flag, item)]
    return words


def to_environment(value: Any, names: Collection[str]) -> dict[str, str]:
    """The environment variables of the fields named in `names` that are set (not None)."""
    env = {}
    for field in dataclasses.fields(type(value)):
        current = getattr(value, field.name)
        if field.name in names and current is not None:
            spec = spec_of(field)
            if spec is None or spec.env is None:
                raise ValueError(f"{type(value).__name__}.{field.name} has no environment variable")
            env[spec.env] = str(current)
    return env


def declared(cls: type) -> Iterator[Setting]:
    """Every setting of `cls` and of the settings classes nested in it (union members too)."""
    for field in dataclasses.fields(cls):
        spec = spec_of(field)
        if spec is not None:
            yield spec
        hint = _hints(cls)[field.name]
        members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        for member in members:
            if dataclasses.is_dataclass(member) and (spec is None or spec.parse is None):
                yield from declared(member)


# ------------------------------------------------------------------ rate-limit tables


def limit_overrides(table: type, window: type) -> dict[str, Any]:
    """`setting()` arguments for `--rate-limit CATEGORY=LIMIT/WINDOW_S` overrides of a table of
    limits: a frozen dataclass whose fields of type `window` (with `limit` and `window_s`) are
    the categories."""
    defaults = table()
    categories = tuple(f.name for f in dataclasses.fields(table) if isinstance(getattr(defaults, f.name), window))

    def parse(spec: str) -> tuple[str, Any]:
        category, _, rest = spec.partition("=")
        limit, _, window_s = rest.partition("/")
        if category not in categories or not (limit.isdigit() and window_s.isdigit() and int(limit)
                                              and int(window_s)):
            raise argparse.ArgumentTypeError(f"{spec!r} is not CATEGORY=LIMIT/WINDOW_S with positive numbers "
                                             f"and a category of {', '.join(categories)}")
        return category, window(int(limit), int(window_s))

    def show(limits: Any) -> list[str]:
        changed = [(name, getattr(limits, name)) for name in categories if getattr(limits, name) != getattr(defaults, name)]
        return [f"{name}={each.limit}/{each.window_s:g}" for name, each in changed]

    return {"parse": parse, "collect": lambda pairs: dataclasses.replace(defaults, **dict(pairs)), "show": show,
            "metavar": "CATEGORY=LIMIT/WINDOW_S",
            "help": f"override one category's limit, e.g. {categories[0]}=100/60; categories: {', '.join(categories)}"}
