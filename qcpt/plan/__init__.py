"""``python -m qcpt plan``: what a config (or some of its targets) will cost before it is submitted,
and whether its claims can be detected at all.

From Snakemake's dry run (:mod:`.dryrun`) and the throughputs of :mod:`.estimate`: per rule family,
per report table and per claim, the jobs still to run and those already built, GPU-hours, CPU-hours,
the memory a job asks for, the disk it writes and the SLURM submissions it takes at the family's
``runtime``; and per claim the minimum detectable effect of its eval set (:mod:`qcpt.report.power`),
flagged where the paper's Δ is below it. Inputs the config names that are not in place are listed; the
plan is made with stand-ins for them.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.tabular import md_table
from .dryrun import DagJob, DryRun, dry_run
from .estimate import Cost, Estimator, Rates


@dataclass
class Totals:
    jobs: int = 0  # to run
    built: int = 0
    gpu_hours: float = 0.0
    gpu_unknown: int = 0  # GPU jobs without a rate
    cpu_hours: float = 0.0
    cpu_bound: bool = False
    mem_mb: int = 0  # the most one job asks for
    disk_bytes: float = 0.0
    disk_unknown: int = 0
    submissions: int = 0
    gpus: set[int] = field(default_factory=set)
    runtimes: set[int] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    rate_keys: set[str] = field(default_factory=set)

    def add(self, job: DagJob, cost: Cost) -> None:
        self.rules.add(job.rule)
        if not job.needs_run:
            self.built += 1
            return
        self.jobs += 1
        if cost.gpus:
            self.gpus.add(cost.gpus)
            if cost.gpu_hours is None:
                self.gpu_unknown += 1
            else:
                self.gpu_hours += cost.gpu_hours
        self.cpu_hours += cost.cpu_hours
        self.cpu_bound |= cost.cpu_bound
        self.mem_mb = max(self.mem_mb, cost.mem_mb)
        if cost.disk_bytes is None:
            self.disk_unknown += 1
        else:
            self.disk_bytes += cost.disk_bytes
        self.submissions += cost.submissions
        self.runtimes.add(cost.runtime)
        if cost.rate_key:
            self.rate_keys.add(cost.rate_key)


@dataclass
class ClaimPlan:
    claim: Any  # qcpt.report.claims.Claim
    evalset: str
    verdict: Any  # qcpt.report.verdict.Verdict (word, mde, power)
    totals: Totals


@dataclass
class Plan:
    configfile: str
    targets: list[str]
    run: DryRun
    costs: list[Cost]
    families: dict[str, Totals]
    tables: dict[str, Totals]
    claims: list[ClaimPlan]
    rates: Rates
    alpha: float

    @property
    def total(self) -> Totals:
        t = Totals()
        for job, cost in zip(self.run.jobs, self.costs, strict=True):
            t.add(job, cost)
        return t


def _ancestors(jobs: list[DagJob], outputs: Iterable[str]) -> set[int]:
    """Indices of the jobs that make ``outputs`` and of every job upstream of them."""
    producer = {out: i for i, job in enumerate(jobs) for out in job.outputs}
    seen: set[int] = set()
    stack = [producer[o] for o in outputs if o in producer]
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        stack.extend(producer[x] for x in jobs[i].inputs if x in producer)
    return seen


def _sum(jobs: list[DagJob], costs: list[Cost], indices: Iterable[int]) -> Totals:
    t = Totals()
    for i in sorted(indices):
        t.add(jobs[i], costs[i])
    return t


def make_plan(configfile: str | Path, targets: list[str] | None = None, bench_dir: str | Path | None = None) -> Plan:
    """The plan of ``configfile`` in the current directory (its targets, default all)."""
    from .. import config as qconfig
    from ..core.config_files import read_config
    from ..report import catalogue
    from ..report import verdict as qverdict
    from ..report.build import ReportParams
    from ..report.spec import Grid, metrics_path
    from ..report.stats import Metrics
    from ..report.verdict_table import Verdicts

    config = qconfig.validate(read_config(configfile))
    run = dry_run(configfile, targets, config=config)
    rates = Rates(config, bench_dir)
    estimator = Estimator(config, rates)
    costs = [estimator.cost(job) for job in run.jobs]
    families: dict[str, Totals] = defaultdict(Totals)
    for job, cost in zip(run.jobs, costs, strict=True):
        if job.rule != "all":
            families[cost.family].add(job, cost)

    results = config["results"]
    tables: dict[str, Totals] = {}
    artifacts = catalogue.report_artifacts(config)
    for artifact in artifacts:
        if isinstance(artifact, Verdicts) or not hasattr(artifact, "refs"):
            continue
        paths = [p for ref in artifact.refs()
                 for p in (ref.path(results), *([metrics_path(results, ref.evalset, ref.baseline)] if ref.baseline else []))]
        if paths:
            tables[artifact.name] = _sum(run.jobs, costs, _ancestors(run.jobs, paths))

    alpha = ReportParams().alpha
    claims: list[ClaimPlan] = []
    verdicts = next((a for a in artifacts if isinstance(a, Verdicts)), None)
    if verdicts is not None:
        from ..report import power as qpower

        metrics = Metrics([])
        grid = Grid(config)
        inputs, fallback, by_key = [], {}, {}
        for claim, (ours, base) in zip(verdicts.claims, verdicts.pairs, strict=True):
            sides = []
            for ref in (ours, base):
                present = []
                for r in verdicts.systems(ref):
                    pq = metrics.per_query(r.path(grid.results), r.measure)
                    if pq is not None:
                        present.append((r.path(grid.results), pq))
                sides.append(present)
            inputs.append((claim.id, claim.paper_delta, claim.direction, *sides))
            key = (ours.evalset, claim.measure)
            if key not in by_key:
                runs = [pq for p in qpower.evalset_runs(results, ours.evalset) if (pq := metrics.per_query(p, claim.measure))]
                n, where = qpower.evalset_queries(config, ours.evalset, claim.evalset)
                by_key[key] = qpower.estimate(claim.measure, ours.evalset, runs, n, where)
            fallback[claim.id] = by_key[key]
        judged = qverdict.judge(inputs, alpha=alpha, scale=100.0, fallback=fallback)
        for claim, (ours, base), v in zip(verdicts.claims, verdicts.pairs, judged, strict=True):
            paths = [r.path(results) for ref in (ours, base) for r in verdicts.systems(ref)]
            claims.append(ClaimPlan(claim, ours.evalset, v, _sum(run.jobs, costs, _ancestors(run.jobs, paths))))
    return Plan(str(configfile), list(targets or []), run, costs, dict(families), tables, claims, rates, alpha)


# --------------------------------------------------------------------------- output


def _hours(value: float, unknown: int = 0) -> str:
    text = "0" if value == 0 and not unknown else f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"
    return text + (f" + {unknown} jobs without a rate" if unknown else "")


def _disk(t: Totals) -> str:
    if t.jobs and t.disk_unknown == t.jobs:
        return "—"
    text = f"{t.disk_bytes / 1e9:,.1f} GB" if t.disk_bytes < 1e12 else f"{t.disk_bytes / 1e12:,.2f} TB"
    return text + (f" (+{t.disk_unknown} jobs n/e)" if t.disk_unknown else "")


def _row(name: str, t: Totals) -> list[str]:
    gpus = "/".join(map(str, sorted(t.gpus))) or "0"
    runtime = "/".join(f"{m:,}" for m in sorted(t.runtimes)) or "—"
    return [name, str(t.jobs), str(t.built), gpus, _hours(t.gpu_hours, t.gpu_unknown),
            ("≤ " if t.cpu_bound else "") + _hours(t.cpu_hours), f"{t.mem_mb / 1000:,.0f}" if t.mem_mb else "—",
            _disk(t), runtime, f"{t.submissions:,}"]


HEADER = ["", "jobs", "built", "GPUs/job", "GPU-hours", "CPU-hours", "mem/job GB", "disk", "runtime min",
          "submissions"]


def render(plan: Plan, markdown: bool = False) -> str:
    total = plan.total
    out: list[str] = []
    h = "### " if markdown else ""
    targets = " ".join(plan.targets) or "all"
    out.append(f"{h}Plan of {plan.configfile} ({targets}): {total.jobs:,} jobs to run "
               f"(the dry run's total: {sum(plan.run.stats.values()):,}), {total.built:,} already built; "
               f"{_hours(total.gpu_hours, total.gpu_unknown)} GPU-hours, "
               f"≤ {_hours(total.cpu_hours)} CPU-hours, {total.submissions:,} SLURM submissions.")
    out.append("")
    if plan.run.missing:
        shown = ", ".join(f"`{p}`" if markdown else p for p in plan.run.missing[:6])
        more = f" and {len(plan.run.missing) - 6} more" if len(plan.run.missing) > 6 else ""
        out.append(f"Missing inputs ({len(plan.run.missing)}; planned with empty stand-ins): {shown}{more}.")
        out.append("")

    def table(title: str, rows: list[list[str]], header: list[str], align: str | None = None) -> None:
        if markdown:
            out.append(f"**{title}**\n")
            out.append(md_table(header, rows, align or "l" + "r" * (len(header) - 1)).rstrip("\n"))
        else:
            out.append(title)
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            for r in [header, *rows]:
                out.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        out.append("")

    fam_rows = [_row(name, t) for name, t in sorted(plan.families.items(), key=lambda kv: -kv[1].gpu_hours)]
    table("Per rule family (resources:)", fam_rows, ["family", *HEADER[1:]])
    if plan.tables:
        table("Per report table (a job several tables need counts in each)",
              [_row(name, t) for name, t in plan.tables.items()], ["table", *HEADER[1:]])
    rates = [[key, f"{r.value:,.1f} {r.unit}" if r.value < 1e6 else f"{r.value:.3g} {r.unit}", r.source]
             for key, r in sorted(plan.rates.used.items())]
    if rates:
        table("Rates (each job's throughput and where it comes from)", rates, ["rate", "value", "source"], "lrl")
    else:
        out.extend(["No job runs on a GPU: no rates (CPU-hours are the families' runtime bounds).", ""])
    if plan.claims:
        rows = []
        for c in plan.claims:
            v = c.verdict
            delta = "—" if c.claim.paper_delta is None else f"{c.claim.paper_delta:+.1f}"
            mde = "—" if v.mde is None else f"{v.mde:.2f}" + (" ⚠ below" if v.below_mde else "")
            t = c.totals
            rows.append([c.claim.id, f"{c.evalset} · {c.claim.measure}", delta, mde, v.word, str(t.jobs), str(t.built),
                         _hours(t.gpu_hours, t.gpu_unknown), ("≤ " if t.cpu_bound else "") + _hours(t.cpu_hours),
                         f"{t.submissions:,}"])
        flagged = sum(c.verdict.below_mde for c in plan.claims)
        table(f"Per claim: MDE at α = {plan.alpha:g} (paired, 80% power); {flagged} of {len(plan.claims)} "
              "claims have a paper Δ below it (⚠)", rows,
              ["claim", "eval set · measure", "paper Δ", "MDE", "verdict now", "jobs", "built", "GPU-hours", "CPU-hours",
               "submissions"], "llrrlrrrrr")
        sources = sorted({c.verdict.power.source for c in plan.claims if c.verdict.power is not None})
        out.append("MDE sources: " + "; ".join(sources) + ".")
        out.append("")
    out.append("GPU-hours: a job's work over the per-GPU rate; wall time is that over its GPUs, and submissions "
               "its wall time over the family's runtime (training resumes from checkpoints). CPU-hours of jobs "
               "without a rate are their runtime × cpus_per_task (≤, an upper bound). disk: built outputs "
               "measured, else model weights, checkpoints kept, vectors, runs and queries (n/e: not estimated).")
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qcpt plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default="config.yaml", help="the workflow config (default config.yaml)")
    parser.add_argument("targets", nargs="*", help="Snakemake targets (default: everything the config builds)")
    parser.add_argument("--markdown", action="store_true", help="markdown tables (the README's form)")
    parser.add_argument("--bench-dir", default=None, help="GPU bench JSONs (default: the checkout's bench/results)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .dryrun import DryRunError

    try:
        plan = make_plan(args.configfile, args.targets, args.bench_dir)
    except (DryRunError, OSError, ValueError) as err:
        print(f"qcpt plan: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(render(plan, args.markdown))
    return 0


__all__ = ["Plan", "Totals", "build_parser", "main", "make_plan", "render"]
