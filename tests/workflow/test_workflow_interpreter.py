"""Jobs run with the interpreter that runs Snakemake, not whatever `python` is first on PATH (issue 11,
failure 4: `.venv/bin/snakemake --cores 2` without the venv activated failed every job); under conda
deployment the rule's environment's `python` is used, and a generator's `python:` key wins."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, fake_conda
from demo_runs import ENV, demo_config, snakemake_command
from snakemake.settings.types import DeploymentMethod, DeploymentSettings

from qcpt.cli import job_python


def _path_with_failing_python(tmp_path: Path) -> dict[str, str]:
    """The environment with a `python` (and `python3`) first on PATH that only fails."""
    stubs = tmp_path / "stub-bin"
    stubs.mkdir()
    for name in ("python", "python3"):
        stub = stubs / name
        stub.write_text("#!/bin/sh\necho 'stub python on PATH was run' >&2\nexit 1\n")
        stub.chmod(0o755)
    return {**ENV, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}


def test_jobs_run_with_snakemakes_interpreter_not_the_first_python_on_path(tmp_path):
    env = _path_with_failing_python(tmp_path)
    assert subprocess.run(["python", "-c", "pass"], env=env).returncode == 1  # the stub is what PATH finds
    results = tmp_path / "results"
    config = demo_config(tmp_path / "cfg", results)
    targets = [str(results / "corpus/demo/documents.jsonl"), str(results / "corpus/demo/punkt.pickle")]
    # Snakemake started by interpreter path (as `.venv/bin/snakemake` does), the venv not activated.
    cmd = snakemake_command(config, tmp_path, "--cores", "1", *targets)
    assert cmd[0] == sys.executable
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text() for p in (results / "logs").rglob("*.log")) if (results / "logs").exists() else ""
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n{logs[-2000:]}"
    assert "stub python" not in logs
    assert all(Path(t).stat().st_size > 0 for t in targets)


def _shell_commands(output: str, rule: str) -> list[str]:
    """The shell commands a dry run with --printshellcmds shows for ``rule``'s jobs."""
    commands, current = [], None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")):
            current = line.split()[1].rstrip(":")
        elif line.startswith("Shell command: ") and current == rule:
            commands.append(line[len("Shell command: "):])
    return commands


JOB_START = '"$QCPT_PYTHON" "$QCPT_ENTRY" '


def _dry_run(tmp_path: Path, config: Path, targets: list[str], *options: str, env: dict | None = None) -> str:
    # Targets first: --set-resources (like --configfile) takes several values.
    cmd = [sys.executable, "-m", "snakemake", *targets, "--snakefile", str(ROOT / "Snakefile"),
           "--configfile", str(config), "--directory", str(tmp_path), "-n", "-p", "--forceall", *options]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env or ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_local_jobs_and_torchrun_launches_name_the_same_interpreter(tmp_path):
    results = tmp_path / "results"
    config = demo_config(tmp_path / "cfg", results)
    targets = [str(results / "corpus/demo/documents.jsonl"), str(results / "pretrain/demo/contrastive/span/model")]
    out = _dry_run(tmp_path, config, targets, "--set-resources", "pretrain:gpu=2")
    python = shlex.quote(sys.executable)
    documents, pretrain = _shell_commands(out, "documents"), _shell_commands(out, "pretrain")
    # The interpreter and entry point reach the shell through the environment (rules/common.smk), never
    # through params; test_jobs_run_with_snakemakes_interpreter... runs them. scripts/qcpt.py starts
    # torchrun with its own interpreter (test_the_entry_point_starts_torchrun_with_its_own_interpreter).
    assert python and documents and documents[0].startswith(JOB_START), documents
    assert pretrain and f" exec {JOB_START}--processes 2 pretrain.driver@" in pretrain[0], pretrain


def _exec_of(monkeypatch, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """What scripts/qcpt.py execs for ``argv`` (os.execv/execvp stubbed)."""
    from qcpt import cli

    calls = []

    def fake_exec(path, args):
        calls.append(list(args))
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execv", fake_exec)
    monkeypatch.setattr(cli.os, "execvp", fake_exec)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit):
        cli.main(argv)
    return calls[0]


def test_the_entry_point_starts_torchrun_with_its_own_interpreter(monkeypatch):
    from qcpt.cli import command_with_version

    args = _exec_of(monkeypatch, ["--processes", "2", command_with_version("pretrain.driver"), "--passages", "p.jsonl"])
    assert args[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--"]
    assert args[6].endswith("scripts/qcpt.py") and args[7:] == ["pretrain.driver", "--passages", "p.jsonl"]


def test_a_job_planned_with_another_command_version_stops(capsys):
    from qcpt import cli

    assert cli.main([f"passages@{cli.VERSIONS['passages'] + 1}", "--help"]) == 2
    assert "rerun snakemake" in capsys.readouterr().err


def test_under_conda_jobs_run_their_environments_python(tmp_path):
    """With --software-deployment-method conda each job's environment (envs/) is activated first, so
    the bare `python` is that environment's; Snakemake's own interpreter would bypass it."""
    results = tmp_path / "results"
    config = demo_config(tmp_path / "cfg", results)
    targets = [str(results / "corpus/demo/documents.jsonl"), str(results / "pretrain/demo/contrastive/span/model")]
    env = {**ENV, **fake_conda(tmp_path / "conda-bin")} if not shutil.which("conda") else ENV
    out = _dry_run(tmp_path, config, targets, "--software-deployment-method", "conda", "--set-resources",
                   "pretrain:gpu=2", env=env)
    documents, pretrain = _shell_commands(out, "documents"), _shell_commands(out, "pretrain")
    assert documents and documents[0].startswith(JOB_START), documents
    assert pretrain and f" exec {JOB_START}--processes 2 pretrain.driver@" in pretrain[0], pretrain


def test_job_python_is_quoted_and_conda_uses_the_environments_python():
    assert job_python(None, "/opt/my venv/bin/python") == "'/opt/my venv/bin/python'"
    assert job_python(DeploymentSettings(), "/usr/bin/python3") == "/usr/bin/python3"
    assert job_python(DeploymentSettings(), None) == shlex.quote(sys.executable)
    conda = DeploymentSettings(deployment_method={DeploymentMethod.CONDA})
    assert job_python(conda, "/usr/bin/python3") == "python"
    modules = DeploymentSettings(deployment_method={DeploymentMethod.ENV_MODULES})
    assert job_python(modules, "/usr/bin/python3") == "/usr/bin/python3"


def test_a_generators_python_key_still_wins(tmp_path):
    results = tmp_path / "results"
    config = demo_config(tmp_path / "cfg", results)
    cfg = yaml.safe_load(config.read_text())
    cfg["generators"]["d2q"]["python"] = "/opt/vllm-venv/bin/python"
    config.write_text(yaml.safe_dump(cfg))
    out = _dry_run(tmp_path, config, [str(results / "corpus/demo/queries/d2q/shards/shard-00000.tsv")])
    generate = _shell_commands(out, "generate_queries")
    # the generator's interpreter is no param (a venv's path is not the job's identity): the entry
    # point execs it, from the map the workflow puts in the jobs' environment
    assert generate and " --generator-python d2q querygen.driver@" in generate[0], generate
    assert "/opt/vllm-venv" not in generate[0]
    assert _shell_commands(out, "documents")[0].startswith(JOB_START)


def test_the_entry_point_runs_a_generator_under_its_own_interpreter(monkeypatch):
    from qcpt.cli import GENERATOR_PYTHON_ENV

    env = {GENERATOR_PYTHON_ENV: json.dumps({"d2q": "/opt/vllm-venv/bin/python"})}
    from qcpt.cli import command_with_version

    args = _exec_of(monkeypatch, ["--generator-python", "d2q", command_with_version("querygen.driver"), "--shard", "0"], env)
    assert args[0] == "/opt/vllm-venv/bin/python" and args[1].endswith("scripts/qcpt.py")
    assert args[2:] == ["querygen.driver", "--shard", "0"]


@pytest.mark.slow
def test_a_two_process_pretraining_launch_runs_with_snakemakes_interpreter(tmp_path):
    """The multi-GPU launch for real, on CPU (gloo): `--set-resources pretrain:gpu=2` makes the rule start
    two processes through `<interpreter> -m torch.distributed.run`, with the failing stub first on PATH."""
    env = _path_with_failing_python(tmp_path)
    results = tmp_path / "results"
    config = demo_config(tmp_path / "cfg", results)
    model = results / "pretrain/demo/contrastive/span/model"
    cmd = [sys.executable, "-m", "snakemake", str(model), "--snakefile", str(ROOT / "Snakefile"),
           "--configfile", str(config), "--directory", str(tmp_path), "--cores", "2",
           "--set-resources", "pretrain:gpu=2"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    log = results / "logs/pretrain/demo/contrastive/span.log"
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n{log.read_text()[-3000:] if log.exists() else ''}"
    assert (model / "config.json").is_file()
    train_log = json.loads((results / "pretrain/demo/contrastive/span/train_log.json").read_text())
    assert train_log["world_size"] == 2, train_log
