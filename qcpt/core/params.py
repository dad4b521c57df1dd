"""``--params JSON`` → a dataclass of hyper-parameters, shared by every entry point.

The dataclasses are the one description of what a job accepts: the scripts parse their ``--params``
with :func:`parse_params`, and :mod:`qcpt.config` runs the same parser on every parameter block of the
config before the first job (a bad value is then reported with its config key path). So the classes
live in import-light modules (no torch, transformers or nltk at import time).

Kept to the standard library: the query-generation driver imports it inside a vLLM environment.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that does not validate; the message names the key. (Here, beside ParamsError, so
    the workflow layer and the config validator share it without importing each other.)"""


class ParamsError(ValueError):
    """One bad parameter: ``key`` is the field (None for the object as a whole), ``reason`` what is
    wrong with it. The config validator re-homes ``key`` under the config key path it came from."""

    def __init__(self, key: str | None, reason: str, message: str | None = None) -> None:
        self.key = key
        self.reason = reason
        super().__init__(message or (f"params.{key}: {reason}" if key else f"params: {reason}"))


def unknown_key(key: str, known: Iterable[str]) -> ParamsError:
    """The error for a key a parameter object does not have, with the closest known key."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ParamsError(key, f"unknown key {key!r} ({hint}known: {', '.join(known)})")


def _describe(hint: Any) -> str | None:
    """What a JSON value of type ``hint`` looks like, in words; None where we do not check it."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in typing.get_args(hint) if a is not type(None)]
        return None if None in parts else " or ".join(parts)  # type: ignore[arg-type]
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is dict or origin is dict:
        return "an object"
    if hint in (list, tuple) or origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings", "true or false": "booleans"}
        inner = plural.get(_describe(args[0]) or "") if len(args) == 1 else None
        return f"a list of {inner}" if inner else "a list"
    return None


def _conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if hint in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return len(args) != 1 or all(_conforms(v, args[0]) for v in value)
    return True  # nested dataclasses (e.g. few-shot examples) check themselves


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_float_field(hint: Any) -> bool:
    """``float`` or ``float | None``: an integer given there becomes a float."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(hint) if a is not type(None)] == [float]
    return hint is float


def check_types(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against the field types of ``cls`` (JSON types: an integer where ``int``,
    a number where ``float``, ...; null only where the field allows None); integers given for
    ``float`` fields come back as floats. Raises :class:`ParamsError` naming the first bad field."""
    hints = _hints(cls)
    out = dict(values)
    for name, value in values.items():
        hint = hints.get(name)
        if hint is None:
            continue
        if not _conforms(value, hint):
            raise ParamsError(name, f"expected {_describe(hint) or 'another type'}, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and _is_float_field(hint):
            out[name] = float(value)
    return out


def parse_params(cls: type[T], text: str | dict[str, Any] | None) -> T:
    """Build ``cls`` (a dataclass) from a JSON object or a dict: an unknown key, a value of the wrong
    JSON type or one out of range is a :class:`ParamsError` (a ValueError) naming the field; a
    ``validate()`` method, where the class has one, runs on the result."""
    if text is None:
        raw: Any = {}
    elif isinstance(text, dict):
        raw = dict(text)
    else:
        try:
            raw = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"--params: bad JSON ({err.msg}, column {err.colno})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"--params must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            raise unknown_key(key, known)
    params = cls(**check_types(cls, raw))
    check = getattr(params, "validate", None)
    if callable(check):
        check()
    return params


def setup_logging() -> None:
    """One log format for every script: timestamps to stderr, which the rules send to the job's log."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
