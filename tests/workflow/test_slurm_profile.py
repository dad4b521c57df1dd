"""profiles/slurm through the real submit path of snakemake-executor-plugin-slurm, against fake SLURM
commands (sbatch records its argv and prints a job id, sacct reports every job COMPLETED). No job
runs: outputs stay missing, so Snakemake reports each job failed after submission, and what is
checked is the sbatch command line of every submission. Nothing here reaches a real cluster: the
fakes come first on PATH, SLURM_* variables are dropped, everything is written under tmp_path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, fake_inputs, fake_irds_pointers

PROFILE = ROOT / "profiles" / "slurm"
LLM = ROOT / "configs" / "llm-expansion.yaml"
DEMO = ROOT / "config.yaml"
FAKE_PARTITION = "cpu"  # the fake sinfo marks it as the cluster's default ("cpu*")

FAKE_SBATCH = r'''
import fcntl, json, os, sys
log = os.environ["FAKE_SLURM_LOG"]
argv = sys.argv[1:]
script = sys.stdin.read() if not sys.stdin.isatty() else ""  # --slurm-pass-command-as-script
with open(log + ".lock", "a") as lock:  # the plugin submits from two threads
    fcntl.flock(lock, fcntl.LOCK_EX)
    count = sum(1 for _ in open(log)) if os.path.exists(log) else 0
    jobid = 7100000 + count
    name = argv[argv.index("--job-name") + 1]
    with open(log, "a") as f:
        f.write(json.dumps({"jobid": jobid, "name": name, "argv": argv, "script": script}) + "\n")
print(jobid)  # what `sbatch --parsable` prints
'''

# `sacct -X --parsable2 --noheader --format=JobIdRaw,State ... --name <run id>`: every job of that
# run has finished. Other queries (the plugin guessing an account) get no rows.
FAKE_SACCT = r'''
import json, os, sys
log = os.environ["FAKE_SLURM_LOG"]
if "--name" in sys.argv and os.path.exists(log):
    name = sys.argv[sys.argv.index("--name") + 1]
    for line in open(log):
        job = json.loads(line)
        if job["name"] == name:
            print(f"{job['jobid']}|COMPLETED")
'''

FAKE_SHELL = {
    "sinfo": f'echo PARTITION; echo gpu; echo "{FAKE_PARTITION}*"',
    "scontrol": 'echo "MinJobAge               = 300 sec"; echo "MaxArraySize            = 1001"',
    "squeue": "exit 0",
    "scancel": "exit 0",
    "sacctmgr": "exit 0",
    "sshare": "exit 0",
    "srun": 'echo "$@" >> "$FAKE_SLURM_LOG.srun"; exit 0',  # never reached: no job runs
}

# sbatch options the plugin writes with their value as the next argument
VALUE_FLAGS = {"--job-name", "--output", "--comment", "-p", "-A", "-t", "-C", "--mem", "--mem-per-cpu", "-D"}
# Only the targets' own rules may run: their inputs are empty stand-ins, not outputs to rebuild.
ALLOWED_RULES = ["documents", "prepare_topics", "bm25_index", "generate_queries", "pretrain", "finetune", "encode"]

LLM_R = "results/llm-expansion"
LLM_INTERMEDIATES = [
    f"{LLM_R}/corpus/msmarco_passage/passages.jsonl",
    f"{LLM_R}/corpus/msmarco_passage/passage-order.txt",
    f"{LLM_R}/data/msmarco-passage/collection.jsonl",
    f"{LLM_R}/finetune/msmarco/bm25-negatives.jsonl",
]
# target -> its job as (rule, generator)
LLM_TARGETS = {
    f"{LLM_R}/pretrain/msmarco_passage/contrastive/span/model": ("pretrain", ""),
    f"{LLM_R}/finetune/msmarco/base/retriever1/model": ("finetune", ""),
    f"{LLM_R}/encode/msmarco-passage/zeroshot/base/shard-0-of-8.npz": ("encode", ""),
    f"{LLM_R}/corpus/msmarco_passage/queries/alpaca_7b/shards/shard-00000.tsv": ("generate_queries", "alpaca_7b"),
    f"{LLM_R}/corpus/msmarco_passage/queries/tk_instruct_3b/shards/shard-00000.tsv": ("generate_queries", "tk_instruct_3b"),
    f"{LLM_R}/data/msmarco-passage/bm25-index": ("bm25_index", ""),
    f"{LLM_R}/topics/dl19.tsv": ("prepare_topics", ""),
    f"{LLM_R}/corpus/msmarco_passage/documents.jsonl": ("documents", ""),
}
# job -> its row in the preset's resources table (None: no family, the profile's defaults)
LLM_FAMILIES = {
    ("pretrain", ""): "pretrain",
    ("finetune", ""): "finetune",
    ("encode", ""): "encode",
    ("generate_queries", "alpaca_7b"): "generate_vllm",  # vllm backend
    ("generate_queries", "tk_instruct_3b"): "generate",  # hf-seq2seq backend
    ("bm25_index", ""): "bm25",
    # CPU rules draw on the config's `default` row of resources
    ("prepare_topics", ""): "default",
    ("documents", ""): "default",
}


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir = tmp_path / "fake-slurm-bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", FAKE_SBATCH), ("sacct", FAKE_SACCT)):
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
    for name, body in FAKE_SHELL.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir, tmp_path / "sbatch.jsonl"


def submit(fake_slurm, workdir: Path, configfiles: list[Path], targets: list[str], *extra: str):
    """Run the profile's submit path; return (Snakemake's output, one record per sbatch call)."""
    bin_dir, log = fake_slurm
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_SLURM_LOG=str(log))
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
        "--profile", str(PROFILE), "--configfile", *map(str, configfiles), "--directory", str(workdir),
        "--jobs", "4", "--latency-wait", "0", "--slurm-init-seconds-before-status-checks", "1",
        *targets, *extra, "--allowed-rules", *ALLOWED_RULES,
    ]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert log.exists() and "has been submitted with SLURM jobid" in output, output[-4000:]
    assert not (log.parent / (log.name + ".srun")).exists()  # nothing ran
    return output, [json.loads(line) for line in log.read_text().splitlines()]


def sbatch_options(argv: list[str]) -> dict[str, str]:
    """`-t 60 --mem 4000 --gpus=a100:8 --parsable` -> {"-t": "60", "--mem": "4000", "--gpus": "a100:8",
    "--parsable": ""}; the job's command stays under "--wrap"."""
    options, i = {}, 0
    while i < len(argv):
        if argv[i] in VALUE_FLAGS:
            key, value, i = argv[i], argv[i + 1], i + 2
        else:
            (key, _, value), i = argv[i].partition("="), i + 1
        assert key not in options, f"{key} given twice: {argv}"
        options[key] = value
    return options


def job_of(record) -> tuple[str, str]:
    """(rule, generator) of a submission, from the comment the plugin gives each job
    (`rule_<rule>_wildcards_<values joined by _>`)."""
    comment = sbatch_options(record["argv"])["--comment"]
    m = re.fullmatch(r"rule_(.+?)(?:_wildcards_(.*))?", comment)
    assert m, comment
    rule, wildcards = m.group(1), m.group(2) or ""
    if rule != "generate_queries":
        return rule, ""
    return rule, re.fullmatch(r"[a-z_]+?_(alpaca_7b|tk_instruct_3b|d2q|smollm2)_\d+", wildcards).group(1)


def shell_commands(output: str) -> dict[str, set[str]]:
    """Rule -> the shell commands Snakemake printed (printshellcmds) for its submitted jobs."""
    commands: dict[str, set[str]] = {}
    rule = None
    for line in output.splitlines():
        if m := re.match(r"^rule (\w+):$", line):
            rule = m.group(1)
        elif line.startswith("Shell command:") and rule:
            commands.setdefault(rule, set()).add(line)
    return commands


def profile_defaults(attempt: int = 1) -> dict[str, int]:
    """The profile's default-resources (Python expressions, as Snakemake reads them)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    items = (item.split("=", 1) for item in profile["default-resources"])
    return {key: eval(expr, {"attempt": attempt}) for key, expr in items}


def touch(workdir: Path, *paths: str) -> None:
    """Empty stand-ins for intermediate artifacts (a trailing / makes a folder)."""
    for rel in paths:
        path = workdir / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()


def assert_cpu_job(opts: dict[str, str]) -> None:
    assert not {"--gpus", "--gres", "--ntasks-per-gpu", "--cpus-per-gpu"} & set(opts), opts
    assert opts["--ntasks"] == "1", opts  # the plugin's geometry for jobs without GPUs


def assert_gpu_job(opts: dict[str, str], gpus: int, model: str | None) -> None:
    assert opts.get("--gpus") == (f"{model}:{gpus}" if model else str(gpus)), opts
    assert "--gres" not in opts and "--ntasks" not in opts, opts


def test_llm_preset_sends_each_family_its_resources(tmp_path, fake_slurm):
    workdir = tmp_path / "work"
    fake_inputs(LLM, workdir)
    fake_irds_pointers(LLM, workdir)  # irds_cache is not among ALLOWED_RULES
    touch(workdir, *LLM_INTERMEDIATES)
    output, records = submit(fake_slurm, workdir, [LLM], list(LLM_TARGETS))

    table = yaml.safe_load(LLM.read_text())["resources"]
    defaults = profile_defaults()
    submissions: dict[tuple[str, str], list[dict[str, str]]] = {}
    for record in records:
        opts = sbatch_options(record["argv"])
        assert "--executor slurm-jobstep" in opts["--wrap"]  # the job's command went to sbatch
        submissions.setdefault(job_of(record), []).append(opts)
    assert set(submissions) == set(LLM_TARGETS.values())

    for job, (first, *retries) in submissions.items():
        family = LLM_FAMILIES[job]
        spec = {**table["default"], **table[family]} if family else {}
        assert first["-t"] == str(spec.get("runtime", defaults["runtime"])), (job, first)
        assert first["--mem"] == str(spec.get("mem_mb", defaults["mem_mb"])), (job, first)
        assert first["--cpus-per-task"] == str(spec.get("cpus_per_task", defaults["cpus_per_task"])), job
        assert first["-p"] == FAKE_PARTITION  # no partition anywhere: the cluster's default
        # the profile retries a failed job once, with twice the memory
        assert [opts["--mem"] for opts in retries] == [str(2 * int(first["--mem"]))], job
        for opts in (first, *retries):
            # the preset sets no qos/constraint/account: no empty `--qos=''` / `-C ''` either
            assert not {"--qos", "-C", "--constraint", "-A"} & set(opts), (job, opts)
            if spec.get("gpu"):
                assert_gpu_job(opts, spec["gpu"], spec.get("gpu_model"))
            else:
                assert_cpu_job(opts)
    # the GPU model of one family does not leak into the other generation family
    assert submissions[("generate_queries", "tk_instruct_3b")][0]["--gpus"] == "1"

    # multi-GPU jobs start one process per GPU: torchrun's count is the sbatch one
    commands = shell_commands(output)
    for rule in ("pretrain", "finetune"):
        counts = {int(n) for cmd in commands[rule] for n in re.findall(r"--processes (\d+) ", cmd)}
        assert counts == {table[rule]["gpu"]}, commands[rule]
    for rule in ("encode", "generate_queries"):  # one GPU: plain python
        assert commands[rule] and not any("torch.distributed.run" in cmd for cmd in commands[rule])


def test_demo_sends_no_gpu_options_and_its_cpus_per_job(tmp_path, fake_slurm):
    table = yaml.safe_load(DEMO.read_text())["resources"]
    assert {key for row in table.values() for key in row} == {"cpus_per_task"}  # threads only, no GPUs
    workdir = tmp_path / "work"
    fake_inputs(DEMO, workdir)
    touch(
        workdir, "results/corpus/demo/passages.jsonl", "results/corpus/demo/passage-order.txt",
        "results/corpus/demo/embedded-encoder/", "results/generators/d2q/model/",
        "results/data/demo/collection.jsonl", "results/finetune/demo/bm25-negatives.jsonl",
    )
    targets = [
        "results/pretrain/demo/contrastive/span/model",
        "results/finetune/demo/base/retriever1/model",
        "results/corpus/demo/queries/d2q/shards/shard-00000.tsv",
        "results/encode/demo/zeroshot/base/shard-0-of-2.npz",
        "results/topics/demo-test.tsv",
    ]
    output, records = submit(fake_slurm, workdir, [DEMO], targets, "--retries", "0")
    assert {job_of(r)[0] for r in records} == {"pretrain", "finetune", "generate_queries", "encode", "prepare_topics"}
    for record in records:
        opts = sbatch_options(record["argv"])
        assert_cpu_job(opts)
        assert not {"--qos", "-C", "--constraint"} & set(opts), opts
        rule = job_of(record)[0]
        if rule in table:
            assert opts.get("--cpus-per-task") == str(table[rule]["cpus_per_task"]), (rule, opts)
    commands = shell_commands(output)
    for rule in ("pretrain", "finetune"):
        assert commands[rule] and not any("torch.distributed.run" in cmd for cmd in commands[rule])


def test_optional_options_reach_only_their_family(tmp_path, fake_slurm):
    """qos / constraint / partition set for one family go to that family's jobs only (also where the
    family is chosen per job), and a --set-resources GPU override moves sbatch and torchrun together."""
    workdir = tmp_path / "work"
    fake_inputs(LLM, workdir)
    fake_irds_pointers(LLM, workdir)  # irds_cache is not among ALLOWED_RULES
    touch(workdir, *LLM_INTERMEDIATES)
    overlay = tmp_path / "overlay.yaml"  # deep-merged over the preset by a second --configfile
    overlay.write_text(yaml.safe_dump({"resources": {
        "pretrain": {"qos": "long"},
        "generate_vllm": {"constraint": "a100_80gb"},
        "encode": {"slurm_partition": "gpu"},
    }}))
    rules = ("pretrain", "finetune", "encode", "generate_queries", "prepare_topics")
    targets = [t for t, (rule, _) in LLM_TARGETS.items() if rule in rules]
    output, records = submit(
        fake_slurm, workdir, [LLM, overlay], targets, "--retries", "0", "--set-resources", "finetune:gpu=2",
    )
    by_job = {job_of(r): sbatch_options(r["argv"]) for r in records}
    assert set(by_job) == {LLM_TARGETS[t] for t in targets}
    for job, opts in by_job.items():
        assert opts.get("--qos") == ("long" if job[0] == "pretrain" else None), (job, opts)
        assert opts.get("-C") == ("a100_80gb" if LLM_FAMILIES[job] == "generate_vllm" else None), (job, opts)
        assert opts["-p"] == ("gpu" if job[0] == "encode" else FAKE_PARTITION), (job, opts)
    assert_gpu_job(by_job[("pretrain", "")], 8, "a100")  # the overlay merged into the preset's row
    assert_gpu_job(by_job[("finetune", "")], 2, "a100")
    assert_cpu_job(by_job[("prepare_topics", "")])
    assert any("--processes 2 " in cmd for cmd in shell_commands(output)["finetune"])
