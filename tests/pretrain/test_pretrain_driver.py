"""End-to-end runs of the pre-training driver on a tiny BERT: every schema × context, determinism,
resuming a killed run, and the curriculum's second stage picking up the first stage's heads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, set_seed

from qcpt.pretrain.arguments import parse_params
from qcpt.pretrain.driver import main
from qcpt.pretrain.heads import HEADS_FILE
from qcpt.pretrain.objectives import build_model, load_encoder
from qcpt.pretrain.tiny import build_tiny_encoder, write_tiny_corpus
from qcpt.training.checkpoints import RETENTION_ENV

torch.set_num_threads(2)

COMPONENTS = {"contrastive": {"mlm", "condenser_mlm", "contrastive"}, "cotmae": {"mlm", "decoder_mlm"},
              "bottleneck": {"mlm", "decoder_clm"}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    init = build_tiny_encoder(root / "init")
    passages, queries = write_tiny_corpus(root / "data", documents=12)
    return {"root": root, "init": init, "passages": passages, "queries": queries}


def run(tiny, name: str, *, init: Path | None = None, **params) -> tuple[Path, dict]:
    out_root = tiny["root"] / name
    params = {"batch_size": 4, "max_steps": 3, "save_steps": 2, "logging_steps": 1, **params}
    argv = ["--passages", str(tiny["passages"]), "--queries", str(tiny["queries"]),
            "--init", str(init or tiny["init"]), "--out", str(out_root / "model"),
            "--checkpoints", str(out_root / "checkpoints"), "--log", str(out_root / "log.json"),
            "--params", json.dumps(params)]
    assert main(argv) == 0
    return out_root / "model", json.loads((out_root / "log.json").read_text())


def step_losses(log: dict) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in log["history"] if "loss" in h}


@pytest.mark.parametrize("schema", ["contrastive", "cotmae", "bottleneck"])
@pytest.mark.parametrize("context", ["span", "query", "mixed"])
def test_every_schema_and_context_trains_and_saves_a_plain_encoder(tiny, schema, context):
    model_dir, log = run(tiny, f"{schema}-{context}", schema=schema, context=context)
    assert sorted(step_losses(log)) == [1, 2, 3]
    first = next(h for h in log["history"] if h.get("step") == 1)
    assert {k[len("loss_"):] for k in first if k.startswith("loss_")} == COMPONENTS[schema]
    assert first["loss"] == pytest.approx(sum(first[f"loss_{c}"] for c in COMPONENTS[schema]), rel=1e-4)
    assert first["samples_per_second"] > 0
    assert log["resumed_from_steps"] == [] and log["max_steps"] == 3 and log["parallel_mode"] == "not_parallel"
    if context != "span":
        assert log["data"]["passages_without_queries_skipped"] > 0
    if schema == "contrastive":
        assert log["contrastive_negatives"] == 3  # batch 4, one process
    encoder = AutoModel.from_pretrained(model_dir)
    assert type(encoder).__name__ == "BertModel"
    trained, initial = load_file(model_dir / "model.safetensors"), load_file(tiny["init"] / "model.safetensors")
    assert not any(k.startswith(("mlm_head", "decoder", "condenser")) for k in trained)
    assert not torch.equal(trained["embeddings.word_embeddings.weight"], initial["embeddings.word_embeddings.weight"])
    assert (model_dir / HEADS_FILE).is_file() and (model_dir / "tokenizer.json").is_file()
    record = json.loads((model_dir / "qcpt_pretrain.json").read_text())
    assert record["final_step"] == 3 and record["params"]["schema"] == schema


def test_same_seed_same_losses_and_weights(tiny):
    params = {"schema": "contrastive", "context": "mixed", "grad_cache_chunk": 2}
    model_a, log_a = run(tiny, "det-a", **params)
    model_b, log_b = run(tiny, "det-b", **params)
    assert step_losses(log_a) == step_losses(log_b)
    weights_a, weights_b = load_file(model_a / "model.safetensors"), load_file(model_b / "model.safetensors")
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    _, log_c = run(tiny, "det-c", **{**params, "seed": 7})
    assert step_losses(log_c)[1] != step_losses(log_a)[1]


def test_killed_run_resumes_from_its_last_checkpoint(tiny, monkeypatch):
    # Keep the checkpoints after the run, to cut them back to a killed run's.
    monkeypatch.setenv(RETENTION_ENV, '{"delete_after_final": false}')
    params = {"schema": "bottleneck", "context": "mixed", "max_steps": 4, "save_steps": 2}
    full_model, full_log = run(tiny, "resume-full", **params)
    model_dir, _ = run(tiny, "resume", **params)
    # Simulate a kill after step 2's checkpoint: no output, no later checkpoint.
    shutil.rmtree(model_dir)
    shutil.rmtree(model_dir.parent / "checkpoints" / "checkpoint-4")
    model_dir, log = run(tiny, "resume", **params)
    assert log["resumed_from_steps"] == [2]
    assert sorted(step_losses(log)) == [1, 2, 3, 4]
    # The resumed run continues exactly: same data, masks and optimizer state as the unbroken run.
    assert step_losses(log)[4] == pytest.approx(step_losses(full_log)[4], rel=1e-5)
    resumed, full = load_file(model_dir / "model.safetensors"), load_file(full_model / "model.safetensors")
    assert all(torch.allclose(resumed[k], full[k], atol=1e-6) for k in full)


def test_curriculum_stage_two_continues_from_stage_one_heads(tiny):
    stage1, _ = run(tiny, "stage1", schema="bottleneck", context="span", lr_scheduler="cosine", max_steps=2)
    stage2, log = run(tiny, "stage2", init=stage1, schema="bottleneck", context="query",
                      lr_scheduler="constant", warmup_ratio=0.0, max_steps=2)
    assert log["heads_from"] == str(stage1 / HEADS_FILE)
    rates = [h["learning_rate"] for h in log["history"] if "loss" in h]
    assert rates == [pytest.approx(3e-4)] * 2  # constant schedule
    assert json.loads((stage2 / "pretrain_heads.json").read_text())["schema"] == "bottleneck"
    # Another schema does not take the bottleneck heads from --init ...
    _, other = run(tiny, "stage2-other", init=stage1, schema="cotmae", context="query", max_steps=1)
    assert other["heads_from"] is None
    # ... and refuses them when they are asked for explicitly.
    with pytest.raises(ValueError, match="init_heads"):
        run(tiny, "stage2-bad", init=stage1, schema="cotmae", context="query", max_steps=1,
            init_heads=str(stage1))


def test_cli_errors(tiny):
    with pytest.raises(ValueError, match="unknown key 'learning_rte'"):
        run(tiny, "bad-key", learning_rte=1e-3)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        run(tiny, "too-big", batch_size=1000)


def test_global_batch_is_made_by_accumulation_where_the_loss_allows_it(tiny):
    """Issue 12 rows 1-2: a stated global batch; CoT-MAE's per-token loss accumulates to it, the
    training log records the effective batch; the contrastive loss refuses to accumulate."""
    params = {"max_steps": 2, "save_steps": 2, "logging_steps": 1}
    _, log = run(tiny, "global-cotmae", schema="cotmae", context="span", batch_size=None,
                 global_batch_size=8, max_per_device_batch_size=4, **params)
    assert (log["global_batch_size"], log["per_device_batch_size"], log["gradient_accumulation_steps"],
            log["world_size"]) == (8, 4, 2, 1)
    with pytest.raises(ValueError, match=r"pretrain\.schemas\.contrastive\.global_batch_size"):
        run(tiny, "global-contrastive", schema="contrastive", context="span", batch_size=None,
            global_batch_size=8, max_per_device_batch_size=4, **params)


@pytest.mark.parametrize("schema", ["contrastive", "cotmae"])
def test_head_warmup_trains_only_the_heads_then_everything(tiny, monkeypatch, schema):
    # Keep checkpoint-2 (the end of the warm-up) to look at the weights there.
    monkeypatch.setenv(RETENTION_ENV, '{"delete_after_final": false}')
    params = {"schema": schema, "context": "query", "max_steps": 3, "save_steps": 2, "head_warmup_steps": 2}
    model_dir, log = run(tiny, f"warmup-{schema}", **params)
    initial = load_file(tiny["init"] / "model.safetensors")
    at_two = load_file(model_dir.parent / "checkpoints" / "checkpoint-2" / "model.safetensors")
    encoder_keys = [k for k in at_two if k.startswith("encoder.")]
    heads = [k for k in at_two if not k.startswith("encoder.")]
    # Steps 1-2: the encoder is exactly the init (no gradient, no weight decay) while the heads moved.
    assert encoder_keys and all(torch.equal(at_two[k], initial[k[len("encoder."):]]) for k in encoder_keys)
    set_seed(42)  # the heads as the driver initialises them
    start = build_model(load_encoder(tiny["init"]), parse_params(params)).head_state_dict()
    assert heads and all(not torch.equal(at_two[k], start[k]) for k in heads if k.endswith("dense.weight"))
    # Step 3 trains the encoder too.
    final = load_file(model_dir / "model.safetensors")
    assert not torch.equal(final["embeddings.word_embeddings.weight"], initial["embeddings.word_embeddings.weight"])
    assert sorted(step_losses(log)) == [1, 2, 3]


def test_head_warmup_must_leave_steps_to_train_the_encoder(tiny):
    with pytest.raises(ValueError, match="head_warmup_steps"):
        run(tiny, "warmup-bad", schema="contrastive", context="span", max_steps=3, head_warmup_steps=3)
