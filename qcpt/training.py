"""The one training loop: a thin layer over Hugging Face ``Trainer``.

Pre-training schemas and the fine-tuning bi-encoder are all ``torch.nn.Module`` s whose ``forward``
returns a dict with ``loss`` (the scalar to optimise) and ``components`` (a dict of named scalar
tensors, e.g. ``{"mlm": ..., "contrastive": ...}``). :class:`LossModuleTrainer` optimises ``loss`` and
logs each component; :class:`JsonLogCallback` writes the history as JSON beside the model;
:func:`run_training` adds resume-from-last-checkpoint, so a killed job that is rerun continues —
only from checkpoints of the same run (same parameters and inputs, :mod:`qcpt.checkpoints`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from .checkpoints import ResumePlan, Retention, last_checkpoint
from .io import write_json

log = logging.getLogger(__name__)

__all__ = ["JsonLogCallback", "LossModuleTrainer", "last_checkpoint", "run_training", "training_arguments"]

class LossModuleTrainer(Trainer):
    """``Trainer`` whose model returns ``{"loss", "components"}``; components are logged per step."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._component_sums: dict[str, float] = defaultdict(float)
        self._component_count = 0
        self._samples_since_log = 0
        self._time_of_last_log = time.perf_counter()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if self.model.training:
            for name, value in outputs.get("components", {}).items():
                self._component_sums[name] += float(value.detach())
            self._component_count += 1
            first = next(iter(inputs.values()))
            if isinstance(first, torch.Tensor):
                self._samples_since_log += int(first.shape[0])
        loss = outputs["loss"]
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._component_count and "loss" in logs:
            for name, total in self._component_sums.items():
                logs[f"loss_{name}"] = round(total / self._component_count, 6)
            now = time.perf_counter()
            # Samples seen by this process; times world size for the global rate.
            world = max(self.args.world_size, 1)
            logs["samples_per_second"] = round(
                self._samples_since_log * world / max(now - self._time_of_last_log, 1e-9), 3
            )
            self._component_sums.clear()
            self._component_count = 0
            self._samples_since_log = 0
            self._time_of_last_log = now
        super().log(logs, start_time)


class JsonLogCallback(TrainerCallback):
    """Write the training history (every ``Trainer.log`` call) to a JSON file, atomically."""

    def __init__(self, path: str | os.PathLike, meta: dict[str, Any] | None = None, *, resuming: bool = True):
        self.path = Path(path)
        self.meta = dict(meta or {})
        self.history: list[dict[str, Any]] = []
        # A resumed run keeps what the killed run already logged (its history, and the resume points
        # of a job killed more than once); a fresh one starts an empty history.
        if resuming and self.path.is_file():
            try:
                previous = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                previous = None
            previous = previous if isinstance(previous, dict) else {}
            history = previous.get("history")
            self.history = history if isinstance(history, list) else []
            steps = previous.get("resumed_from_steps")
            if isinstance(steps, list):
                self.meta["resumed_from_steps"] = list(steps)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and state.global_step:
            self.meta.setdefault("resumed_from_steps", []).append(state.global_step)
            log.info("resumed from step %d", state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.history = [h for h in self.history if h.get("step", -1) < state.global_step or "loss" not in logs]
        self.history.append({"step": state.global_step, "epoch": state.epoch, **logs})
        self._flush(state)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._flush(state)

    def _flush(self, state) -> None:
        write_json(self.path, {**self.meta, "max_steps": state.max_steps, "history": self.history})


def training_arguments(
    output_dir: str | os.PathLike,
    *,
    learning_rate: float,
    per_device_batch_size: int,
    max_steps: int = -1,
    num_train_epochs: float = 1.0,
    warmup_ratio: float = 0.0,
    weight_decay: float = 0.0,
    lr_scheduler_type: str = "linear",
    save_steps: int = 500,
    logging_steps: int = 10,
    seed: int = 42,
    gradient_accumulation_steps: int = 1,
    bf16: bool | None = None,
    dataloader_num_workers: int = 0,
    retention: Retention | None = None,
    **extra: Any,
) -> TrainingArguments:
    """TrainingArguments with the project's defaults: no hub, no external loggers, the last
    ``retention.keep_last`` checkpoints kept for resuming, bf16 on GPUs that support it, and ``remove_unused_columns`` off (our collators
    produce exactly what the loss modules take)."""
    if bf16 is None:
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # transformers 5 reads a float in [0, 1) as a fraction of the total steps, which it knows
    # whether training is bounded by max_steps or by epochs.
    if not 0 <= warmup_ratio < 1:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {warmup_ratio}")
    warmup_steps: float = float(warmup_ratio)
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        learning_rate=learning_rate,
        per_device_train_batch_size=per_device_batch_size,
        max_steps=max_steps,
        num_train_epochs=num_train_epochs,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        lr_scheduler_type=lr_scheduler_type,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=(retention or Retention()).keep_last,
        logging_steps=logging_steps,
        logging_first_step=True,
        seed=seed,
        data_seed=seed,
        gradient_accumulation_steps=gradient_accumulation_steps,
        bf16=bf16,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=dataloader_num_workers,
        dataloader_drop_last=True,
        disable_tqdm=False,
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
    )
    kwargs.update(extra)
    return TrainingArguments(**kwargs)


def run_training(trainer: Trainer, plan: ResumePlan) -> int:
    """Train, resuming from ``plan.resume_from`` (a checkpoint of this same run, see
    :func:`qcpt.checkpoints.plan_resume`) when a killed run left one.

    Returns the step training resumed from (0 for a fresh start)."""
    if plan.resume_from is not None:
        log.info("resuming from %s (step %d)", plan.resume_from, plan.start_step)
        print(f"[qcpt] resuming from checkpoint {plan.resume_from} at step {plan.start_step}", flush=True)
    trainer.train(resume_from_checkpoint=str(plan.resume_from) if plan.resume_from else None)
    return plan.start_step


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def save_metadata(path: str | os.PathLike, **fields: Any) -> None:
    write_json(path, fields)
