"""The one training loop: a thin layer over Hugging Face ``Trainer``, and the trainer base the two
training drivers (:mod:`qcpt.pretrain.driver`, :mod:`qcpt.retrieval.finetune.driver`) share.

Pre-training objectives and the fine-tuning bi-encoder are all ``torch.nn.Module`` s whose ``forward``
returns a dict with ``loss`` (the scalar to optimise) and ``components`` (a dict of named scalar
tensors, e.g. ``{"mlm": ..., "contrastive": ...}``). :class:`LossModuleTrainer` optimises ``loss`` and
logs each component; :class:`JsonLogCallback` writes the history as JSON beside the model;
:func:`run_training` adds resume-from-last-checkpoint, so a killed job that is rerun continues —
only from checkpoints of the same run (same parameters and inputs, :mod:`qcpt.training.checkpoints`).

A driver (its command line ending in :func:`add_run_arguments`) reads its data and builds its loss
module, then goes through the shared steps in order:
:func:`trainer_arguments` (its :class:`qcpt.training.params.TrainerParams` → ``TrainingArguments``),
:func:`plan_run` (resume or start afresh), :func:`build_trainer` (a :class:`LossModuleTrainer` with
:class:`EpochCallback`, :class:`ModelStatsCallback` and :class:`JsonLogCallback`), :func:`run_training`, and
:func:`save_final_model` (atomic, then checkpoint retention).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from ..core.io import atomic_dir, write_json
from .batching import BatchPlan
from .checkpoints import (
    ResumePlan,
    Retention,
    finish_checkpoints,
    last_checkpoint,
    plan_resume,
    run_identity,
)
from .params import NO_REPORTING, REPORT_TO_ENV, TRAINING_ARGUMENTS, TrainerParams
from .time_limit import StopAtSignal, TimeLimit, resubmit

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"  # beside the run's train_log.json: the checkpoints are deleted at the end

__all__ = ["REPORT_TO_ENV", "report_destinations", "EpochCallback", "add_run_arguments", "build_trainer", "JsonLogCallback", "LossModuleTrainer", "ModelStatsCallback", "last_checkpoint",
           "plan_run", "run_training", "save_final_model", "trainer_arguments", "training_arguments"]


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


# What every training job of the project asks of Trainer, whatever its params: checkpoints by steps
# (resumable), loggers only where report_to names them, batches whole, ``remove_unused_columns``
# off (our collators produce exactly what the loss modules take).
FIXED_ARGUMENTS: dict[str, Any] = {
    "num_train_epochs": 1.0,  # every job bounds its training by max_steps
    "save_strategy": "steps",
    "logging_first_step": True,
    "remove_unused_columns": False,
    "dataloader_drop_last": True,
    "disable_tqdm": False,
    "ddp_find_unused_parameters": False,
}


def training_arguments(output_dir: str | os.PathLike, params: Any, *, per_device_batch_size: int, max_steps: int,
                       gradient_accumulation_steps: int = 1, retention: Retention | None = None,
                       report_to: list[str] | None = None, **extra: Any) -> TrainingArguments:
    """TrainingArguments of a training job: each field of ``params`` (a dataclass) that
    :data:`~qcpt.training.params.TRAINING_ARGUMENTS` names, under its transformers keywords (a field
    the class lacks keeps transformers' default); the batch and step counts the job settled; the
    last ``retention.keep_last`` checkpoints kept for resuming; bf16 where ``params.bf16`` is None
    (or absent) and the GPU supports it; :data:`FIXED_ARGUMENTS`; ``extra`` over all of them."""
    kwargs: dict[str, Any] = dict(FIXED_ARGUMENTS)
    for field in dataclasses.fields(params):
        for keyword in TRAINING_ARGUMENTS.get(field.name, ()):
            kwargs[keyword] = getattr(params, field.name)
    if kwargs.get("bf16") is None:
        kwargs["bf16"] = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if "warmup_steps" in kwargs:  # a warmup_ratio, which transformers 5 takes as a float in [0, 1)
        if not 0 <= kwargs["warmup_steps"] < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {kwargs['warmup_steps']}")
        kwargs["warmup_steps"] = float(kwargs["warmup_steps"])
    kwargs.update(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        max_steps=max_steps,
        save_total_limit=(retention or Retention()).keep_last,
        report_to=list(report_to or []),
        use_cpu=not torch.cuda.is_available(),
    )
    kwargs.update(extra)
    return TrainingArguments(**kwargs)


def add_run_arguments(parser: argparse.ArgumentParser, *, params: str, init: str, out: str) -> argparse.ArgumentParser:
    """The arguments of every training job after its data: ``--init`` (help ``init``), ``--out``
    (help ``out``), ``--checkpoints``, ``--log``, ``--params`` (a JSON object of the dataclass named
    ``params``) and ``--retention``."""
    parser.add_argument("--init", required=True, help=init)
    parser.add_argument("--out", required=True, help=out)
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder (resumed from when present)")
    parser.add_argument("--log", required=True, help="training log JSON")
    parser.add_argument("--params", default="{}", help=f"JSON object of {params}")
    parser.add_argument("--retention", help='checkpoint retention {"keep_last": N, "delete_after_final": bool}')
    parser.add_argument("--report-to", help=f"training-curve loggers, comma-separated (tensorboard, wandb, ...; "
                        f"default: ${REPORT_TO_ENV}, else {NO_REPORTING}); TensorBoard writes to "
                        f"{TENSORBOARD_DIR}/ beside --log")
    return parser


def report_destinations(value: str | None) -> list[str]:
    """``--report-to`` when given, else ``$QCPT_REPORT_TO`` (the workflow's config ``report_to``), as
    the list TrainingArguments takes: comma-separated names, or JSON (a name or a list, as the workflow
    passes the config's value); ``none`` is none."""
    raw = value if value is not None else os.environ.get(REPORT_TO_ENV, NO_REPORTING)
    raw = raw.strip()
    names = json.loads(raw) if raw.startswith(("[", '"')) else raw.split(",")
    if isinstance(names, str):
        names = [names]
    chosen = [str(n).strip() for n in names if str(n).strip() and str(n).strip() != NO_REPORTING]
    return list(dict.fromkeys(chosen))


def tensorboard_dir(log_file: str | os.PathLike) -> Path:
    """Where a run's TensorBoard event files go: ``tensorboard/`` beside its training log."""
    return Path(log_file).parent / TENSORBOARD_DIR


def world_size() -> int:
    """Processes of this run (torchrun's ``WORLD_SIZE``; 1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (torchrun's ``RANK``), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def ddp_backend(requested: str | None, world: int) -> str | None:
    """The process-group backend: the one asked for, else gloo for CPU runs under torchrun (NCCL
    needs GPUs), else None (Trainer's choice)."""
    return requested or ("gloo" if world > 1 and not torch.cuda.is_available() else None)


def trainer_arguments(params: TrainerParams, checkpoints: str | os.PathLike, plan: BatchPlan, *,
                      max_steps: int, retention: Retention,
                      ddp_find_unused_parameters: bool = False, report_to: list[str] | None = None,
                      log_file: str | os.PathLike | None = None) -> TrainingArguments:
    """:func:`training_arguments` of a training job: its trainer fields, the batch ``plan`` made for
    this world size and ``max_steps`` optimiser steps (fine-tuning derives them from its epochs).
    ``ddp_find_unused_parameters``: some parameters get no gradient in some steps (a frozen encoder).
    ``report_to``: the loggers of :func:`report_destinations`; TensorBoard's event files go to
    :func:`tensorboard_dir` of ``log_file`` (transformers reads the folder from the environment)."""
    if report_to and "tensorboard" in report_to:
        if log_file is None:
            raise ValueError("report_to tensorboard needs the run's log file to place its event files")
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(tensorboard_dir(log_file))
    extra: dict[str, Any] = {"ddp_find_unused_parameters": ddp_find_unused_parameters}
    backend = ddp_backend(params.ddp_backend, plan.devices)
    if backend:
        extra["ddp_backend"] = backend
    return training_arguments(checkpoints, params, per_device_batch_size=plan.per_device_batch_size,
                              gradient_accumulation_steps=plan.gradient_accumulation_steps, max_steps=max_steps,
                              retention=retention, report_to=report_to, **extra)


def plan_run(checkpoints: str | os.PathLike, params: Mapping[str, Any],
             inputs: Mapping[str, str | os.PathLike | None], training_args: TrainingArguments) -> ResumePlan:
    """Resume or start afresh. The run's identity (``params``: everything besides the inputs that
    decides whether a checkpoint may be resumed; ``inputs``: checksummed) is taken on the main
    process only; :func:`qcpt.training.checkpoints.plan_resume` shares its verdict with the others."""
    identity = run_identity(params, inputs) if is_main_process() else None
    return plan_resume(checkpoints, identity, training_args)


class EpochCallback(TrainerCallback):
    """Tell the dataset which epoch starts (``dataset.set_epoch``), so what it draws (negatives,
    contexts, masks) is redrawn each epoch. ``state.epoch`` is whole at an epoch's start and
    ``epochs done + fraction`` when resuming mid-epoch. (accelerate's ``DataLoader.set_epoch``
    reaches the dataset only while the sampler has no ``set_epoch`` of its own — true of the plain
    sampler Trainer uses today, not of seeded or distributed ones — so the epoch is set here
    explicitly, whatever the sampler.)"""

    def __init__(self, dataset: Any):
        self.dataset = dataset
        self.epochs_seen: list[int] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = math.floor((state.epoch or 0.0) + 1e-9)
        self.dataset.set_epoch(epoch)
        self.epochs_seen.append(epoch)


class ModelStatsCallback(TrainerCallback):
    """Copy what the loss module measured in the last step into the training log's metadata:
    ``fields`` maps a model attribute (e.g. ``last_negatives``) to its log key; a value of 0 (not
    measured yet) is not copied."""

    def __init__(self, model: torch.nn.Module, log_callback: JsonLogCallback, fields: Mapping[str, str]):
        self.model = model
        self.log_callback = log_callback
        self.fields = dict(fields)

    def on_step_end(self, args, state, control, **kwargs):
        for attribute, key in self.fields.items():
            value = getattr(self.model, attribute, 0)
            if value:
                self.log_callback.meta[key] = int(value)


def build_trainer(model: torch.nn.Module, training_args: TrainingArguments, dataset: Any, collator: Any,
                  json_log: JsonLogCallback, model_stats: Mapping[str, str]) -> LossModuleTrainer:
    """The :class:`LossModuleTrainer` of a training job: ``dataset`` hears each epoch's start
    (:class:`EpochCallback`), the model's ``model_stats`` and every log line go to ``json_log``, which
    also records the parallel mode ("distributed" under torchrun)."""
    trainer = LossModuleTrainer(
        model=model, args=training_args, train_dataset=dataset, data_collator=collator,
        callbacks=[EpochCallback(dataset), ModelStatsCallback(model, json_log, model_stats), json_log],
    )
    json_log.meta["parallel_mode"] = training_args.parallel_mode.value
    # What the run computed in (the params' bf16 None means "where the GPU supports it").
    json_log.meta["precision"] = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"
    return trainer


def save_final_model(trainer: Trainer, encoder: Any, tokenizer: Any, out: str | os.PathLike, record_file: str,
                     record: dict[str, Any], checkpoints: str | os.PathLike, retention: Retention,
                     extra: Callable[[Path], None] | None = None) -> None:
    """Write the trained ``encoder`` (``save_pretrained``), its tokenizer, ``extra(folder)``'s
    files and ``record`` (plus the steps trained) as ``record_file`` to ``out`` atomically, on the
    main process; then apply the checkpoint ``retention``. Every process waits for the write."""
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        with atomic_dir(out) as tmp:
            encoder.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if extra is not None:
                extra(Path(tmp))
            write_json(Path(tmp) / record_file, {**record, "final_step": trainer.state.global_step})
        log.info("encoder written to %s", out)
        finish_checkpoints(checkpoints, retention)
    trainer.accelerator.wait_for_everyone()


def run_training(trainer: Trainer, plan: ResumePlan) -> int:
    """Train, resuming from ``plan.resume_from`` (a checkpoint of this same run, see
    :func:`qcpt.training.checkpoints.plan_resume`) when a killed run left one. A SLURM time-limit signal
    (SIGTERM, or the profile's earlier SIGUSR1) ends the run with a checkpoint at the end of the
    step, requeues the job and exits (:mod:`qcpt.training.time_limit`): the next submission resumes there.

    Returns the step training resumed from (0 for a fresh start)."""
    if plan.resume_from is not None:
        log.info("resuming from %s (step %d)", plan.resume_from, plan.start_step)
        print(f"[qcpt] resuming from checkpoint {plan.resume_from} at step {plan.start_step}", flush=True)
    limit = TimeLimit().install()
    stop = StopAtSignal(limit)
    trainer.add_callback(stop)
    trainer.train(resume_from_checkpoint=str(plan.resume_from) if plan.resume_from else None)
    if stop.stopped_at is not None and stop.stopped_at < trainer.state.max_steps:
        trainer.accelerator.wait_for_everyone()
        resubmit(limit, stop.stopped_at, trainer.is_world_process_zero())
    return plan.start_step
