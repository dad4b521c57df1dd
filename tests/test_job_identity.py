"""A job's identity is what determines its output: its parameters, its inputs and its command's
version (qcpt/cli.py VERSIONS), never where the checkout or the interpreter happen to be.

One trimmed demo grid is built in a copy of this checkout, then: the copy moved elsewhere and run by
the same interpreter under another path plans nothing; a bumped command version reruns exactly that
command's jobs and what depends on them; a new cell runs alone; and every command's outputs match
the record in tests/data/command-outputs.json unless the command's version moved (a changed output
without a version bump fails here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import command_outputs
import pytest
import yaml
from conftest import ROOT, job_counts, tiny_config
from demo_runs import ENV

from qcpt.cli import VERSIONS


def _copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # this checkout's working tree as it is (tests run on uncommitted edits too)
    for rel in ("qcpt", "rules", "scripts", "Snakefile", "config.yaml"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / rel)


def _snakemake(checkout: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    cmd = [python, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"), "--configfile", "tiny.yaml", *args]
    proc = subprocess.run(cmd, cwd=checkout, env=ENV, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"snakemake {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _dry_run(checkout: Path, *args: str, python: str = sys.executable) -> dict[str, int]:
    return job_counts(_snakemake(checkout, "-n", *args, python=python).stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A copy of this checkout with the trimmed demo grid built inside it (results/ relative)."""
    checkout = tmp_path_factory.mktemp("identity") / "checkout"
    checkout.mkdir()
    _copy_checkout(checkout)
    cfg = yaml.safe_load(tiny_config(checkout).read_text())
    cfg["results"] = "results"
    (checkout / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    _snakemake(checkout, "--cores", "2")
    return checkout


def _copy_of(built: Path, dest: Path) -> Path:
    shutil.copytree(built, dest, symlinks=True)  # copy2: times kept, as `cp -a` or `mv` keeps them
    return dest


def test_nothing_changed_plans_nothing(built):
    assert _dry_run(built) == {}


def test_a_moved_grid_run_by_the_same_interpreter_under_another_path_plans_nothing(built, tmp_path):
    moved = _copy_of(built, tmp_path / "elsewhere" / "moved checkout")
    venv_bin = tmp_path / "another venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python3").symlink_to(sys.executable)  # the interpreter under another path
    proc = _snakemake(moved, "-n", python=str(venv_bin / "python3"))
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    # and a job forced to run there runs with the new interpreter and checkout, to the same output
    metrics = "results/eval/demo-test/bm25/metrics.json"
    before = command_outputs.digest(moved / metrics, moved)
    _snakemake(moved, "--cores", "1", "--forcerun", "evaluate", "--", metrics, python=str(venv_bin / "python3"))
    assert command_outputs.digest(moved / metrics, moved) == before


def _bump(checkout: Path, command: str) -> None:
    cli = checkout / "qcpt" / "cli.py"
    text, n = re.subn(rf'(\n    "{re.escape(command)}": )(\d+),', lambda m: f"{m.group(1)}{int(m.group(2)) + 1},",
                      cli.read_text())
    assert n == 1, command
    cli.write_text(text)


@pytest.mark.parametrize(("command", "rerun", "kept"), [
    ("retrieval.evaluate", {"evaluate", "summary", "report", "model_card"}, {"search", "pretrain", "finetune"}),
    ("retrieval.search", {"search", "evaluate", "summary", "report", "mine_negatives", "finetune", "encode",
                          "model_card"},
     {"pretrain", "bm25_search", "passages"}),
])
def test_a_bumped_command_version_reruns_its_jobs_and_their_dependants_only(built, tmp_path, command, rerun, kept):
    copy = _copy_of(built, tmp_path / "bumped")
    _bump(copy, command)
    counts = _dry_run(copy)
    built_outputs = command_outputs.collect(built)
    own_jobs = {o for o, r in built_outputs.items() if r["command"] == command}
    assert counts, "a bumped version reran nothing"
    assert set(counts) - {"all"} <= rerun | {"check_expected", "evaluate_mean"}, counts
    assert not set(counts) & kept, counts
    rule = next(r["rule"] for r in built_outputs.values() if r["command"] == command)
    assert counts[rule] == len(own_jobs), (counts, sorted(own_jobs))
    reasons = _snakemake(copy, "-n").stdout
    assert f"{command}@{VERSIONS[command] + 1}" in reasons, reasons[-3000:]
    why = subprocess.run([sys.executable, "-m", "qcpt", "why", "--configfile=tiny.yaml"], cwd=copy, env=ENV,
                         capture_output=True, text=True, timeout=600)
    bumped = f"command version bumped: {command}@{VERSIONS[command]} -> @{VERSIONS[command] + 1}"
    # Snakemake names one reason per job: a job whose input is also rebuilt may be counted under that
    assert why.returncode == 0 and f"{rule}: {len(own_jobs)} job" in why.stdout and bumped in why.stdout, (
        why.stdout + why.stderr[-2000:])


def test_adding_a_cell_runs_only_that_cell(built, tmp_path):
    copy = _copy_of(built, tmp_path / "plus-a-cell")
    cfg = yaml.safe_load((copy / "tiny.yaml").read_text())
    cfg["pretrain"]["grid"].append({"schema": ["contrastive"], "context": ["query"], "generator": ["d2q"],
                                    "count": [1]})
    (copy / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    counts = _dry_run(copy)
    assert counts["pretrain"] == 1 and counts.get("finetune", 0) == 0, counts
    assert not {"passages", "generate_queries", "bm25_index", "prepare_generator"} & set(counts), counts


def test_every_commands_outputs_match_the_record_unless_its_version_moved(built):
    current = command_outputs.collect(built)
    assert {r["command"] for r in current.values()} >= {
        "passages", "pretrain.driver", "retrieval.finetune.driver", "retrieval.search", "retrieval.evaluate",
        "querygen.driver", "querygen.selection", "retrieval.bm25:search", "summary"}
    if os.environ.get("QCPT_RECORD_COMMAND_OUTPUTS"):
        command_outputs.RECORD.parent.mkdir(parents=True, exist_ok=True)
        command_outputs.RECORD.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {len(current)} outputs in {command_outputs.RECORD}")
    record = json.loads(command_outputs.RECORD.read_text())
    stale = sorted({r["command"] for r in record.values() if VERSIONS.get(r["command"]) != r["version"]})
    assert not stale, (f"versions moved for {stale}: record the outputs anew "
                       f"(QCPT_RECORD_COMMAND_OUTPUTS=1 python -m pytest -q {Path(__file__).name})")
    changed = []
    for output, old in record.items():
        new = current.get(output)
        if new is None or new["params"] != old["params"] or new["inputs"] != old["inputs"]:
            continue  # not the same job on the same inputs: nothing to hold it to
        if new["digest"] != old["digest"]:
            files = sorted(k for k in {**old["digest"], **new["digest"]}
                           if old["digest"].get(k) != new["digest"].get(k))
            changed.append(f"{output} ({old['command']}@{old['version']}: {', '.join(files)[:200]})")
    assert not changed, ("the output of a command changed on the same inputs and parameters without a version "
                         "bump: bump its number in qcpt/cli.py VERSIONS (then record anew):\n  "
                         + "\n  ".join(changed))
    compared = [o for o, old in record.items() if o in current and current[o]["inputs"] == old["inputs"]
                and current[o]["params"] == old["params"]]
    assert len(compared) >= len(record) // 2, "most recorded jobs ran on other inputs: record anew"


def test_every_command_has_a_version():
    from qcpt.cli import COMMANDS

    assert set(VERSIONS) == set(COMMANDS)
    assert all(isinstance(v, int) and v >= 1 for v in VERSIONS.values())
