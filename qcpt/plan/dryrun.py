"""The jobs of a Snakemake dry run, as data: rule, wildcards, resources, inputs, outputs, and whether
the job still has to run.

Why the printed dry run (``snakemake -n``) and not the Python API: the printed job blocks are
Snakemake's documented user-facing output, unchanged in form since Snakemake 5 (``rule X:`` then
``input:``/``output:``/``wildcards:``/``resources:`` lines), and a subprocess keeps the workflow's
side effects (``sys.path``, ``os.environ``, the Snakefile's globals) out of this process; the DAG object
behind the API is internal and has moved between major versions. ``--quiet`` and ``--summary`` drop
the resources and wildcards a plan needs. Two runs: ``-n`` gives the jobs to run (its "Job stats"
total is what a submission starts), ``-n --forceall`` the whole DAG, so the jobs only the second has
are the ones already built.

A preset names data files (``data/...``) that a fresh clone lacks, and Snakemake refuses a DAG with
missing inputs. :func:`dry_run` then runs in a scratch mirror of the working directory: every entry a
symbolic link to the real one (so built results count as built), except along the paths of the missing
inputs, which get empty stand-ins dated 1970 (older than any output, so they trigger nothing). The
missing inputs are returned, to be listed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the checkout: Snakefile, rules/

_JOB_START = re.compile(r"^(?:local)?(?:rule|checkpoint) (?P<rule>\w+):$")
_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")


class DryRunError(RuntimeError):
    pass


@dataclass
class DagJob:
    rule: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    wildcards: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    needs_run: bool = True

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.rule, tuple(self.outputs)


def _items(text: str) -> list[str]:
    return [x for x in (part.strip() for part in text.split(", ")) if x]


def _value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_jobs(output: str) -> list[DagJob]:
    """The job blocks of a printed dry run (Snakemake's stdout and stderr together)."""
    jobs: list[DagJob] = []
    current: DagJob | None = None
    for line in output.splitlines():
        m = _JOB_START.match(line)
        if m:
            current = DagJob(m["rule"])
            jobs.append(current)
            continue
        if current is None or not line.startswith("    "):
            if not line.startswith("    "):
                current = None
            continue
        key, _, rest = line.strip().partition(": ")
        if key == "input":
            current.inputs = _items(rest)
        elif key == "output":
            current.outputs = _items(rest)
        elif key == "wildcards":
            current.wildcards = dict(item.split("=", 1) for item in _items(rest) if "=" in item)
        elif key == "resources":
            current.resources = {k: _value(v) for k, v in (i.split("=", 1) for i in _items(rest) if "=" in i)}
        elif key == "threads":
            current.threads = int(rest)
    return jobs


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats" table (empty when nothing is to be done)."""
    counts: dict[str, int] = {}
    in_table = False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            in_table, counts = True, {}
            continue
        if in_table:
            m = _STATS_ROW.match(line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                in_table = False
    return counts


# --------------------------------------------------------------------------- the data a config names


def external_inputs(config: dict[str, Any]) -> list[tuple[str, bool]]:
    """``(path, is_folder)`` of every file a config names that no rule makes: the corpus, the
    collections, the eval sets' and training sets' topics, qrels and hard negatives, and generator
    models or precomputed expansions under data/."""
    out: list[tuple[str, bool]] = [(config["corpus"]["source"], config["corpus"].get("format") == "beir")]
    out += [(spec["source"], spec.get("format") == "beir") for spec in config.get("collections", {}).values()]
    sets = [*config.get("evalsets", {}).values(), *config.get("finetune", {}).get("datasets", {}).values()]
    for spec in sets:
        if "mean_of" in spec:  # a mean of other eval sets has no files of its own
            continue
        out += [(spec[k], False) for k in ("topics", "qrels", "hard_negatives") if spec.get(k)]
    for spec in config.get("generators", {}).values():
        model = str(spec.get("model", ""))
        if spec.get("backend") == "precomputed":
            out.append((model, False))
        elif model.startswith("data/"):
            out.append((model, True))
    # Data by ID (`irds:<id>`) is no file: the workflow's irds_cache job lays it out (a planned job),
    # and `python -m qcpt data --check` lists what ir_datasets still has to download.
    return [(p, d) for p, d in dict.fromkeys(out) if not str(p).startswith("irds:")]


def missing_inputs(config: dict[str, Any], workdir: Path) -> list[tuple[str, bool]]:
    return [(p, d) for p, d in external_inputs(config) if not (workdir / p).exists()]


# --------------------------------------------------------------------------- the scratch mirror


def _link(real: Path, fake: Path) -> None:
    fake.symlink_to(real)
    st = real.stat()  # the link carries the target's date: Snakemake may look at the link itself
    os.utime(fake, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _open_folder(fake: Path, real: Path) -> None:
    """``fake`` as a real folder holding links to ``real``'s entries (none if ``real`` is absent)."""
    if fake.is_symlink():
        fake.unlink()
    if fake.is_dir():
        return
    fake.mkdir(parents=True)
    if real.is_dir():
        for child in real.iterdir():
            if child.name != ".snakemake":
                _link(child, fake / child.name)


def mirror(workdir: Path, scratch: Path, stand_ins: list[tuple[str, bool]]) -> None:
    """``scratch`` as ``workdir`` with empty, 1970-dated ``stand_ins`` (relative paths)."""
    _open_folder(scratch, workdir)
    metadata = workdir / ".snakemake" / "metadata"  # Snakemake's rerun triggers (params, code)
    if metadata.is_dir():
        (scratch / ".snakemake").mkdir(exist_ok=True)
        _link(metadata, scratch / ".snakemake" / "metadata")
    for rel, is_folder in stand_ins:
        parts = Path(rel).parts
        fake, real = scratch, workdir
        for part in parts[:-1]:
            fake, real = fake / part, real / part
            _open_folder(fake, real)
        target = fake / parts[-1]
        if is_folder:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.touch()
        os.utime(target, (0, 0))


# --------------------------------------------------------------------------- running it


def _snakemake(args: list[str], cwd: Path, timeout: int) -> str:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-n", "--cores", "1", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise DryRunError(f"snakemake {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return output


@dataclass
class DryRun:
    jobs: list[DagJob]  # the whole DAG; needs_run marks the jobs a submission runs
    stats: dict[str, int]  # the plain dry run's "Job stats" (jobs to run per rule)
    missing: list[str]  # external inputs absent from the working directory (stand-ins were used)

    def to_run(self) -> Iterator[DagJob]:
        return (j for j in self.jobs if j.needs_run)


def dry_run(configfile: str | Path, targets: list[str] | None = None, workdir: str | Path = ".",
            config: dict[str, Any] | None = None, timeout: int = 600) -> DryRun:
    """The DAG of ``configfile`` (its ``targets``, default all) in ``workdir``, both dry runs."""
    from ..core.config_files import read_config

    workdir = Path(workdir).resolve()
    configfile = Path(configfile).resolve()
    config = config if config is not None else read_config(configfile)
    missing = missing_inputs(config, workdir)
    absolute = [p for p, _ in missing if Path(p).is_absolute()]
    if absolute:
        raise DryRunError(f"{configfile}: inputs at absolute paths are missing (no stand-in can be made): "
                          + ", ".join(absolute))
    # targets first: --configfile takes several files, so a target after it would be read as one
    args = [*(targets or []), "--configfile", str(configfile)]
    with tempfile.TemporaryDirectory(prefix="qcpt-plan-") as tmp:
        cwd = workdir
        if missing:
            cwd = Path(tmp) / "work"
            mirror(workdir, cwd, missing)
        to_run_out = _snakemake(args, cwd, timeout)
        all_out = _snakemake([*args, "--forceall"], cwd, timeout)
    pending = {j.key for j in parse_jobs(to_run_out)}
    jobs = parse_jobs(all_out)
    for job in jobs:
        job.needs_run = job.key in pending
    stats = job_stats(to_run_out)
    if sum(stats.values()) != len(pending) or not pending <= {j.key for j in jobs}:
        raise DryRunError(f"could not read snakemake's dry run: {len(pending)} job blocks, "
                          f"{sum(stats.values())} in its Job stats")
    return DryRun(jobs, stats, [p for p, _ in missing])
