"""Fault matrix: for each family of rules, the trimmed demo is SIGKILLed (its whole process group)
while a job of that family runs, at a random point of it, then unlocked and rerun with
``--rerun-incomplete``. The families are taken in the workflow's order in one results folder: each
step's rerun finishes what the previous kill left, then builds the next family's targets and is
killed inside one of its jobs. At the end the results equal a clean run's: text artifacts, run
files, report tables and model weights byte for byte (as in tests/test_determinism.py), metrics to
1e-6, and nothing is left but hidden temporaries. A half-written file that anything downstream had
read would show as a difference.

The random point is a fraction of the killed rule's duration in the clean run; it is printed per
family with the seed (set QCPT_KILL_SEED to replay; QCPT_CLEAN_RUN reuses a clean run's folder, see
tests/demo_runs.py). The matrix is written to ``fault-matrix.json`` in the test's folder and printed.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from conftest import job_counts
from demo_runs import (
    EXACT_PATTERNS,
    WorkflowEndedBeforeKill,
    clean_run,
    demo_config,
    kill_when,
    resume,
    resumed_run_problems,
    run_demo,
)

pytestmark = pytest.mark.slow

# A job alone runs faster than in the clean run (two jobs at a time): retries draw the kill point
# from a shorter span.
RETRY_SCALES = (1.0, 0.3, 0.1, 0.03)
# The report's tables (its .md pages also carry provenance: results path, git commit, time).
REPORT_PATTERNS = ("summary.md", "report/*.csv")
CELL = "pt/demo/contrastive/query-d2q-c2-nall"

# (family, its rules, the targets of its step: relative to results; "" is the default target)
FAMILIES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("corpus/passages", ("documents", "prepare_collection", "prepare_topics", "train_punkt", "passages",
                         "build_encoder"), ("corpus/demo/passages.jsonl", "corpus/demo/embedded-encoder")),
    ("querygen", ("prepare_generator", "passage_order", "generate_queries", "select_queries"),
     ("corpus/demo/queries/d2q/c2-nall.tsv",)),
    ("pretrain", ("pretrain",), ("pretrain/demo/contrastive/span/model",
                                 "pretrain/demo/contrastive/query-d2q-c2-nall/model")),
    ("bm25", ("bm25_index", "bm25_search"), ("bm25/demo-test.trec",)),
    ("finetune/negatives", ("bm25_negatives", "finetune", "mine_negatives"),
     (f"finetune/demo/{CELL}/retriever2/model",)),
    ("encode/search", ("encode", "search"), ("eval/demo-test/zeroshot/pt/demo/contrastive/span/run.trec",
                                             f"eval/demo-test/demo/{CELL}/retriever2/run.trec")),
    ("evaluate", ("evaluate",), ("eval/demo-test/bm25/metrics.json",
                                 f"eval/demo-test/demo/{CELL}/retriever1/metrics.json")),
    ("report", ("summary", "report", "check_expected"), ()),
]

_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_DONE = re.compile(r"^Finished jobid: (\d+)")


def job_events(log_text: str) -> tuple[dict[str, str], set[str]]:
    """``({jobid: rule} of the jobs started, {jobids finished})`` in a Snakemake log."""
    started: dict[str, str] = {}
    finished: set[str] = set()
    rule = None
    for line in log_text.splitlines():
        if m := _START.match(line):
            rule = m.group(1)
        elif (m := _JOBID.match(line)) and rule:
            started[m.group(1)] = rule
            rule = None
        elif m := _DONE.match(line):
            finished.add(m.group(1))
    return started, finished


def rule_durations(log_text: str) -> dict[str, float]:
    """Median seconds per rule in a finished Snakemake log (its timestamps are whole seconds)."""
    stamp = None
    rule = None
    begun: dict[str, tuple[str, datetime]] = {}
    spans: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        if m := _STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := _START.match(line):
            rule = m.group(1)
        elif (m := _JOBID.match(line)) and rule and stamp:
            begun[m.group(1)] = (rule, stamp)
            rule = None
        elif (m := _DONE.match(line)) and m.group(1) in begun and stamp:
            name, start = begun[m.group(1)]
            spans.setdefault(name, []).append((stamp - start).total_seconds())
    return {name: statistics.median(s) for name, s in spans.items()}


@dataclass
class KillInside:
    """A kill condition: a job of ``rule`` has run for a random fraction of its clean duration."""

    rule: str
    clean_seconds: float
    rng: random.Random
    seen: dict[str, tuple[float, float]] = field(default_factory=dict)  # jobid -> seen at, delay
    landed: dict | None = None

    def __call__(self, text: str) -> bool:
        started, finished = job_events(text)
        now = time.monotonic()
        for jobid, rule in started.items():
            if rule == self.rule and jobid not in self.seen:
                # At least 1 s: the clean log's whole-second stamps make a quick job's duration 0.
                self.seen[jobid] = (now, self.rng.uniform(0.05, 0.85) * max(self.clean_seconds, 1.0))
        for jobid, (at, delay) in self.seen.items():
            if jobid not in finished and now - at >= delay:
                self.landed = {"rule": self.rule, "jobid": int(jobid), "seconds_into_job": round(now - at, 1),
                               "kill_span_seconds": round(self.clean_seconds, 1),
                               "running": sorted(started[j] for j in set(started) - finished)}
                return True
        return False


def test_fault_matrix_every_rule_family_killed_mid_job_resumes_to_the_clean_result(tmp_path_factory, tmp_path):
    started = time.monotonic()
    reference = clean_run(tmp_path_factory)
    durations = rule_durations((reference.parent / "clean-run.log").read_text())
    clean_seconds = round(time.monotonic() - started)
    config = demo_config(tmp_path, tmp_path / "results")
    results = tmp_path / "results"
    seed = int(os.environ.get("QCPT_KILL_SEED", random.SystemRandom().randrange(1_000_000)))
    rng = random.Random(seed)
    print(f"QCPT_KILL_SEED={seed}; clean run {clean_seconds} s; rule durations {durations}")

    matrix: list[dict] = []
    for step, (family, rules, targets) in enumerate(FAMILIES):
        t0 = time.monotonic()
        paths = [str(results / t) for t in targets]
        if step:
            run_demo(config, tmp_path, "--unlock")  # the previous kill left the lock behind
        row: dict = {"family": family, "attempts": 0}
        force: tuple[str, ...] = ()
        for attempt, scale in enumerate(RETRY_SCALES):
            row["attempts"] = attempt + 1
            # Targets before --forcerun, which takes several values.
            args = ("--rerun-incomplete", *paths, *force)
            dry = run_demo(config, tmp_path, "-n", *args)
            planned = job_counts(dry.stdout + dry.stderr)
            candidates = [r for r in rules if planned.get(r)]
            # A retry (the family's jobs were all done, or done before the kill point) runs them again,
            # with the kill point drawn earlier.
            force = ("--forcerun", *rules)
            if not candidates:
                continue
            # Which of the family's jobs: weighted by clean duration, long jobs being where kills land.
            rule = rng.choices(candidates, weights=[max(durations.get(r, 1.0), 1.0) for r in candidates])[0]
            cond = KillInside(rule, durations.get(rule, 1.0) * scale, rng)
            try:
                kill_when(config, tmp_path, cond, f"a {rule} job", *args, log_name=f"killed-{step}-{attempt}.log")
            except WorkflowEndedBeforeKill as ended:
                if ended.returncode != 0:
                    raise  # a failed job is a failure, not a missed kill
                continue
            row.update(cond.landed)
            break
        row["killed"] = "rule" in row
        row["seconds"] = round(time.monotonic() - t0)
        matrix.append(row)
        print(f"[fault matrix] {row}", flush=True)

    t0 = time.monotonic()
    resume(config, tmp_path)
    final_seconds = round(time.monotonic() - t0)

    problems = resumed_run_problems(reference, results, EXACT_PATTERNS + REPORT_PATTERNS)
    report = {"seed": seed, "clean_run_seconds": clean_seconds, "final_rerun_seconds": final_seconds,
              "total_seconds": round(time.monotonic() - started), "matrix": matrix, "problems": problems}
    (tmp_path / "fault-matrix.json").write_text(json.dumps(report, indent=2))
    print("[fault matrix] " + json.dumps(report), flush=True)
    out = os.environ.get("QCPT_FAULT_MATRIX_OUT")
    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    not_killed = [r["family"] for r in matrix if not r["killed"]]
    assert not not_killed, f"(QCPT_KILL_SEED={seed}) no job of {not_killed} could be killed"
    assert not problems, f"(QCPT_KILL_SEED={seed})\n" + "\n".join(problems)
