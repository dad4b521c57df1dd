"""Reference scores checked against runs (qcpt/report/expected.py, rule check_expected): within tolerance
passes and writes the table; off, or missing, fails the job naming the system and measure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, dry_run, fake_inputs

from qcpt import config as qconfig
from qcpt.report.expected import compare, to_markdown


def _metrics(root: Path, key: str, **measures: float) -> None:
    path = root / "eval" / key / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"measures": measures, "num_queries": 3}))


def _check(root: Path, expected: dict, tolerance: float = 0.005) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "qcpt.py"), "expected", "--root", str(root),
         "--expected", json.dumps(expected), "--tolerance", str(tolerance),
         "--out-md", str(root / "reproduction.md"), "--out-json", str(root / "reproduction.json")],
        capture_output=True, text=True)


def test_compare_at_the_tolerance_boundary():
    expected = {"s/bm25": {"nDCG@10": 0.6789, "R@100": 0.9253}}
    checks = compare(expected, {"s/bm25": {"nDCG@10": 0.6839, "R@100": 0.9304}}, 0.005)
    assert [(c.measure, c.ok) for c in checks] == [("nDCG@10", True), ("R@100", False)]
    assert checks[1].delta == pytest.approx(0.0051)
    missing = compare({"s/x": {"MRR@10": 0.3}}, {"s/x": {"nDCG@10": 0.3}}, 0.005)[0]
    assert missing.ours is None and not missing.ok
    table = to_markdown(checks + [missing])
    assert "1 of 3 scores within ±0.005" in table
    assert "| s/bm25 | R@100 | 0.9253 | 0.9304 | +0.0051 | FAIL |" in table
    assert "| s/x | MRR@10 | 0.3000 | – | – | FAIL (measure missing) |" in table


def test_script_writes_the_table_when_every_score_is_reproduced(tmp_path):
    _metrics(tmp_path, "scifact-test/bm25", **{"nDCG@10": 0.67891, "R@100": 0.9253})
    _metrics(tmp_path, "scifact-test/zeroshot/ext/minilm", **{"nDCG@10": 0.6449})
    proc = _check(tmp_path, {"scifact-test/bm25": {"nDCG@10": 0.6789, "R@100": 0.9253},
                             "scifact-test/zeroshot/ext/minilm": {"nDCG@10": 0.6451}})
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "reproduction.md").read_text()
    assert "3 of 3 scores within ±0.005" in table
    assert "| scifact-test/zeroshot/ext/minilm | nDCG@10 | 0.6451 | 0.6449 | -0.0002 | OK |" in table
    record = json.loads((tmp_path / "reproduction.json").read_text())
    assert record["tolerance"] == 0.005 and all(c["ok"] for c in record["checks"])


def test_script_fails_naming_what_was_not_reproduced_and_writes_nothing(tmp_path):
    _metrics(tmp_path, "scifact-test/bm25", **{"nDCG@10": 0.6600, "R@100": 0.9253})
    proc = _check(tmp_path, {"scifact-test/bm25": {"nDCG@10": 0.6789, "R@100": 0.9253}})
    assert proc.returncode == 1
    assert "1 of 2 expected scores not reproduced" in proc.stderr
    assert "scifact-test/bm25 nDCG@10 expected 0.6789, got 0.6600" in proc.stderr
    assert "| scifact-test/bm25 | nDCG@10 | 0.6789 | 0.6600 | -0.0189 | FAIL |" in proc.stdout  # the job log
    assert not (tmp_path / "reproduction.md").exists() and not (tmp_path / "reproduction.json").exists()


def test_script_names_a_metrics_file_that_is_not_one(tmp_path):
    bad = tmp_path / "eval/scifact-test/bm25/metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"num_queries": 3}')
    proc = _check(tmp_path, {"scifact-test/bm25": {"nDCG@10": 0.6789}})
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "field 'measures'" in proc.stderr


def _scifact_config() -> dict:
    return yaml.safe_load((ROOT / "configs/beir-scifact.yaml").read_text())


@pytest.mark.parametrize(("key", "scores", "message"), [
    ("scifact-test/bm26", {"nDCG@10": 0.7}, "config key 'expected.scores.scifact-test/bm26': not a metrics file"),
    ("scifact-test/bm25", {"MAP": 0.7}, "config key 'expected.scores.scifact-test/bm25.MAP': evalset 'scifact-test' does not compute MAP"),
])
def test_config_refuses_expected_scores_the_config_cannot_produce(key, scores, message):
    cfg = _scifact_config()
    cfg["expected"]["scores"][key] = scores
    with pytest.raises(qconfig.ConfigError, match=message.replace(".", r"\.")):
        qconfig.validate(cfg)


def test_the_check_builds_only_the_expected_cells(tmp_path):
    config_path = ROOT / "configs/beir-scifact.yaml"
    fake_inputs(config_path, tmp_path)
    counts = dry_run("--configfile", str(config_path), "--directory", str(tmp_path),
                     "results/beir-scifact/reproduction.md", cwd=tmp_path)
    # BM25 flat and multifield (pyserini's two BEIR runs, issue 28 #15) and MiniLM zero-shot
    assert counts["check_expected"] == 1 and counts["evaluate"] == 3
    assert counts["encode"] == 2 and counts["bm25_search"] == 2 and counts["bm25_index"] == 2
    assert not {"finetune", "pretrain", "generate_queries", "summary"} & set(counts)
    # And `all` includes the check, where a config has expected scores.
    assert dry_run("--configfile", str(config_path), "--directory", str(tmp_path), cwd=tmp_path)["check_expected"] == 1
