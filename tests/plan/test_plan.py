"""`python -m qcpt plan` (qcpt/plan): the job totals equal Snakemake's dry run on both presets, a fresh
clone without data plans (missing inputs listed), pre-training GPU-hours follow a bench fixture's
rate, built cells' training logs come first, and a QAC claim below its MDE is flagged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, dry_run, fake_inputs, fake_irds_pointers

from qcpt.plan import make_plan, render
from qcpt.plan.dryrun import mirror, parse_jobs

PRESETS = ("query-as-context", "llm-expansion")


@pytest.fixture(scope="module", params=PRESETS)
def preset_plan(request, tmp_path_factory):
    """The plan of a preset made in an empty folder (a fresh clone's state: none of data/), and the
    dry run's job counts in another folder with stand-ins for its inputs."""
    preset = ROOT / "configs" / f"{request.param}.yaml"
    fresh = tmp_path_factory.mktemp("fresh")
    faked = tmp_path_factory.mktemp("faked")
    fake_inputs(preset, faked)
    counts = dry_run("--configfile", str(preset), "--directory", str(faked), cwd=faked)
    mp = pytest.MonkeyPatch()
    mp.chdir(fresh)
    try:
        plan = make_plan(preset)
    finally:
        mp.undo()
    return request.param, plan, counts, fresh


def test_job_totals_equal_the_dry_runs(preset_plan):
    name, plan, counts, fresh = preset_plan
    to_run = [j for j in plan.run.jobs if j.needs_run]
    assert len(to_run) == sum(counts.values()) == plan.total.jobs
    by_rule: dict[str, int] = {}
    for job in to_run:
        by_rule[job.rule] = by_rule.get(job.rule, 0) + 1
    assert by_rule == counts
    assert sum(t.jobs for t in plan.families.values()) == sum(counts.values()) - counts.get("all", 0)
    # a fresh clone: the inputs are listed, and the plan left the folder as it was
    assert plan.run.missing and all(not p.startswith("irds:") for p in plan.run.missing), plan.run.missing
    assert list(fresh.iterdir()) == []
    # every GPU rule's jobs got a rate (a job without one is counted, and would show here)
    assert plan.families["pretrain"].gpu_unknown == 0 and plan.families["pretrain"].gpu_hours > 0
    assert all(t.gpu_unknown == 0 for t in plan.families.values()), {k: t.gpu_unknown for k, t in plan.families.items()}
    text = render(plan, markdown=True)
    assert f"{sum(counts.values()):,} jobs to run" in text and "LLM paper, Pre-training" in text


@pytest.mark.parametrize("preset_plan", ["query-as-context"], indirect=True)
def test_a_qac_claim_below_its_mde_is_flagged(preset_plan):
    _, plan, _, _ = preset_plan
    claims = {c.claim.id: c for c in plan.claims}
    # Table 3's C = 5 vs C = 1: +0.1 MRR@10 on 6,980 dev queries, below the ~1.1-point MDE
    c5 = claims["qac-t3-cocondenser-c5-vs-c1-mrr10"].verdict
    assert c5.below_mde and 0.8 < c5.mde < 1.5 and c5.power.n == 6980
    # Table 4's CoT-MAE mixed vs query: −1.8, above it
    assert not claims["qac-t4-cotmae-mixed-vs-query-mrr10"].verdict.below_mde
    assert "⚠" in render(plan, markdown=True)


def _bench_fixture(folder: Path, rates: dict[str, float]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a100-fixture.json").write_text(json.dumps({
        "kind": "gpu", "device": {"name": "NVIDIA A100-SXM4-80GB (fixture)"},
        "pretrain": {schema: {"samples_per_second": sps} for schema, sps in rates.items()},
    }))
    return folder


def test_pretraining_gpu_hours_follow_the_bench_fixture(tmp_path, monkeypatch):
    preset = ROOT / "configs" / "query-as-context.yaml"
    rates = {"contrastive": 400.0, "cotmae": 250.0}
    bench = _bench_fixture(tmp_path / "bench", rates)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    targets = [f"results/query-as-context/pretrain/msmarco_doc/{s}/span/model" for s in rates]
    plan = make_plan(preset, targets, bench_dir=bench)
    # steps x global batch / samples/s: 120k x 2048 (coCondenser) and 50k x 16384 (CoT-MAE)
    expected = (120_000 * 2048 / 400.0 + 50_000 * 16_384 / 250.0) / 3600
    assert plan.families["pretrain"].gpu_hours == pytest.approx(expected)
    assert plan.families["pretrain"].jobs == 2
    assert "a100-fixture.json" in plan.rates.used["pretrain cotmae (a100)"].source
    # wall time: the GPU-hours over the job's 8 GPUs; submissions at the 4,320-minute runtime:
    # coCondenser 170.7 / 8 h = 1,280 min (one), CoT-MAE 910.2 / 8 h = 6,827 min (two)
    assert plan.families["pretrain"].submissions == 3

    # a built cell's training log comes before the bench: 8 processes logging 1,600 samples/s
    log = work / "results/query-as-context/pretrain/msmarco_doc/contrastive/span/train_log.json"
    log.parent.mkdir(parents=True)
    history = [{"step": s, "samples_per_second": 1600.0} for s in (1, 2, 3)]
    log.write_text(json.dumps({"world_size": 8, "history": history}))
    plan = make_plan(preset, targets[1:], bench_dir=bench)  # CoT-MAE still to run: its own rate
    assert plan.rates.used["pretrain cotmae (a100)"].value == 250.0
    plan = make_plan(preset, [targets[0].replace("/model", "/train_log.json")], bench_dir=bench)
    assert "training logs of 1 built" in plan.rates.used["pretrain contrastive (a100)"].source
    assert plan.rates.used["pretrain contrastive (a100)"].value == pytest.approx(200.0)


def test_mirror_links_the_real_entries_and_dates_stand_ins_1970(tmp_path):
    real = tmp_path / "real"
    (real / "data" / "kept").mkdir(parents=True)
    (real / "data" / "kept" / "x.tsv").write_text("x")
    (real / "results").mkdir()
    scratch = tmp_path / "scratch"
    mirror(real, scratch, [("data/absent/y.tsv", False), ("data/beir/nq", True)])
    assert (scratch / "results").is_symlink() and (scratch / "data" / "kept").is_symlink()
    assert not (scratch / "data").is_symlink()
    assert (scratch / "data/absent/y.tsv").stat().st_mtime == 0 and (scratch / "data/beir/nq").is_dir()
    assert not (real / "data" / "absent").exists()


def test_parse_jobs_reads_snakemakes_job_blocks():
    text = ("rule pretrain:\n    input: a, b\n    output: c/model, c/log.json\n    jobid: 3\n"
            "    wildcards: schema=cotmae, context=span\n    resources: tmpdir=/tmp, gpu=8, gpu_model=a100, runtime=4320\n"
            "localrule all:\n    input: c/model\n    jobid: 0\n")
    jobs = parse_jobs(text)
    assert [j.rule for j in jobs] == ["pretrain", "all"]
    assert jobs[0].inputs == ["a", "b"] and jobs[0].outputs == ["c/model", "c/log.json"]
    assert jobs[0].wildcards == {"schema": "cotmae", "context": "span"}
    assert jobs[0].resources["gpu"] == 8 and jobs[0].resources["gpu_model"] == "a100"


def test_cli_lists_its_commands_and_refuses_an_unknown_one():
    out = subprocess.run([sys.executable, "-m", "qcpt"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "plan" in out.stdout
    out = subprocess.run([sys.executable, "-m", "qcpt", "nope"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "unknown command 'nope'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "qcpt", "plan", "--configfile", "absent.yaml"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1 and "absent.yaml" in out.stderr


def test_built_outputs_count_as_built_in_a_fresh_clone(tmp_path, monkeypatch):
    """A job whose outputs exist is built, also where its inputs are missing (their stand-ins are
    dated 1970): the DL20 topics are prepared, the DL19 ones still to do."""
    preset = ROOT / "configs" / "query-as-context.yaml"
    monkeypatch.chdir(tmp_path)
    fake_irds_pointers(preset, tmp_path)  # the data by ID laid out long ago (its cache jobs ran)
    for pointer in (tmp_path / "results/query-as-context/irds").rglob("*.json"):
        os.utime(pointer, (0, 0))
    topics = tmp_path / "results/query-as-context/topics"
    topics.mkdir(parents=True)
    (topics / "dl20.tsv").write_text("1\tq\n")
    (topics / "dl20.qrels").write_text("1 0 d 1\n")
    plan = make_plan(preset, [f"results/query-as-context/topics/{n}.tsv" for n in ("dl19", "dl20")])
    assert plan.families["default"].jobs == 1
    assert plan.run.stats == {"prepare_topics": 1}, plan.run.stats
    built = [j for j in plan.run.jobs if not j.needs_run and j.rule == "prepare_topics"]
    assert [j.wildcards for j in built] == [{"topicset": "dl20"}]
