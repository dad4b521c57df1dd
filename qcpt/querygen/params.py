"""``--params JSON`` → dataclass, with unknown keys named in the error."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

T = TypeVar("T")


def parse_params(cls: type[T], text: str | dict[str, Any] | None) -> T:
    if text is None:
        raw: Any = {}
    elif isinstance(text, dict):
        raw = text
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
    return cls(**raw)
