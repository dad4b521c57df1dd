"""The command table (qcpt/cli.py): one entry point, every command named after its module and
documented in docs/artifacts.md, every command a rule runs is in the table, and starting the entry
point imports no command's module until that command runs."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from test_rules_trace import named_module

from qcpt.cli import COMMANDS, main

ENTRY = ROOT / "scripts" / "qcpt.py"


def _documented() -> dict[str, str]:
    """``{command: "module:function"}`` of the command table in docs/artifacts.md."""
    text = (ROOT / "docs" / "artifacts.md").read_text(encoding="utf-8")
    section = text[text.index("## Commands"):]
    return dict(re.findall(r"^\| `([\w.:]+)` \| `([\w.:]+)` \|", section, re.M))


def _defines(module: str, function: str) -> bool:
    """Whether ``module``'s source defines ``function`` at top level (read, not imported: importing
    every command's module would import torch)."""
    spec = importlib.util.find_spec(module)
    assert spec and spec.origin, module
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body)


def test_every_command_is_named_after_its_module_and_its_function_exists():
    for name, (module, function) in COMMANDS.items():
        base, _, entry = name.partition(":")
        # A name without a stage is its module's in the one stage package that has it (the names
        # predate the packages): `passages` is qcpt.corpus.passages.
        assert module == named_module(base), f"{name} runs {module}: a command is named after its module"
        assert function == ("main" if not entry else f"main_{entry}"), name
        assert _defines(module, function), f"{name}: {module} defines no {function}"


def test_docs_list_every_command_with_its_module():
    documented = _documented()
    table = {name: f"{module}:{function}" for name, (module, function) in COMMANDS.items()}
    assert documented == table


def test_the_rules_run_only_commands_of_the_table():
    used = set()
    for path in (ROOT / "rules").glob("*.smk"):
        text = path.read_text(encoding="utf-8")
        for call, args in re.findall(r"\b(version|launcher)\(([^()]*)", text):
            names = re.findall(r"""["']([\w.:]+)["']""", args)
            used |= set(names[-1:] if call == "launcher" else names[:1])
    # A rule running one of several commands: its job function names each (qcpt/querygen/jobs.py).
    for path in (ROOT / "qcpt").glob("*/jobs*.py"):
        used |= set(re.findall(r'Preparation\("([\w.:]+)"', path.read_text(encoding="utf-8")))
    assert used, "no command found in rules/"
    assert used <= set(COMMANDS), used - set(COMMANDS)
    assert set(COMMANDS) <= used, f"commands no rule runs: {set(COMMANDS) - used}"
    assert [p.name for p in (ROOT / "scripts").iterdir() if p.suffix == ".py"] == ["qcpt.py"]


def test_an_unknown_command_names_the_closest(capsys):
    assert main(["retrieval.evaluat"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'retrieval.evaluat'" in err and "did you mean 'retrieval.evaluate'" in err
    assert main([]) == 2 and main(["--help"]) == 0


def test_the_entry_point_imports_a_commands_module_only_when_it_runs():
    code = ("import runpy, sys; sys.argv = ['qcpt.py', '--help']\n"
            "try:\n    runpy.run_path(sys.argv_path, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'qcpt.retrieval.evaluate', 'pyserini') "
            "if m in sys.modules)\nprint(heavy)")
    proc = subprocess.run([sys.executable, "-c", code.replace("sys.argv_path", repr(str(ENTRY)))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
    # A command's own arguments reach its module, under the command's name.
    proc = subprocess.run([sys.executable, str(ENTRY), "retrieval.evaluate", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: qcpt.py retrieval.evaluate"), proc.stdout

