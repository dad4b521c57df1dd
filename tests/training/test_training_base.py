"""The trainer base pre-training and fine-tuning share (qcpt.training.params, qcpt.training.trainer): one
set of trainer fields with one validation, one TrainingArguments call, one stats callback."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from qcpt.core.params import ParamsError, parse_params
from qcpt.pretrain.arguments import PretrainParams
from qcpt.retrieval.params import FinetuneParams
from qcpt.training import params as training_params
from qcpt.training.batching import BatchPlan
from qcpt.training.checkpoints import Retention
from qcpt.training.params import TRAINING_ARGUMENTS, TrainerParams
from qcpt.training.trainer import ModelStatsCallback, ddp_backend, trainer_arguments

BOTH = (PretrainParams, FinetuneParams)


def test_both_jobs_take_every_trainer_field_under_the_same_key():
    shared = {f.name for f in dataclasses.fields(TrainerParams)}
    for cls in BOTH:
        assert issubclass(cls, TrainerParams)
        assert shared <= {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("save_steps", 0, "must be > 0, got 0"),
    ("gradient_accumulation_steps", -1, "must be > 0, got -1"),
    ("max_grad_norm", -0.5, "must be ≥ 0, got -0.5"),
    ("warmup_ratio", 1.0, "must be in [0, 1), got 1.0"),
    ("lr_scheduler", "cosin", "'cosin' is not one of linear, cosine"),
    ("ddp_backend", "tcp", "'tcp' is not nccl, gloo or mpi"),
])
def test_a_bad_trainer_value_is_the_same_error_in_both_jobs(key, value, reason):
    for cls in BOTH:
        with pytest.raises(ParamsError) as err:
            parse_params(cls, {key: value})
        assert err.value.key == key and reason in err.value.reason, (cls.__name__, err.value)


def test_the_jobs_keep_their_own_defaults_for_the_shared_trainer_fields():
    assert parse_params(FinetuneParams, {}).learning_rate == 2e-5
    assert parse_params(PretrainParams, {"schema": "cotmae"}).learning_rate == 4e-4
    assert (parse_params(FinetuneParams, {}).weight_decay, parse_params(PretrainParams, {}).weight_decay) == (0.0, 0.01)


def test_ddp_backend_is_gloo_only_for_cpu_runs_under_torchrun():
    assert ddp_backend("nccl", 4) == "nccl"
    assert ddp_backend(None, 1) is None
    assert ddp_backend(None, 2) == (None if torch.cuda.is_available() else "gloo")


def test_trainer_arguments_carry_the_params_and_the_batch_plan(tmp_path):
    params = parse_params(FinetuneParams, {"learning_rate": 3e-5, "max_grad_norm": 0.5, "save_steps": 7,
                                           "warmup_ratio": 0.2, "lr_scheduler": "cosine", "seed": 9})
    plan = BatchPlan(global_batch_size=12, devices=1, per_device_batch_size=4, gradient_accumulation_steps=3)
    args = trainer_arguments(params, tmp_path, plan, max_steps=11, retention=Retention(keep_last=5))
    assert (args.learning_rate, args.max_grad_norm, args.save_steps, args.max_steps, args.seed) == (3e-5, 0.5, 7, 11, 9)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 3)
    assert (args.warmup_steps, args.lr_scheduler_type.value, args.save_total_limit) == (0.2, "cosine", 5)
    assert args.weight_decay == 0.0 and args.data_seed == 9


def test_model_stats_reach_the_log_once_measured():
    model, log = SimpleNamespace(last_negatives=0), SimpleNamespace(meta={})
    callback = ModelStatsCallback(model, log, {"last_negatives": "contrastive_negatives"})
    callback.on_step_end(None, None, None)
    assert log.meta == {}
    model.last_negatives = 7
    callback.on_step_end(None, None, None)
    assert log.meta == {"contrastive_negatives": 7}


def test_every_trainer_field_reaches_training_arguments_or_is_spent_before():
    """TRAINING_ARGUMENTS is the one mapping from the params to TrainingArguments: a new trainer
    field is either mapped there or named here as spent before (on the batch plan, by the job)."""
    from transformers import TrainingArguments

    spent_before = {"max_steps", "global_batch_size", "max_per_device_batch_size", "gradient_accumulation_steps",
                    "ddp_backend"}
    assert {f.name for f in dataclasses.fields(TrainerParams)} - set(TRAINING_ARGUMENTS) == spent_before
    keywords = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert [k for names in TRAINING_ARGUMENTS.values() for k in names if k not in keywords] == []


def test_every_mapped_field_arrives_under_its_keyword(tmp_path):
    params = parse_params(PretrainParams, {"schema": "cotmae", "learning_rate": 3e-4, "weight_decay": 0.05,
                                           "warmup_ratio": 0.3, "lr_scheduler": "constant_with_warmup",
                                           "max_grad_norm": 2.0, "seed": 5, "save_steps": 9, "logging_steps": 3,
                                           "dataloader_num_workers": 1, "bf16": False})
    plan = BatchPlan(global_batch_size=2, devices=1, per_device_batch_size=2, gradient_accumulation_steps=1)
    args = trainer_arguments(params, tmp_path, plan, max_steps=4, retention=Retention(keep_last=1))
    for name, keywords in TRAINING_ARGUMENTS.items():
        for keyword in keywords:
            value = getattr(args, keyword)
            assert getattr(value, "value", value) == getattr(params, name), (name, keyword)


def test_scheduler_names_come_from_transformers_without_importing_it(monkeypatch, tmp_path):
    assert training_params._scheduler_types()[0] == "linear"
    assert "reduce_lr_on_plateau" not in training_params.LR_SCHEDULERS
    # transformers without the enum where it is looked for: asked instead, same answer
    (tmp_path / "trainer_utils.py").write_text("class Other:\n    X = 'x'\n")
    real = training_params.importlib.util.find_spec("transformers")
    fake = type(real)(real.name, real.loader, origin=real.origin)
    fake.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(training_params.importlib.util, "find_spec", lambda name: fake)
    from transformers import SchedulerType

    assert training_params._scheduler_types() == tuple(s.value for s in SchedulerType)
