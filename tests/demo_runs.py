"""Helpers for the slow whole-workflow tests (determinism, kill-and-resume, fault matrix, odd paths):
the trimmed demo config of tests/workflow/test_workflow_e2e.py in a working directory of its own, clean runs
shared within a test session, killing a running workflow (SIGKILL of its process group) and resuming
it, and artifact-by-artifact comparison of two results folders."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from conftest import ROOT, tiny_config

from qcpt.core.io import sha256_file

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

# Byte-identical between two runs of the same config: text artifacts and run files.
EXACT_PATTERNS = (
    "corpus/*/documents.jsonl", "corpus/*/passages.jsonl", "corpus/*/passage-order.txt",
    "corpus/*/queries/**/*.tsv", "data/*/collection.jsonl", "topics/*.tsv", "topics/*.qrels",
    "finetune/**/*negatives.jsonl", "**/*.trec",
)
# Model weights (and the vectors they encode) — compared where the run is deterministic.
MODEL_PATTERNS = ("**/model/model.safetensors", "corpus/*/embedded-encoder/model.safetensors", "**/generators/*/model/*.safetensors")


def demo_config(folder: Path, results: Path, documents: Path | None = None) -> Path:
    """tests/workflow/test_workflow_e2e.py's trimmed demo, with every input as an absolute path (so the
    workflow can run with ``--directory`` elsewhere: its .snakemake metadata and locks stay out of
    the repository) and ``results`` where the caller wants them."""
    folder.mkdir(parents=True, exist_ok=True)
    path = tiny_config(folder, documents)
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))

    def absolute(p: str) -> str:
        return p if Path(p).is_absolute() else str(ROOT / p)

    cfg["results"] = str(results)
    cfg["corpus"]["source"] = absolute(cfg["corpus"]["source"])
    for spec in cfg["collections"].values():
        spec["source"] = absolute(spec["source"])
    for spec in [*cfg["evalsets"].values(), *cfg["finetune"]["datasets"].values()]:
        spec["topics"], spec["qrels"] = absolute(spec["topics"]), absolute(spec["qrels"])
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def snakemake_command(config: Path, workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--configfile", str(config),
            "--directory", str(workdir), "--cores", "2", *args]


def run_demo(config: Path, workdir: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess:
    proc = subprocess.run(snakemake_command(config, workdir, *args), cwd=workdir, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


_CLEAN_RUNS: dict[str, Path] = {}


def clean_run(tmp_path_factory, tag: str = "clean") -> Path:
    """The results folder of an uninterrupted demo run, made once per test session and tag (the
    determinism and kill tests compare against the same one)."""
    reuse = os.environ.get("QCPT_CLEAN_RUN") if tag == "clean" else None
    if reuse and tag not in _CLEAN_RUNS:
        # A clean run's folder from an earlier session of the same code (results/ + clean-run.log), to
        # replay a kill test without rebuilding the reference; only ever read, never written.
        folder = Path(reuse)
        if not (folder / "clean-run.log").is_file() or not (folder / "results").is_dir():
            raise AssertionError(f"QCPT_CLEAN_RUN={reuse}: not a clean run's folder (results/, clean-run.log)")
        _CLEAN_RUNS[tag] = folder / "results"
    if tag not in _CLEAN_RUNS:
        folder = tmp_path_factory.mktemp(f"demo-{tag}")
        config = demo_config(folder, folder / "results")
        proc = run_demo(config, folder)
        (folder / "clean-run.log").write_text(proc.stdout + proc.stderr)  # job timings, for the fault matrix
        _CLEAN_RUNS[tag] = folder / "results"
    return _CLEAN_RUNS[tag]


FINISHED = re.compile(r"^Finished jobid: \d+", re.MULTILINE)


class WorkflowEndedBeforeKill(AssertionError):
    """The workflow finished (``returncode`` 0) or failed before the kill condition held."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


def kill_when(config: Path, workdir: Path, ready: Callable[[str], bool], what: str, *targets: str,
              timeout: float = 1800, log_name: str = "killed-run.log") -> int:
    """Run the workflow, SIGKILL its process group once ``ready(log_text)`` holds; returns the
    number of jobs that had finished. Raises WorkflowEndedBeforeKill when it ends first."""
    log = workdir / log_name
    with open(log, "w") as out:
        proc = subprocess.Popen(snakemake_command(config, workdir, *targets), cwd=workdir, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready(log.read_text(errors="replace")):
            if proc.poll() is not None:
                raise WorkflowEndedBeforeKill(f"the workflow ended ({proc.returncode}) before {what}:\n"
                                              f"{log.read_text(errors='replace')[-3000:]}", proc.returncode)
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"not killed ({proc.returncode}): {what}"
    return len(FINISHED.findall(log.read_text(errors="replace")))


def resume(config: Path, workdir: Path, *targets: str) -> subprocess.CompletedProcess:
    # SIGKILL leaves Snakemake's lock behind; --unlock is what a user runs after a crash.
    run_demo(config, workdir, "--unlock")
    return run_demo(config, workdir, "--rerun-incomplete", *targets)


def all_files(results: Path) -> set[str]:
    """Every file under ``results`` except the logs."""
    return {str(p.relative_to(results)) for p in results.rglob("*")
            if p.is_file() and "logs" not in p.relative_to(results).parts[:1]}


def only_temporaries_added(reference: Path, results: Path) -> list[str]:
    """Files ``results`` has beyond ``reference`` that are not hidden temporaries of the atomic
    writers (``.name.*.tmp``): what a killed run may leave behind is never a name a rule or a
    person would take for an output, nor a stale checkpoint."""
    extra = all_files(results) - all_files(reference)
    return sorted(f for f in extra if not any(part.startswith(".") and ".tmp" in part for part in Path(f).parts))


def files(results: Path, patterns: tuple[str, ...]) -> list[str]:
    found = {str(p.relative_to(results)) for pattern in patterns for p in results.glob(pattern) if p.is_file()}
    return sorted(f for f in found if "/checkpoints/" not in f and not Path(f).name.startswith("."))


def metrics_files(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.glob("eval/**/metrics.json"))


def differing_files(a: Path, b: Path, patterns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(files in a and b whose bytes differ, files missing from one side)``."""
    in_a, in_b = files(a, patterns), files(b, patterns)
    missing = sorted(set(in_a) ^ set(in_b))
    differ = [f for f in in_a if f in in_b and sha256_file(a / f) != sha256_file(b / f)]
    return differ, missing


def metrics_differences(a: Path, b: Path, tolerance: float = 1e-6) -> list[str]:
    """Measures and per-query values that differ by more than ``tolerance`` (or exist on one side)."""
    problems: list[str] = []
    in_a, in_b = metrics_files(a), metrics_files(b)
    problems += [f"{f}: only in one run" for f in sorted(set(in_a) ^ set(in_b))]
    for f in sorted(set(in_a) & set(in_b)):
        ma, mb = json.loads((a / f).read_text()), json.loads((b / f).read_text())
        if ma["num_queries"] != mb["num_queries"]:
            problems.append(f"{f}: num_queries {ma['num_queries']} != {mb['num_queries']}")
        for name, value in ma["measures"].items():
            other = mb["measures"].get(name)
            if other is None or not math.isclose(value, other, rel_tol=0, abs_tol=tolerance):
                problems.append(f"{f}: {name} {value} != {other}")
        for name, per_query in ma["per_query"].items():
            other = mb["per_query"].get(name, {})
            bad = [q for q, v in per_query.items() if q not in other or abs(v - other[q]) > tolerance]
            if bad or set(other) - set(per_query):
                problems.append(f"{f}: per-query {name} differs for {len(bad)} queries (e.g. {bad[:3]})")
    return problems


def resumed_run_problems(reference: Path, results: Path, exact: tuple[str, ...] = EXACT_PATTERNS) -> list[str]:
    """How the results of a killed-and-resumed run differ from a clean run's: ``exact`` files byte
    for byte, metrics to 1e-6, model weights byte for byte, and nothing left behind but hidden
    temporaries of the atomic writers."""
    differ, missing = differing_files(reference, results, exact)
    problems = [f"differs from the clean run: {f}" for f in differ] + [f"built by one run only: {f}" for f in missing]
    problems += metrics_differences(reference, results)
    differ, missing = differing_files(reference, results, MODEL_PATTERNS)
    problems += [f"weights differ: {f}" for f in differ] + [f"weights in one run only: {f}" for f in missing]
    problems += [f"left behind: {f}" for f in only_temporaries_added(reference, results)]
    return problems
