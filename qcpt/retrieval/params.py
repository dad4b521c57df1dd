"""Job parameters of the retrieval scripts (``--params`` JSON → dataclass), the shared parser,
logging set-up and thread limits.

The dense scripts' parameter classes live here rather than beside their code so that validating a
config (qcpt.config, at DAG-build time) reads them without importing torch or transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core.params import ParamsError, parse_params, setup_logging
from ..training.batching import BatchPlan, plan_from_settings
from ..training.params import TrainerParams

__all__ = [
    "POOLINGS", "DenseSearchParams", "EncodeParams", "FinetuneParams", "limit_torch_threads",
    "parse_params", "setup_logging",
]

POOLINGS = ("cls", "mean")


def _title_join(value: str) -> None:
    from .data import TITLE_JOINS

    if value not in TITLE_JOINS:
        raise ParamsError("title_join", f"{value!r} is not one of {', '.join(TITLE_JOINS)}")


def _pooling(value: str | None) -> None:
    if value is not None and value not in POOLINGS:
        raise ParamsError("pooling", f"{value!r} is not one of {', '.join(POOLINGS)}")


@dataclass
class FinetuneParams(TrainerParams):
    """Fine-tuning (:mod:`qcpt.retrieval.finetune`). The trainer's fields are :class:`TrainerParams`'
    (lr 2e-5 here; weight decay 0, Tevatron's and HF Trainer's default; ``max_steps`` overrides
    ``num_train_epochs`` when set; ``global_batch_size`` counts queries over all devices, QAC §4.2:
    64 = 8 × 8 GPUs; the loss is never accumulated)."""

    learning_rate: float = 2e-5
    num_train_epochs: float = 3.0
    per_device_batch_size: int | None = None  # queries per device (CPU configs); 8 without a global batch
    train_n_passages: int = 16          # 1 positive + 15 negatives per query
    q_max_len: int = 32
    p_max_len: int = 144
    pooling: str = "cls"
    normalize: bool = False
    temperature: float = 1.0
    title_join: str = "space"           # title and text: "space", or "sep" (title [SEP] text, Tevatron's MS MARCO preprocessor)

    def validate(self) -> None:
        _pooling(self.pooling)
        _title_join(self.title_join)
        if self.global_batch_size is not None:
            if self.per_device_batch_size is not None:
                raise ParamsError("global_batch_size", "per_device_batch_size and global_batch_size: give one of them")
            if self.gradient_accumulation_steps != 1:
                raise ParamsError("gradient_accumulation_steps", "the InfoNCE loss takes in-batch negatives, "
                                  "accumulation would shrink them; with global_batch_size it stays 1")
        elif self.per_device_batch_size is None:
            self.per_device_batch_size = 8
        self.check_trainer_fields()
        for name in ("train_n_passages", "per_device_batch_size", "q_max_len", "p_max_len"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ParamsError(name, f"must be ≥ 1, got {getattr(self, name)!r}")
        for name in ("num_train_epochs", "temperature"):
            if getattr(self, name) <= 0:
                raise ParamsError(name, f"must be > 0, got {getattr(self, name)!r}")

    def batch_plan(self, world: int) -> BatchPlan:
        """Queries per device on ``world`` processes. Never accumulated and no gradient caching
        here: a global batch the devices cannot hold within max_per_device_batch_size is an error."""
        return plan_from_settings(
            world, key="finetune.params.global_batch_size", global_batch_size=self.global_batch_size,
            per_device_batch_size=self.per_device_batch_size or 8,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            max_per_device=self.max_per_device_batch_size, accumulation_allowed=False)


@dataclass
class EncodeParams:
    pooling: str | None = None      # None: from the model folder (qcpt_pooling.json / sentence-transformers), else cls
    normalize: bool | None = None   # None: likewise, else False
    max_len: int | None = None      # passage tokens; None: likewise, else 144
    batch_size: int = 64
    length_sorted: bool = True
    amp: bool = False               # half-precision autocast: float16 on CUDA, bfloat16 on CPU
    title_join: str = "space"       # title and text: "space", or "sep" (title [SEP] text)

    def validate(self) -> None:
        _pooling(self.pooling)
        _title_join(self.title_join)
        if self.max_len is not None and self.max_len < 2:
            raise ParamsError("max_len", f"must be ≥ 2, got {self.max_len!r}")
        if self.batch_size < 1:
            raise ParamsError("batch_size", f"must be ≥ 1, got {self.batch_size!r}")


@dataclass
class DenseSearchParams:
    pooling: str | None = None
    normalize: bool | None = None
    max_len: int | None = None      # passages: the shards' encoding length (log only), or --collection's
    q_max_len: int | None = None    # None: the model folder's declaration, else 32
    depth: int = 1000
    batch_size: int = 128           # query encoding batch
    p_batch_size: int = 64          # passage encoding batch (with --collection)
    search_batch: int = 4096        # queries per FAISS call
    tag: str = "dense"
    amp: bool = False               # half-precision autocast: float16 on CUDA, bfloat16 on CPU
    title_join: str = "space"       # passages encoded in the job (--collection): "space" or "sep"

    def validate(self) -> None:
        _pooling(self.pooling)
        _title_join(self.title_join)
        for name in ("depth", "batch_size", "p_batch_size", "search_batch"):
            if getattr(self, name) < 1:
                raise ParamsError(name, f"must be ≥ 1, got {getattr(self, name)!r}")
        if self.q_max_len is not None and self.q_max_len < 2:
            raise ParamsError("q_max_len", f"must be ≥ 2, got {self.q_max_len!r}")


def limit_torch_threads() -> None:
    """Respect ``OMP_NUM_THREADS`` (the rules set it to the job's threads) in torch's intra-op pool."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        import torch

        torch.set_num_threads(int(value))
