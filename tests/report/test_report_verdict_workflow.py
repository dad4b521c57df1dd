"""The verdict in the workflow: every claim's two cells are built by its paper's preset (a dry run),
seed replicates on one demo cell build both runs, and the report leads with the verdict table,
linking each verdict's metrics files, with mean ± sd over seeds in the tables, then the query audits."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, fake_inputs, snakemake

from qcpt import config as qconfig
from qcpt.core.config_files import read_config
from qcpt.querygen import audit as qaudit
from qcpt.report import claims as qclaims
from qcpt.report import jobs as report_jobs
from qcpt.report.build import ReportBuilder
from qcpt.report.spec import CellRef, Grid
from qcpt.workflow import grid as workflow_grid


def _dry_run_lines(*args: str, cwd: Path) -> str:
    proc = snakemake("-n", "--cores", "1", *args, cwd=cwd)
    return proc.stdout + proc.stderr


def _job_files(output: str, rule: str, field: str) -> set[str]:
    """The ``field`` (input/output) files of every job of ``rule`` in a dry run's listing."""
    files: set[str] = set()
    current = None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            current = m.group(1)
        elif current == rule and line.strip().startswith(f"{field}: "):
            files.update(f.strip() for f in line.strip()[len(field) + 2:].split(","))
    return files


@pytest.mark.parametrize("preset, claim_set", [("query-as-context", "qac"), ("llm-expansion", "llm")])
def test_each_paper_preset_builds_every_claims_two_cells(tmp_path, preset, claim_set):
    config_path = ROOT / "configs" / f"{preset}.yaml"
    fake_inputs(config_path, tmp_path)
    output = _dry_run_lines("--configfile", str(config_path), "--directory", str(tmp_path), cwd=tmp_path)
    built = _job_files(output, "evaluate", "output") | _job_files(output, "evaluate_mean", "output")
    report_inputs = _job_files(output, "report", "input")
    config = qconfig.validate(read_config(config_path))
    grid = Grid(config)
    claims = qclaims.claims_for([claim_set])
    assert len(claims) == len(qclaims.CLAIMS[claim_set][0]) > 10
    for claim in claims:
        for ref in qclaims.claim_refs(grid, claim):
            path = os.path.normpath(ref.path(config["results"]))
            assert path in built, f"{claim.id}: {path} is not built by {preset}"
            assert path in report_inputs, f"{claim.id}: {path} is not an input of the report"


def test_the_demo_builds_both_cells_of_every_demo_claim_on_each_of_at_least_three_seeds(tmp_path):
    """No demo verdict is "not built": config.yaml's dry run evaluates every seed replicate of both
    cells of each claim of claims-demo.yaml, and feeds them to the report."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["results"] = str(tmp_path / "results")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    output = _dry_run_lines("--configfile", str(path), cwd=ROOT)
    built = _job_files(output, "evaluate", "output")
    report_inputs = _job_files(output, "report", "input")
    config = qconfig.validate(config)
    grid = Grid(config)
    for claim in qclaims.claims_for(["demo"]):
        for ref in qclaims.claim_refs(grid, claim):
            replicates = grid.replicates(ref.system)
            assert len(replicates) >= 3, f"{claim.id}: {ref.system} has {len(replicates)} seed(s)"
            for system in replicates:
                metrics = os.path.normpath(CellRef(ref.evalset, system, ref.measure).path(config["results"]))
                assert metrics in built, f"{claim.id}: {metrics} is not built by config.yaml"
                assert metrics in report_inputs, f"{claim.id}: {metrics} is not an input of the report"


def _seeded_demo(tmp_path: Path, block: int | None) -> Path:
    """config.yaml with ``seeds: [42, 43]`` on grid block ``block`` (None: the whole grid)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for grid_block in config["pretrain"]["grid"]:
        grid_block.pop("seeds", None)  # the demo's own seeds: replaced by these two
    if block is None:
        config["seeds"] = [42, 43]
    else:
        config["pretrain"]["grid"][block]["seeds"] = [42, 43]
    config["results"] = str(tmp_path / "results")
    path = tmp_path / "seeded.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_seeds_on_one_demo_cell_build_both_replicates(tmp_path):
    config = _seeded_demo(tmp_path, 1)  # block 1: the contrastive query cell (d2q, C = 5)
    output = _dry_run_lines("--configfile", str(config), "-p", cwd=ROOT)
    runs = {p for p in _job_files(output, "pretrain", "output") if p.endswith("/model")}
    assert {Path(p).parent.name for p in runs} >= {"query-d2q-c5-nall", "query-d2q-c5-nall-s43"}
    assert len(runs) == 5 + 1  # span, query, CoT-MAE, the curriculum's two stages; + the query replicate
    tuned = {p for p in _job_files(output, "finetune", "output") if p.endswith("/model")}
    assert any("/contrastive/query-d2q-c5-nall-s43/retriever2/" in p for p in tuned)
    assert len(tuned) == 2 + 2  # the fine-tuned query cell: retrievers 1 and 2 once per seed
    # the replicate's jobs get its seed, the default seed's cell keeps its path and its seed
    seeds = {}
    for m in re.finditer(r"pretrain\.driver@\d+ .*?--out \S*/contrastive/(query-d2q-c5-nall(?:-s43)?)/model .*?--params '([^']*)'",
                         output):
        seeds[m.group(1)] = json.loads(m.group(2))["seed"]
    assert seeds == {"query-d2q-c5-nall": 42, "query-d2q-c5-nall-s43": 43}


def _write_metrics(path: str, per_query: list[float]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    values = {f"q{i}": v for i, v in enumerate(per_query)}
    Path(path).write_text(json.dumps({"measures": {m: sum(per_query) / len(per_query) for m in ("MRR@10", "nDCG@10")},
                                      "per_query": {m: values for m in ("MRR@10", "nDCG@10")}}))


def test_the_report_leads_with_the_verdict_table_and_shows_mean_sd_over_seeds(tmp_path):
    config = qconfig.validate(read_config(_seeded_demo(tmp_path, None)))
    results = config["results"]
    base = [0.2, 0.4, 0.3, 0.5, 0.6, 0.1, 0.3, 0.2]
    for i, path in enumerate(workflow_grid.metrics_targets(config)):
        lift = 0.0 if "/span" in path else 0.1  # every query-context cell is 0.1 above span
        lift += 0.02 if "-s43" in path else 0.0
        if "/retriever2/" not in path:  # the retriever 2 files stay missing: one claim is not built
            _write_metrics(path, [v + lift + 0.001 * (i % 3) * (q % 2) for q, v in enumerate(base)])
    # one query file's audit, with a planted leak of a test topic
    audit_path = report_jobs.audit_targets(config)[0]
    record = qaudit.audit({"p1": ["year the comet from la silla found", "comet tail"]}, [("p1", "a comet")], 5,
                          {"demo-test": {"q202": "year the comet from la silla found"}}, [{"shortfall": 3}])
    Path(audit_path).parent.mkdir(parents=True, exist_ok=True)
    Path(audit_path).write_text(json.dumps(record))
    out = tmp_path / "report"
    ReportBuilder(config, out).build()
    index = (out / "index.md").read_text()
    assert index.index("## Did it replicate?") < index.index("## Demo grid")
    audits = (out / "queries-audit.md").read_text()
    assert "| d2q | 5 | all | 1 | 2 | 2.00 | 1 |" in audits and "| 1 + 0 |" in audits and "(not built)" in audits
    assert (out / "queries-audit-lengths.png").stat().st_size > 0
    rows = {r["claim"]: r for r in csv.DictReader(open(out / "verdict.csv", newline="", encoding="utf-8"))}
    assert set(rows) == {c.id for c in qclaims.CLAIMS["demo"][0]}
    zeroshot = rows["demo-query-vs-span-zeroshot"]
    assert zeroshot["verdict"] == "replicated" and zeroshot["seeds"] == "2"
    assert float(zeroshot["delta"]) == pytest.approx(10.0, abs=0.2)
    assert rows["demo-r2-vs-r1-query"]["verdict"] == "not built"  # its retriever 2 files were removed
    ours = zeroshot["ours_metrics"].split(";")
    assert "/query-d2q-c5-nall/" in ours[0] and "/query-d2q-c5-nall-s43/" in ours[1]
    md = (out / "verdict.md").read_text()
    link = os.path.relpath(ours[0], out)
    assert f"]({link})" in md and (out / link).resolve().is_file()
    demo = (out / "demo-demo-test.md").read_text()
    assert re.search(r"\| contrastive · span \| 0\.\d{4} ± 0\.\d{4}", demo), demo
    assert results in zeroshot["baseline_metrics"]
    # each claim's MDE: from its own two runs where built, else from the runs built on its eval set
    from qcpt.report import power as qpower

    assert zeroshot["mde_source"] == "the claim's own two runs" and zeroshot["mde_queries"] == "8"
    assert float(zeroshot["mde"]) == pytest.approx(
        qpower.mde(float(zeroshot["mde_sd"]), 8, 0.01) * 100, abs=2e-4)  # CSV: 4 decimals
    unbuilt = rows["demo-r2-vs-r1-query"]
    assert "built runs on demo-test" in unbuilt["mde_source"] and float(unbuilt["mde"]) > 0
    assert unbuilt["paper_delta_below_mde"] == str(int(2.0 < float(unbuilt["mde"])))
    assert "| MDE |" in md
