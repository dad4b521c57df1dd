"""The trainer settings that pre-training and fine-tuning share: one base dataclass.

:class:`qcpt.pretrain.arguments.PretrainParams` and :class:`qcpt.retrieval.params.FinetuneParams`
extend :class:`TrainerParams` with what is their own (schema, contexts, passages per query, ...).
The fields here are what :func:`qcpt.training.trainer.trainer_arguments` hands to Hugging Face
``TrainingArguments`` (under the keywords of :data:`TRAINING_ARGUMENTS`); their ``--params`` JSON
keys are the same in both jobs.

Import-light like every ``--params`` dataclass (standard library only): :mod:`qcpt.config` validates
the config's parameter blocks through these classes before any job, without importing torch.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..core.params import ParamsError

# reduce_lr_on_plateau needs an eval metric no training job computes.
UNUSABLE_SCHEDULERS = ("reduce_lr_on_plateau",)


def _scheduler_types() -> tuple[str, ...]:
    """The values of transformers' ``SchedulerType``, in its order, read from the installed
    transformers' source: importing transformers would cost a config validation seconds."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("transformers is not installed: the learning-rate schedules are its SchedulerType")
    source = Path(next(iter(spec.submodule_search_locations))) / "trainer_utils.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except OSError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "SchedulerType":
            return tuple(stmt.value.value for stmt in node.body
                         if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                         and isinstance(stmt.value.value, str))
    # Moved in a later transformers: ask it (slower, same answer).
    from transformers import SchedulerType

    return tuple(s.value for s in SchedulerType)


# The learning-rate schedules a run may name (TrainerParams.lr_scheduler): transformers' own.
LR_SCHEDULERS = tuple(s for s in _scheduler_types() if s not in UNUSABLE_SCHEDULERS)
DDP_BACKENDS = (None, "nccl", "gloo", "mpi")
# How the workflow hands config's `report_to:` to a training job (like checkpoint retention: where
# training curves are sent never changes a result, so it is no param and changing it reruns nothing).
REPORT_TO_ENV = "QCPT_REPORT_TO"
NO_REPORTING = "none"


# TrainerParams field -> the TrainingArguments keywords it sets (qcpt.training.trainer builds them
# from this table alone). The other fields are spent before: the batch fields on the batch plan
# (qcpt.training.batching), max_steps by the job (fine-tuning derives it from its epochs),
# ddp_backend by qcpt.training.trainer.ddp_backend.
TRAINING_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "learning_rate": ("learning_rate",),
    "weight_decay": ("weight_decay",),
    "warmup_ratio": ("warmup_steps",),  # transformers 5 reads a float in [0, 1) as a fraction of the steps
    "lr_scheduler": ("lr_scheduler_type",),
    "max_grad_norm": ("max_grad_norm",),
    "seed": ("seed", "data_seed"),
    "save_steps": ("save_steps",),
    "logging_steps": ("logging_steps",),
    "dataloader_num_workers": ("dataloader_num_workers",),
    "bf16": ("bf16",),
}


@dataclass
class TrainerParams:
    """Optimiser, schedule, batch bounds, checkpointing and hardware settings of one training run.

    ``learning_rate``, ``max_steps`` and ``weight_decay`` are here for the trainer's sake; the two
    jobs give them their own defaults (pre-training fills the first two per schema)."""

    learning_rate: float | None = None
    max_steps: int | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1               # a fraction of the total steps, in [0, 1)
    lr_scheduler: str = "linear"            # any transformers SchedulerType (LR_SCHEDULERS)
    max_grad_norm: float = 1.0
    seed: int = 42                          # model init, data order, sampling, masking
    global_batch_size: int | None = None    # split over the processes (qcpt.training.batching)
    max_per_device_batch_size: int | None = None  # memory bound of one forward
    gradient_accumulation_steps: int = 1
    save_steps: int = 500
    logging_steps: int = 10
    dataloader_num_workers: int = 0
    bf16: bool | None = None                # None: on when the GPU supports it
    ddp_backend: str | None = None          # None: gloo on CPU under torchrun, Trainer's choice on GPU

    def check_trainer_fields(self) -> None:
        """Range checks of the fields above (types are checked by :func:`qcpt.core.params.check_types`);
        a :class:`ParamsError` names the first bad one."""
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ParamsError("lr_scheduler", f"{self.lr_scheduler!r} is not one of {', '.join(LR_SCHEDULERS)}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ParamsError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        for name in ("max_steps", "global_batch_size", "max_per_device_batch_size", "gradient_accumulation_steps",
                     "save_steps", "logging_steps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ParamsError(name, f"must be > 0, got {value!r}")
        for name in ("weight_decay", "max_grad_norm", "dataloader_num_workers"):
            if getattr(self, name) < 0:
                raise ParamsError(name, f"must be ≥ 0, got {getattr(self, name)!r}")
        # qcpt.training.trainer passes it on to transformers as a fraction of the total steps.
        if not 0 <= self.warmup_ratio < 1:
            raise ParamsError("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio!r}")
        if self.ddp_backend not in DDP_BACKENDS:
            raise ParamsError("ddp_backend", f"{self.ddp_backend!r} is not nccl, gloo or mpi")
