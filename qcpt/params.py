"""``--params JSON`` → a dataclass of hyper-parameters, shared by every entry point.

Kept to the standard library: the query-generation driver imports it inside a vLLM environment.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from typing import Any, TypeVar

T = TypeVar("T")


def parse_params(cls: type[T], text: str | dict[str, Any] | None) -> T:
    """Build ``cls`` (a dataclass) from a JSON object or a dict; an unknown key is a ValueError
    naming it, and a ``validate()`` method, where the class has one, runs on the result."""
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
            raise ValueError(f"--params: unknown key {key!r} for {cls.__name__} (known: {', '.join(sorted(known))})")
    params = cls(**raw)
    check = getattr(params, "validate", None)
    if callable(check):
        check()
    return params


def setup_logging() -> None:
    """One log format for every script: timestamps to stderr, which the rules send to the job's log."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
