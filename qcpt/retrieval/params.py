"""Job parameters of the retrieval scripts (``--params`` JSON → dataclass), the shared parser,
logging set-up and thread limits.

The dense scripts' parameter classes live here rather than beside their code so that validating a
config (qcpt.config, at DAG-build time) reads them without importing torch or transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..batching import BatchPlan, plan_from_settings
from ..params import LR_SCHEDULERS, ParamsError, parse_params, setup_logging

__all__ = [
    "POOLINGS", "DenseSearchParams", "EncodeParams", "FinetuneParams", "limit_torch_threads",
    "parse_params", "setup_logging",
]

POOLINGS = ("cls", "mean")


def _pooling(value: str | None) -> None:
    if value is not None and value not in POOLINGS:
        raise ParamsError("pooling", f"{value!r} is not one of {', '.join(POOLINGS)}")


@dataclass
class FinetuneParams:
    learning_rate: float = 2e-5
    num_train_epochs: float = 3.0
    max_steps: int | None = None        # overrides num_train_epochs when set
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0           # Tevatron's default
    lr_scheduler: str = "linear"
    per_device_batch_size: int | None = None  # queries per device (CPU configs); 8 without a global batch
    global_batch_size: int | None = None  # queries per step over all devices (QAC §4.2: 64 = 8 × 8 GPUs)
    max_per_device_batch_size: int | None = None  # memory bound; the loss is never accumulated
    gradient_accumulation_steps: int = 1
    train_n_passages: int = 16          # 1 positive + 15 negatives per query
    q_max_len: int = 32
    p_max_len: int = 144
    pooling: str = "cls"
    normalize: bool = False
    temperature: float = 1.0
    seed: int = 42
    save_steps: int = 500
    logging_steps: int = 10
    max_grad_norm: float = 1.0
    bf16: bool | None = None            # None: on GPUs that support it
    dataloader_num_workers: int = 0
    ddp_backend: str | None = None      # None: gloo on CPU under torchrun, Trainer's choice on GPU

    def validate(self) -> None:
        _pooling(self.pooling)
        if self.global_batch_size is not None:
            if self.per_device_batch_size is not None:
                raise ParamsError("global_batch_size", "per_device_batch_size and global_batch_size: give one of them")
            if self.gradient_accumulation_steps != 1:
                raise ParamsError("gradient_accumulation_steps", "the InfoNCE loss takes in-batch negatives, "
                                  "accumulation would shrink them; with global_batch_size it stays 1")
            if self.global_batch_size < 1:
                raise ParamsError("global_batch_size", f"must be ≥ 1, got {self.global_batch_size!r}")
        elif self.per_device_batch_size is None:
            self.per_device_batch_size = 8
        if self.max_per_device_batch_size is not None and self.max_per_device_batch_size < 1:
            raise ParamsError("max_per_device_batch_size", f"must be ≥ 1, got {self.max_per_device_batch_size!r}")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ParamsError("lr_scheduler", f"{self.lr_scheduler!r} is not one of {', '.join(LR_SCHEDULERS)}")
        for name in ("train_n_passages", "per_device_batch_size", "gradient_accumulation_steps", "q_max_len",
                     "p_max_len", "save_steps", "logging_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ParamsError(name, f"must be ≥ 1, got {getattr(self, name)!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ParamsError("max_steps", f"must be ≥ 1 or null, got {self.max_steps!r}")
        for name in ("num_train_epochs", "temperature", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ParamsError(name, f"must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "max_grad_norm", "dataloader_num_workers"):
            if getattr(self, name) < 0:
                raise ParamsError(name, f"must be ≥ 0, got {getattr(self, name)!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ParamsError("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio!r}")
        if self.ddp_backend not in (None, "nccl", "gloo", "mpi"):
            raise ParamsError("ddp_backend", f"{self.ddp_backend!r} is not nccl, gloo or mpi")

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
    amp: bool = False               # float16 autocast on CUDA

    def validate(self) -> None:
        _pooling(self.pooling)
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
    amp: bool = False

    def validate(self) -> None:
        _pooling(self.pooling)
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
