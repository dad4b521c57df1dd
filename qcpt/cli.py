"""The command table: ``python scripts/qcpt.py <command> [arguments]`` runs one entry point.

Every job of the workflow runs one command of :data:`COMMANDS`; a command is named after the module
that implements it (``retrieval.evaluate`` is ``qcpt/retrieval/evaluate.py``), with ``:<entry>``
where a module has several entry points (``retrieval.bm25:search`` is ``main_search`` there). A name
without a stage (``passages``, ``summary``, ``card``) is its module's in the one stage package that
has it (``qcpt/corpus/passages.py``, ``qcpt/report/summary.py``, ``qcpt/publish/card.py``): the names
predate the packages, and a name is part of every job's identity.
docs/artifacts.md lists every command with its arguments (tests/workflow/test_workflow_commands.py checks
the two agree).

The module is imported only when its command runs, so starting a command costs the imports of that
command alone (the torch-free ones start in well under a second).
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

# command -> (module, function). The function takes ``argv`` (the arguments after the command).
COMMANDS: dict[str, tuple[str, str]] = {
    # corpus and retrieval data
    "irds:cache": ("qcpt.corpus.irds", "main_cache"),
    "corpus:documents": ("qcpt.corpus", "main_documents"),
    "corpus:collection": ("qcpt.corpus", "main_collection"),
    "corpus:topics": ("qcpt.corpus", "main_topics"),
    "textmodels:punkt": ("qcpt.corpus.textmodels", "main_punkt"),
    "textmodels:encoder": ("qcpt.corpus.textmodels", "main_encoder"),
    "passages": ("qcpt.corpus.passages", "main"),
    # generated queries
    "querygen.sharding": ("qcpt.querygen.sharding", "main"),
    "querygen.doc2query": ("qcpt.querygen.doc2query", "main"),
    "querygen.gguf": ("qcpt.querygen.gguf", "main"),
    "querygen.driver": ("qcpt.querygen.driver", "main"),
    "querygen.consistency:index": ("qcpt.querygen.consistency", "main_index"),
    "querygen.selection": ("qcpt.querygen.selection", "main"),
    # pre-training and fine-tuning
    "pretrain.driver": ("qcpt.pretrain.driver", "main"),
    "retrieval.train_data": ("qcpt.retrieval.train_data", "main"),
    "retrieval.finetune.driver": ("qcpt.retrieval.finetune.driver", "main"),
    # retrieval and evaluation
    "retrieval.bm25:index": ("qcpt.retrieval.bm25", "main_index"),
    "retrieval.bm25:search": ("qcpt.retrieval.bm25", "main_search"),
    "retrieval.encode": ("qcpt.retrieval.encode", "main"),
    "retrieval.search": ("qcpt.retrieval.search", "main"),
    "retrieval.evaluate": ("qcpt.retrieval.evaluate", "main"),
    "retrieval.evaluate:mean": ("qcpt.retrieval.evaluate", "main_mean"),
    # reports
    "summary": ("qcpt.report.summary", "main"),
    "expected": ("qcpt.report.expected", "main"),
    "report.build": ("qcpt.report.build", "main"),
    "querygen.audit": ("qcpt.querygen.audit", "main"),
    # model cards and publish bundles
    "card": ("qcpt.publish.card", "main"),
    "publish": ("qcpt.publish", "main"),
}

# command -> the version of what it computes. Bump a command's number in the same commit as any
# change to its output on the same inputs and parameters (a loss fix, a tokenisation fix, a new
# default): rules pass ``name@version`` as a param, so exactly that command's jobs and what depends
# on them rerun, and a commit that leaves the number alone leaves built jobs up to date.
# tests/test_job_identity.py fails when a command's output on a fixed input changes without a bump.
VERSIONS: dict[str, int] = {
    "irds:cache": 1,
    "corpus:documents": 1,
    "corpus:collection": 1,
    "corpus:topics": 1,
    "textmodels:punkt": 1,
    "textmodels:encoder": 1,
    "passages": 1,
    "querygen.sharding": 1,
    "querygen.doc2query": 1,
    "querygen.gguf": 1,
    "querygen.driver": 1,
    "querygen.consistency:index": 2,  # 2: its record names the passages file, not a temporary copy
    "querygen.selection": 1,
    "pretrain.driver": 2,  # 2: the bottleneck decoder predicts through the shared MLM head (issue 28)
    "retrieval.train_data": 1,
    "retrieval.finetune.driver": 2,  # 2: sentence-transformers files in the model folder
    "retrieval.bm25:index": 1,
    "retrieval.bm25:search": 1,
    "retrieval.encode": 1,
    "retrieval.search": 1,
    "retrieval.evaluate": 1,
    "retrieval.evaluate:mean": 1,
    "summary": 2,  # issue 27: one row per cell over its seeds, seed-averaged Δ ± sd and p
    "expected": 1,
    "report.build": 3,  # 2: claim texts corrected (issue 28); 3: demo claims on nDCG@10, seed intervals
    "querygen.audit": 1,  # was report.audit (moved into querygen/, same code and output)
    "card": 1,
    "publish": 1,
}

ENTRY_POINT = "scripts/qcpt.py"
# Generators' own interpreters ({generator: python}, JSON), set by rules/common.smk from the config's
# `generators.<name>.python` keys: not a param, since a venv's path never changes an output.
GENERATOR_PYTHON_ENV = "QCPT_GENERATOR_PYTHON"
# The interpreter and this entry point, as every job's shell starts: "$QCPT_PYTHON" "$QCPT_ENTRY"
# (rules/common.smk sets both where Snakemake runs; never params, see there).
JOB_PYTHON_ENV = "QCPT_PYTHON"
JOB_ENTRY_ENV = "QCPT_ENTRY"


def command_with_version(name: str) -> str:
    """``name@version``: how a rule names its command (a param, hence part of the job's identity)."""
    return f"{name}@{VERSIONS[name]}"


class CommandError(Exception):
    pass


def split_version(spec: str) -> str:
    """The command of ``name@version``, which must be this checkout's version of it: a workflow
    planned with another version of the code (a cluster job started after an upgrade) stops."""
    name, sep, version = spec.partition("@")
    if sep and name in VERSIONS and version != str(VERSIONS[name]):
        raise CommandError(f"{ENTRY_POINT}: the job asks for {spec}, but this checkout's {name} is version "
                           f"{VERSIONS[name]}: rerun snakemake so it plans the jobs with this code")
    return name


def job_python(deployment_settings: Any = None, executable: str | None = None) -> str:
    """The command that starts Python in a local job: ``executable`` (default: the interpreter running
    Snakemake), shell-quoted; plain ``python`` under ``--software-deployment-method conda``, where
    every job rule's environment (its ``conda:``, envs/) puts its own Python first on PATH.
    ``deployment_settings`` is Snakemake's ``workflow.deployment_settings``. (Apptainer is not special:
    no rule names a container, so such jobs run on the host.)"""
    methods = {getattr(m, "name", str(m)).upper() for m in getattr(deployment_settings, "deployment_method", ())}
    if "CONDA" in methods:
        return "python"
    return shlex.quote(executable or sys.executable)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {ENTRY_POINT} <command> [arguments]   ({ENTRY_POINT} <command> --help for its own)",
             "", "commands (module:function):"]
    lines += [f"  {name:<{width}}  {module}:{func}" for name, (module, func) in COMMANDS.items()]
    return "\n".join(lines)


def _launch_options(argv: list[str]) -> tuple[int, str | None, list[str]]:
    """The options before the command: ``--processes N`` (torchrun with N processes) and
    ``--generator-python NAME`` (run under generator NAME's own interpreter, if it names one)."""
    processes, generator = 1, None
    while argv[:1] in (["--processes"], ["--generator-python"]) and len(argv) > 1:
        if argv[0] == "--processes":
            processes = int(argv[1])
        else:
            generator = argv[1]
        argv = argv[2:]
    return processes, generator, argv


def _entry() -> str:
    return str(Path(__file__).resolve().parents[1] / ENTRY_POINT)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    processes, generator, argv = _launch_options(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    try:
        name, rest = split_version(argv[0]), argv[1:]
    except CommandError as err:
        print(err, file=sys.stderr)
        return 2
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"{ENTRY_POINT}: unknown command {name!r}{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    python = json.loads(os.environ.get(GENERATOR_PYTHON_ENV) or "{}").get(generator) if generator else None
    if python and Path(shutil.which(python) or python).resolve() != Path(sys.executable).resolve():
        os.execvp(python, [python, _entry(), name, *rest])
    if processes > 1:  # one process per GPU, started by this interpreter's torchrun
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                  "--", _entry(), name, *rest]
        os.execv(sys.executable, launch)
    module, func = COMMANDS[name]
    # argparse names the program after argv[0]: usage lines then read `qcpt.py <command>`.
    sys.argv = [f"qcpt.py {name}", *rest]
    return getattr(importlib.import_module(module), func)(rest)
