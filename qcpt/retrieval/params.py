"""``--params`` JSON → dataclass of defaults, logging setup and thread limits shared by the scripts."""

from __future__ import annotations

import os

from ..params import parse_params, setup_logging

__all__ = ["limit_torch_threads", "parse_params", "setup_logging"]


def limit_torch_threads() -> None:
    """Respect ``OMP_NUM_THREADS`` (the rules set it to the job's threads) in torch's intra-op pool."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        import torch

        torch.set_num_threads(int(value))
