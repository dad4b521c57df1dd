"""The documented commands work as written (issue 11, failure 2: the README's preset command read its
target as a second config file).

Every ```bash block of README.md, profiles/slurm/README.md and docs/*.md is parsed into its commands,
and every command is either executed or checked for form; a command of a kind this file does not know
fails the test, so a new block cannot go unchecked:

- ``snakemake ...``: parsed with Snakemake's own argument parser (every ``--configfile`` is a config
  file that exists, every target is a target), then run as written plus ``-n`` in a working copy of
  the repository (links to its files) where the presets' inputs under data/ are empty stand-ins, so
  the dry run builds the whole DAG;
- ``pip install ...``: not re-run; extras exist, pins are exact, and where the package is installed
  here it has the pinned version;
- ``python -m pytest ...``: not re-run (it is this suite); the markers it selects are registered,
  and the plain one is exactly what CI runs;
- ``python3 -m venv DIR`` (the vLLM block): DIR is where the vLLM tests look for their interpreter;
- ``python -m qcpt plan ...``: parsed with the command's own parser, then run as written in a copy of
  the repository without data/ (a fresh clone's state), and the README shows its summary line.

Inline ``snakemake`` commands in the same files and in the presets' comments are parsed too.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT, fake_conda, fake_inputs
from snakemake.cli import get_argument_parser

DOCS = [ROOT / "README.md", ROOT / "profiles" / "slurm" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _bash_blocks(path: Path = ROOT / "README.md") -> list[str]:
    return re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def split_commands(block: str) -> list[list[str]]:
    """A shell block as its simple commands (argument lists): comments dropped, backslash-continued
    lines joined, `&&` chains split, leading VAR=value assignments dropped."""
    commands: list[list[str]] = []
    text = block.replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", ";"):
                while current and ENV_ASSIGNMENT.match(current[0]):
                    current.pop(0)
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    """``(where, argv)`` for every command of every bash block of the documentation."""
    out = []
    for path in DOCS:
        for i, block in enumerate(_bash_blocks(path)):
            for argv in split_commands(block):
                out.append((f"{path.relative_to(ROOT)} block {i + 1}", argv))
    return out


# --------------------------------------------------------------------------- snakemake commands


def parse_snakemake(argv: list[str], where: str):
    """Snakemake's own reading of the command line: config files must be YAML files that exist
    (a target read as a config file is exactly issue 11's failure), and targets are not YAML."""
    assert argv[0] == "snakemake", argv
    args = get_argument_parser().parse_args(argv[1:])
    for configfile in args.configfile or []:
        text = str(configfile)
        assert text.endswith((".yaml", ".yml")) and (ROOT / text.replace("<preset>", "llm-expansion")).is_file(), (
            f"{where}: `{shlex.join(argv)}` reads {text!r} as a config file (a target after --configfile? "
            "write --configfile=FILE or put the targets first)"
        )
    for target in args.targets or []:
        assert not target.endswith((".yaml", ".yml")), f"{where}: target {target!r} looks like a config file"
    return args


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory) -> Path:
    """The repository as links (so the commands run from its root as documented), with its own
    results/ and .snakemake/, and empty stand-ins for the presets' inputs under data/."""
    copy = tmp_path_factory.mktemp("readme") / "qcpt"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {"results", "data", ".snakemake", ".git", ".pytest_cache"}:
            (copy / entry.name).symlink_to(entry)
    for preset in sorted((ROOT / "configs").glob("*.yaml")):
        fake_inputs(preset, copy)
    # fake_inputs touches every input it is given; all of the presets' are under data/ (a real folder
    # here), so nothing in the repository was touched.
    assert (copy / "data").is_dir() and not (copy / "data").is_symlink()
    return copy


def run_snakemake(argv: list[str], where: str, working_copy: Path) -> subprocess.CompletedProcess:
    """The command as written, as a dry run, from the working copy's root."""
    args = parse_snakemake(argv, where)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    methods = {getattr(m, "name", str(m)).lower() for m in args.software_deployment_method or ()}
    if "conda" in methods and not shutil.which("conda"):
        env = {**fake_conda(working_copy.parent / "conda-bin"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "snakemake", *argv[1:], *([] if args.dryrun else ["-n"])]
    proc = subprocess.run(cmd, cwd=working_copy, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{where}: `{shlex.join(argv)}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "This was a dry-run" in proc.stdout + proc.stderr, proc.stdout[-2000:]
    return proc


# --------------------------------------------------------------------------- other commands


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def check_pip(argv: list[str], where: str) -> None:
    """Install lines are not re-run: the project's extras exist, other packages are pinned exactly,
    and where a pinned package is installed here it is that version."""
    assert argv[0].endswith("pip") and argv[1] in ("install", "uninstall"), f"{where}: {argv}"
    if argv[1] == "uninstall":
        assert "-y" in argv, f"{where}: an uninstall in a script needs -y: {argv}"
        return
    extras = set(_pyproject()["project"].get("optional-dependencies", {}))
    specs = [a for a in argv[2:] if not a.startswith("-")]
    assert specs, f"{where}: nothing to install: {argv}"
    for spec in specs:
        project = re.fullmatch(r"\.(?:\[(?P<extras>[\w,]+)\])?", spec)
        if project:
            assert "-e" in argv, f"{where}: the project is installed editable: {argv}"
            wanted = set((project["extras"] or "").split(",")) - {""}
            assert wanted <= extras, f"{where}: unknown extras {wanted - extras} (pyproject has {extras})"
            continue
        m = re.fullmatch(r"(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[\w.]+)", spec)
        assert m, f"{where}: {spec!r} is not pinned exactly (name==version)"
        if argv[0] == "pip":  # this environment's pip: the package is installed here
            assert metadata.version(m["name"]) == m["version"], f"{where}: {spec} but {metadata.version(m['name'])} is installed"


def check_pytest(argv: list[str], where: str) -> None:
    """The test commands are this suite: not re-run; the markers they select are registered, and
    the plain one is what CI runs (.ci/run)."""
    assert argv[:3] == ["python", "-m", "pytest"], f"{where}: {argv}"
    markers = {line.split(":")[0] for line in _pyproject()["tool"]["pytest"]["ini_options"]["markers"]}
    selected = [argv[i + 1] for i, a in enumerate(argv) if a == "-m" and i >= 3]
    for expression in selected:
        names = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
        assert names <= markers, f"{where}: unregistered markers {names - markers}"
    if not selected:
        assert shlex.join(argv) in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), f"{where}: {argv} is not CI's"


def check_venv(argv: list[str], where: str) -> None:
    """The vLLM venv is made where tests/querygen/test_querygen_vllm.py looks for its interpreter by default."""
    assert argv[1:3] == ["-m", "venv"] and len(argv) == 4, f"{where}: {argv}"
    default = re.search(r'QCPT_VLLM_PYTHON", "([^"]+)"', (ROOT / "tests" / "querygen" / "test_querygen_vllm.py").read_text())
    assert default and Path(default[1]).parent.parent == Path(argv[3]), f"{where}: venv {argv[3]} vs {default}"


def check_qcpt(argv: list[str], where: str) -> None:
    """`python -m qcpt <subcommand>`: the subcommand exists (test_documented_qcpt_command_runs runs it)."""
    from qcpt.__main__ import SUBCOMMANDS

    assert len(argv) > 3 and argv[3] in SUBCOMMANDS, f"{where}: {shlex.join(argv)}: no such subcommand"


QCPT_COMMANDS = [(where, argv) for where, argv in documented_commands()
                 if argv[:3] == ["python", "-m", "qcpt"] and argv[3:4] != ["plan"]]


@pytest.mark.parametrize(("where", "argv"), QCPT_COMMANDS, ids=[" ".join(a[3:])[:80] for _, a in QCPT_COMMANDS])
def test_documented_qcpt_command_runs(where, argv, working_copy, tmp_path):
    """Run as written from the working copy's root, offline: `data --fetch` runs as `--check` (this
    machine has no network). Every input is listed; what is absent is `missing`, the working copy's
    empty stand-ins are `present` or `wrong checksum`, so the exit status is 0 or 1, never a crash."""
    args = ["--check" if a == "--fetch" else a for a in argv[3:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IR_DATASETS_HOME": str(tmp_path / "irds"), "QCPT_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "qcpt", *args], cwd=working_copy, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, f"{where}: {shlex.join(argv)}:\n{proc.stderr[-3000:]}"
    if args[0] == "data":
        assert "irds:msmarco-passage" in proc.stdout and "ir_datasets files:" in proc.stdout, proc.stdout[-2000:]


def check_plan(argv: list[str], where: str):
    """`python -m qcpt plan ...`: its own parser reads it, and its config file exists."""
    from qcpt.plan import build_parser

    args = build_parser().parse_args(argv[4:])
    assert (ROOT / args.configfile).is_file(), f"{where}: no config file {args.configfile}"
    return args


PLAN_COMMANDS = [(w, a) for w, a in documented_commands() if a[:4] == ["python", "-m", "qcpt", "plan"]]


@pytest.mark.parametrize(("where", "argv"), PLAN_COMMANDS, ids=[" ".join(a[4:])[:80] for _, a in PLAN_COMMANDS])
def test_documented_plan_command_runs_on_a_fresh_clone_and_the_readme_shows_it(where, argv, tmp_path):
    check_plan(argv, where)
    copy = tmp_path / "qcpt"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {"results", "data", ".snakemake", ".git", ".pytest_cache"}:
            (copy / entry.name).symlink_to(entry)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{where}: `{shlex.join(argv)}` failed:\n{proc.stderr[-3000:]}"
    summary = proc.stdout.splitlines()[0]
    assert "Missing inputs" in proc.stdout  # planned without data, which it lists
    assert summary in (ROOT / "README.md").read_text(encoding="utf-8"), (
        f"{where}: README.md does not show the plan's current summary line; regenerate the section "
        f"'Plan a run' with `{shlex.join(argv)}`:\n{summary}")


def test_every_documented_command_block_is_checked():
    commands = documented_commands()
    kinds = {argv[0] if argv[0] != "python" else " ".join(argv[:3]) for _, argv in commands}
    assert {"snakemake", "pip", "python -m pytest"} <= kinds, kinds
    for where, argv in commands:
        if argv[0] == "snakemake":
            parse_snakemake(argv, where)
        elif argv[0].endswith("pip"):
            check_pip(argv, where)
        elif argv[:3] == ["python", "-m", "pytest"]:
            check_pytest(argv, where)
        elif argv[0] == "python3" and argv[1:3] == ["-m", "venv"]:
            check_venv(argv, where)
        elif argv[:4] == ["python", "-m", "qcpt", "plan"]:
            check_plan(argv, where)
        elif argv[:3] == ["python", "-m", "qcpt"]:
            check_qcpt(argv, where)
        else:
            pytest.fail(f"{where}: no check for `{shlex.join(argv)}`; add one to tests/test_readme.py")


def _distinct_snakemake_commands() -> list[tuple[str, list[str]]]:
    """The documented snakemake commands, a command and its `-n` twin counted once (same dry run)."""
    seen, out = set(), []
    for where, argv in documented_commands():
        key = tuple(a for a in argv if a not in ("-n", "--dry-run", "--dryrun"))
        if argv[0] == "snakemake" and key not in seen:
            seen.add(key)
            out.append((where, argv))
    return out


SNAKEMAKE_COMMANDS = _distinct_snakemake_commands()


@pytest.mark.parametrize(("where", "argv"), SNAKEMAKE_COMMANDS, ids=[" ".join(a[1:])[:80] for _, a in SNAKEMAKE_COMMANDS])
def test_documented_snakemake_command_dry_runs_as_written(where, argv, working_copy):
    run_snakemake(argv, where, working_copy)


def test_inline_snakemake_commands_parse_as_written():
    """`snakemake ...` in the docs' running text and in the presets' comments: targets stay targets."""
    found = []
    for path in [*DOCS, *sorted((ROOT / "configs").glob("*.yaml")), ROOT / "profiles" / "slurm" / "config.yaml"]:
        text = path.read_text(encoding="utf-8")
        spans = re.findall(r"`(snakemake [^`]+)`", text) + re.findall(r"^#\s*(?:Run: )?(snakemake .+)$", text, re.M)
        for span in spans:
            argv = [w for w in shlex.split(span.replace("[targets]", "results/x.json").replace("<preset>", "llm-expansion"))]
            if "--help" not in argv:  # (a pointer to Snakemake's help text, not a run)
                found.append(path.name)
                parse_snakemake(argv, f"{path.relative_to(ROOT)}: `{span}`")
    assert len(found) >= 5, found


def test_split_commands_reads_chains_continuations_and_comments():
    block = "# a comment\npip install -e . && snakemake --cores 2  # trailing\nA=1 python -m pytest \\\n  -m vllm\n"
    assert split_commands(block) == [
        ["pip", "install", "-e", "."], ["snakemake", "--cores", "2"], ["python", "-m", "pytest", "-m", "vllm"],
    ]


def test_a_target_after_configfile_is_refused():
    """The form issue 11 found in the README: the check catches it, and both fixed forms pass."""
    with pytest.raises(AssertionError, match="as a config file"):
        parse_snakemake(["snakemake", "--cores", "2", "--configfile", "configs/beir-scifact.yaml",
                         "results/beir-scifact/reproduction.md"], "example")
    for fixed in (["--configfile=configs/beir-scifact.yaml", "results/beir-scifact/reproduction.md"],
                  ["results/beir-scifact/reproduction.md", "--configfile", "configs/beir-scifact.yaml"]):
        assert parse_snakemake(["snakemake", "--cores", "2", *fixed], "example").targets == ["results/beir-scifact/reproduction.md"]


def test_ci_runs_the_readme_test_command_then_the_linters():
    """CI's first command is the README's test command, as written; after it come exactly the
    three linters, each installed by the `[test]` extra it installs (or Snakemake itself)."""
    readme_test = [line for line in _bash_blocks()[1].splitlines() if line and not line.startswith("#")]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd ", "export "))]
    assert len(readme_test) == 1
    assert ci[0] == readme_test[0]
    assert ci[1:] == ["ruff check .", "snakefmt --check .", "snakemake --lint --cores 1"]
    extra = {re.split("[=<>]", spec)[0] for spec in _pyproject()["project"]["optional-dependencies"]["test"]}
    assert {"pytest", "ruff", "snakefmt"} <= extra, extra


def test_readme_demo_command_installs_and_runs_snakemake():
    demo = [line for line in _bash_blocks()[0].splitlines() if line and not line.startswith("#")]
    assert len(demo) == 1 and demo[0].startswith("pip install") and "snakemake --cores" in demo[0]
