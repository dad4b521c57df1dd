"""From an artifact's path to the code that writes it in at most three files: its template in
qcpt/workflow/paths.py, the rule whose `output:` is that template (rules/*.smk), and the module of
the command that rule's shell runs, found by the naming convention of qcpt/cli.py (command
``a.b`` is module ``qcpt.a.b``, its function ``main``; ``a.b:x`` is function ``main_x`` there).

Read from the rule files' text, as a reader would: each rule's output templates, the command its
params name, the shell that runs that command. docs/artifacts.md's "Where each file comes from"
table is the same reading (checked here too).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

from qcpt.cli import COMMANDS
from qcpt.workflow.paths import TEMPLATES

# Commands whose module moved after they were named: the name stays (it is part of every job's
# identity, see qcpt/cli.py VERSIONS), so their trace goes through qcpt/cli.py's table (4 files).
# command -> its module, as the table says.
MOVED: dict[str, str] = {}

# A rule that runs one of several commands, chosen per job by a function of its stage's jobs module:
# the rule's comments must name every candidate, so the reader still goes from the rule to the
# module. rule -> (job module, regex of a candidate command there).
CHOSEN: dict[str, tuple[str, str]] = {
    "prepare_generator": ("qcpt/querygen/jobs.py", r'Preparation\("([\w.:]+)"'),
}

_RULE = re.compile(r"^((?:#[^\n]*\n)*)rule (\w+):\n(.*?)(?=^\S|\Z)", re.S | re.M)
_USE = re.compile(r"^use rule (\w+) as (\w+) with:", re.M)
_COMMAND = re.compile(r'\b(?:version|launcher)\("([\w.:]+)"\)')
# The shell starts the entry point with the command the params name.
_SHELL_RUNS = re.compile(r'"\$QCPT_ENTRY" (?:--generator-python \{wildcards\.gen\} )?\{params\.(command|launch)\}')


@dataclass
class Rule:
    name: str
    smk: str  # rules/<file>.smk
    comments: str  # the comment lines right above it
    body: str

    def section(self, directive: str) -> str:
        m = re.search(rf"^    {directive}:\n(.*?)(?=^    \w+:|\Z)", self.body, re.S | re.M)
        return m[1] if m else ""

    @property
    def outputs(self) -> list[str]:
        """The path templates of its `output:` (P.<name>)."""
        return re.findall(r"\bP\.(\w+)", self.section("output"))

    @property
    def commands(self) -> list[str]:
        """The command(s) it runs: named in its params, or, for a rule of :data:`CHOSEN`, each
        candidate its job function names."""
        if self.name in CHOSEN:
            module, pattern = CHOSEN[self.name]
            return sorted(set(re.findall(pattern, (ROOT / module).read_text(encoding="utf-8"))))
        return list(dict.fromkeys(_COMMAND.findall(self.section("params"))))


def rules() -> list[Rule]:
    found: list[Rule] = []
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text(encoding="utf-8")
        found += [Rule(m[2], path.name, m[1], m[3]) for m in _RULE.finditer(text)]
        for base, name in _USE.findall(text):  # `use rule X as Y`: Y runs X's command into X's outputs
            parent = next(r for r in found if r.name == base)
            found.append(Rule(name, path.name, parent.comments, parent.body))
    return found


RULES = rules()


def named_module(base: str) -> str | None:
    """The module a command's name (without ``:<entry>``) says: ``qcpt.<base>``, else, for a name
    without a stage (`passages`, `irds`, `summary`), ``qcpt.<stage>.<base>`` where exactly one stage
    package has that module: the names predate the packages and are part of every job's identity."""
    if module_file(f"qcpt.{base}") is not None:
        return f"qcpt.{base}"
    found = [f"qcpt.{d.name}.{base}" for d in sorted((ROOT / "qcpt").iterdir())
             if "." not in base and (d / "__init__.py").is_file() and module_file(f"qcpt.{d.name}.{base}") is not None]
    return found[0] if len(found) == 1 else None


def module_of(command: str) -> tuple[str, str]:
    """The module and function a command's name says: ``a.b:x`` -> ``(qcpt.a.b, main_x)``."""
    base, _, entry = command.partition(":")
    function = f"main_{entry}" if entry else "main"
    if command in MOVED:
        return MOVED[command], function
    return named_module(base) or f"qcpt.{base}", function


def module_file(module: str) -> Path | None:
    parts = module.split(".")
    for path in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if path.is_file():
            return path
    return None


def defines(path: Path, function: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body)


def trace(rule: Rule) -> dict[str, list[str]]:
    """Per command the rule runs, the files from its artifacts to the code writing them; an
    AssertionError naming the rule where a step does not lead on."""
    assert rule.outputs, f"rule {rule.name} ({rule.smk}): no output template P.<name> of qcpt/workflow/paths.py"
    unknown = [name for name in rule.outputs if name not in TEMPLATES]
    assert not unknown, f"rule {rule.name}: output {unknown} is no template of qcpt/workflow/paths.py"
    assert rule.commands, f"rule {rule.name} ({rule.smk}): its params name no command (version(...)/launcher(...))"
    shell = rule.section("shell")
    assert _SHELL_RUNS.search(shell), \
        f"rule {rule.name} ({rule.smk}): its shell does not run the command its params name ({{params.command}})"
    traces = {}
    for command in rule.commands:
        if rule.name in CHOSEN:
            assert command in rule.comments, \
                f"rule {rule.name}: runs {command} (chosen in {CHOSEN[rule.name][0]}), which its comments do not name"
        module, function = module_of(command)
        assert command in COMMANDS, f"rule {rule.name}: command {command} is not in qcpt/cli.py COMMANDS"
        assert COMMANDS[command] == (module, function), \
            f"rule {rule.name}: command {command} runs {COMMANDS[command]}, not {(module, function)} as its name says"
        path = module_file(module)
        assert path is not None, f"rule {rule.name}: command {command} names module {module}, which has no file"
        assert defines(path, function), f"rule {rule.name}: {path.relative_to(ROOT)} defines no {function}"
        via_table = ["qcpt/cli.py"] if command in MOVED else []
        traces[command] = ["qcpt/workflow/paths.py", f"rules/{rule.smk}", *via_table, str(path.relative_to(ROOT))]
    return traces


def test_every_rule_file_is_read():
    names = {r.name for r in RULES}
    assert {"evaluate", "pretrain", "finetune", "finetune_beir", "prepare_generator", "report"} <= names
    assert len(RULES) == len(names), "two rules of the same name"


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_an_artifact_leads_to_the_code_writing_it_in_three_files(rule):
    for command in rule.commands:
        files = trace(Rule(rule.name, rule.smk, rule.comments, rule.body))
        per_command = [f for f in files if not f.startswith("qcpt/") or f in (
            "qcpt/workflow/paths.py", str(module_file(module_of(command)[0]).relative_to(ROOT)))]
        assert len(per_command) <= 3 + (command in MOVED), f"rule {rule.name}: {per_command}"


def test_the_metrics_file_is_three_files_from_its_code():
    evaluate = next(r for r in RULES if r.name == "evaluate")
    assert "metrics" in evaluate.outputs
    assert trace(evaluate) == {
        "retrieval.evaluate": ["qcpt/workflow/paths.py", "rules/evaluate.smk", "qcpt/retrieval/evaluate.py"]}


def test_a_rule_whose_command_leads_nowhere_is_named():
    body = next(r for r in RULES if r.name == "evaluate").body
    wrong = Rule("probe", "probe.smk", "", body.replace('version("retrieval.evaluate")', 'version("retrieval.nothing")'))
    with pytest.raises(AssertionError, match="rule probe: command retrieval.nothing"):
        trace(wrong)
    silent = Rule("probe", "probe.smk", "", body.replace("{params.command}", "retrieval.evaluate"))
    with pytest.raises(AssertionError, match="rule probe .*does not run the command"):
        trace(silent)
    chosen = next(r for r in RULES if r.name == "prepare_generator")
    with pytest.raises(AssertionError, match="which its comments do not name"):
        trace(Rule(chosen.name, chosen.smk, "", chosen.body))


def _writers() -> list[str]:
    """The rows of docs/artifacts.md's "Where each file comes from": per artifact template, each
    rule whose output it is, the command(s) it runs and their module."""
    found: dict[str, list[Rule]] = {}
    for rule in RULES:
        if rule.name == "finetune_beir":  # the same outputs and command as finetune
            continue
        for name in rule.outputs:
            found.setdefault(name, []).append(rule)
    rows = []
    for name, template in TEMPLATES.items():
        for rule in found.get(name, []):
            modules = dict.fromkeys(str(module_file(module_of(c)[0]).relative_to(ROOT)) for c in rule.commands)
            rows.append(f"| `{name}` | `{template}` | `rules/{rule.smk}` `{rule.name}` | "
                        f"{', '.join(f'`{c}`' for c in rule.commands)} | {', '.join(f'`{m}`' for m in modules)} |")
    return rows


def test_docs_say_which_rule_command_and_module_write_each_file():
    text = (ROOT / "docs" / "artifacts.md").read_text(encoding="utf-8")
    section = text[text.index("## Where each file comes from"):text.index("## Commands")]
    documented = [line for line in section.splitlines() if line.startswith("| `")]
    rows = _writers()
    assert documented == rows, "\n".join(rows)
    assert any(row.startswith("| `metrics` ") and "`qcpt/retrieval/evaluate.py`" in row for row in rows)
