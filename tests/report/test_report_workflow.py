"""The report rule: its inputs are metrics files of the DAG; `snakemake --report` embeds its outputs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, dry_run

from qcpt import config as qconfig
from qcpt.report import output_files


def test_report_target_builds_through_the_metrics_of_the_grid(tmp_path):
    results = tmp_path / "results"
    counts = dry_run(str(results / "report" / "index.md"), "--config", f"results={results}")
    config = qconfig.load(ROOT / "config.yaml")
    assert counts["report"] == 1
    assert counts["evaluate"] == len(qconfig.metrics_targets(config))
    assert "summary" not in counts


FAKE_SNAKEFILE = '''
configfile: "config.yaml"
include: "rules/common.smk"
include: "rules/report.smk"

rule fake_metrics:
    output: f"{R}/eval/{{evalset}}/{{system}}/metrics.json"
    wildcard_constraints: system=r"bm25|zeroshot/.+|[A-Za-z0-9_-]+/.+/retriever[12]"
    run:
        import json, random
        rng = random.Random(output[0])
        pq = {m: {f"q{i}": rng.random() for i in range(20)} for m in ["MRR@10", "R@50", "R@1000", "nDCG@10"]}
        with open(output[0], "w") as f:
            json.dump({"measures": {m: sum(v.values()) / 20 for m, v in pq.items()}, "per_query": pq}, f)

rule all:
    input: REPORT_TARGETS
    default_target: True
'''


@pytest.mark.slow
def test_snakemake_html_report_embeds_tables_and_plots(tmp_path):
    """The real rule files over fake metrics (a copy of the workflow whose evaluation is faked)."""
    for name in ("qcpt", "scripts", "rules", "envs"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "Snakefile").write_text(FAKE_SNAKEFILE)
    run = [sys.executable, "-m", "snakemake", "--cores", "2"]
    proc = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = qconfig.load(tmp_path / "config.yaml")
    for name in output_files(config):
        assert (tmp_path / "results" / "report" / name).stat().st_size > 0
    proc = subprocess.run([*run, "--report", "report.html"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = Path(tmp_path / "report.html").read_text(errors="replace")
    assert "demo-demo-test-bars.png" in html and "demo-demo-test.csv" in html and "Demo grid" in html
