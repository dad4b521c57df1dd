"""Two clean runs of the trimmed demo give the same artifacts: passages, generated queries,
negatives and run files byte for byte, metrics equal to 1e-6, and the same model weights (every
seed is fixed and the CPU kernels used are deterministic)."""

from __future__ import annotations

import pytest
from demo_runs import (
    EXACT_PATTERNS,
    MODEL_PATTERNS,
    clean_run,
    differing_files,
    files,
    metrics_differences,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    return clean_run(tmp_path_factory, "clean"), clean_run(tmp_path_factory, "clean-again")


def test_both_runs_built_every_compared_kind_of_artifact(two_runs):
    first, _ = two_runs
    built = files(first, EXACT_PATTERNS)
    for needle in ("passages.jsonl", "queries/d2q/c2-nall.tsv", "queries/d2q/shards/shard-00000.tsv",
                   "bm25-negatives.jsonl", "mined-negatives.jsonl", "bm25/demo-test.trec", "retriever2/run.trec"):
        assert any(f.endswith(needle) for f in built), f"no {needle} among {built}"
    assert len(files(first, MODEL_PATTERNS)) >= 5


def test_text_artifacts_and_runs_are_byte_identical(two_runs):
    differ, missing = differing_files(*two_runs, EXACT_PATTERNS)
    assert not missing, f"built by one run only: {missing}"
    assert not differ, f"differ between two clean runs: {differ}"


def test_metrics_are_equal(two_runs):
    problems = metrics_differences(*two_runs)
    assert not problems, "\n".join(problems)


def test_model_weights_are_identical(two_runs):
    differ, missing = differing_files(*two_runs, MODEL_PATTERNS)
    assert not missing, missing
    assert not differ, f"weights differ between two clean runs: {differ}"
