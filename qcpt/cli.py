"""The command table: ``python scripts/qcpt.py <command> [arguments]`` runs one entry point.

Every job of the workflow runs one command of :data:`COMMANDS`; a command is named after the module
that implements it (``retrieval.evaluate`` is ``qcpt/retrieval/evaluate.py``), with ``:<entry>``
where a module has several entry points (``retrieval.bm25:search`` is ``main_search`` there).
docs/artifacts.md lists every command with its arguments (tests/test_workflow_commands.py checks
the two agree).

The module is imported only when its command runs, so starting a command costs the imports of that
command alone (the torch-free ones start in well under a second).
"""

from __future__ import annotations

import difflib
import importlib
import shlex
import sys
from typing import Any

# command -> (module, function). The function takes ``argv`` (the arguments after the command).
COMMANDS: dict[str, tuple[str, str]] = {
    # corpus and retrieval data
    "corpus:documents": ("qcpt.corpus", "main_documents"),
    "corpus:collection": ("qcpt.corpus", "main_collection"),
    "corpus:topics": ("qcpt.corpus", "main_topics"),
    "textmodels:punkt": ("qcpt.textmodels", "main_punkt"),
    "textmodels:encoder": ("qcpt.textmodels", "main_encoder"),
    "passages": ("qcpt.passages", "main"),
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
    "retrieval.evaluate:mean": ("qcpt.retrieval.evaluate", "mean_main"),
    # reports
    "summary": ("qcpt.summary", "main"),
    "expected": ("qcpt.expected", "main"),
    "report.build": ("qcpt.report.build", "main"),
    "report.audit": ("qcpt.report.audit", "main"),
    # model cards and publish bundles
    "card": ("qcpt.card", "main"),
    "publish": ("qcpt.publish", "main"),
}

ENTRY_POINT = "scripts/qcpt.py"


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"{ENTRY_POINT}: unknown command {name!r}{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func = COMMANDS[name]
    # argparse names the program after argv[0]: usage lines then read `qcpt.py <command>`.
    sys.argv = [f"qcpt.py {name}", *rest]
    return getattr(importlib.import_module(module), func)(rest)
