"""``--params`` JSON → dataclass of defaults, logging setup and thread limits shared by the scripts."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from typing import Any, TypeVar

T = TypeVar("T")


def parse_params(cls: type[T], text: str | dict[str, Any] | None) -> T:
    """Build ``cls`` (a dataclass) from a JSON object; an unknown key is a ValueError naming it."""
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
    if check is not None:
        check()
    return params


def setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def limit_torch_threads() -> None:
    """Respect ``OMP_NUM_THREADS`` (the rules set it to the job's threads) in torch's intra-op pool."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        import torch

        torch.set_num_threads(int(value))
