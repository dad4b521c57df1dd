"""The verdict table that leads the report: one row per claim of the papers the report's tables
come from (:mod:`.claims`), judged by :mod:`.verdict`, as markdown (also at the top of
``index.md``) and CSV; each row links the two metrics files behind it."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.tabular import MISSING, csv_text, md_table
from . import claims as qclaims
from . import power as qpower
from . import verdict as qverdict
from .spec import CellRef, Grid

if TYPE_CHECKING:
    from .pages import IndexEntry
    from .pages import PageWriter as ReportBuilder  # what a table module sees of the builder

NAME, TITLE, PAPER = "verdict", "Did it replicate? One verdict per claim", "verdict"


@dataclass
class Verdicts:
    """The claims of the report's papers with their two cells (and each cell's seed replicates)."""

    name: str
    title: str
    paper: str
    claims: list[qclaims.Claim]
    pairs: list[tuple[CellRef, CellRef]]
    replicates: dict[str, list[str]]  # system -> the systems of its seeds (itself first)
    not_expressible: list[tuple[str, str]] = field(default_factory=list)  # (claim set, text)

    def systems(self, ref: CellRef) -> list[CellRef]:
        return [CellRef(ref.evalset, s, ref.measure) for s in self.replicates.get(ref.system, [ref.system])]

    def refs(self) -> list[CellRef]:
        return [r for pair in self.pairs for ref in pair for r in self.systems(ref)]

    def files(self) -> list[str]:
        return [f"{self.name}.md", f"{self.name}.csv"]


def verdict_artifact(grid: Grid, papers: list[str]) -> Verdicts | None:
    chosen = qclaims.claims_for(papers)
    if not chosen:
        return None
    pairs = [qclaims.claim_refs(grid, c) for c in chosen]
    systems = {ref.system for pair in pairs for ref in pair}
    notes = [(name, text) for name in qclaims.CLAIM_SETS if name in papers for text in qclaims.CLAIMS[name][1]]
    return Verdicts(NAME, TITLE, PAPER, chosen, pairs, {s: grid.replicates(s) for s in systems}, notes)


def _side(builder: ReportBuilder, artifact: Verdicts, ref: CellRef) -> list[tuple[str, dict[str, float]]]:
    """``[(metrics path, per-query scores)]`` of the seeds present (a path without per-query values
    counts as absent)."""
    out = []
    for r in artifact.systems(ref):
        path = r.path(builder.results)
        pq = builder.metrics.per_query(path, r.measure)
        if pq is not None:
            out.append((path, pq))
    return out


def power_fallbacks(builder: ReportBuilder, artifact: Verdicts) -> dict[str, qpower.Estimate | None]:
    """Per claim, the MDE estimate used where its two runs are not both built: the runs already built
    on its eval set and measure, else the assumption of :mod:`.power` (one estimate per eval set and
    measure)."""
    available = builder.metrics.available
    by_key: dict[tuple[str, str], qpower.Estimate | None] = {}
    out: dict[str, qpower.Estimate | None] = {}
    for claim, (ours, _) in zip(artifact.claims, artifact.pairs, strict=True):
        key = (ours.evalset, claim.measure)
        if key not in by_key:
            runs = [pq for path in qpower.evalset_runs(builder.results, ours.evalset, available)
                    if (pq := builder.metrics.per_query(path, claim.measure))]
            n, where = qpower.evalset_queries(builder.config, ours.evalset, claim.evalset)
            by_key[key] = qpower.estimate(claim.measure, ours.evalset, runs, n, where)
        out[claim.id] = by_key[key]
    return out


def _num(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return MISSING
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3g}"


def write(builder: ReportBuilder, artifact: Verdicts) -> tuple[IndexEntry, str]:
    """Writes ``verdict.md`` and ``verdict.csv``; returns the index entry and the markdown table
    (``index.md`` leads with it)."""
    from .pages import IndexEntry

    alpha = builder.params.alpha
    inputs = []
    for claim, (ours, base) in zip(artifact.claims, artifact.pairs, strict=True):
        inputs.append((claim.id, claim.paper_delta, claim.direction, _side(builder, artifact, ours),
                       _side(builder, artifact, base)))
    verdicts = qverdict.judge(inputs, alpha=alpha, scale=100.0, fallback=power_fallbacks(builder, artifact))

    def link(paths: list[str], label: str) -> str:
        if not paths:
            return f"{label} {MISSING}"
        return " ".join(f"[{label}{'' if len(paths) == 1 else i + 1}]({os.path.relpath(p, builder.out_dir)})"
                        for i, p in enumerate(paths))

    header = ["claim", "source", "eval set · measure", "paper", "paper Δ", "MDE", "our Δ [95% CI]",
              "p (Holm)", "ratio", "seeds", "verdict", "metrics"]
    lines, rows = [], [["claim", "set", "source", "text", "evalset", "measure", "ours_system", "baseline_system",
                        "paper_baseline", "paper_ours", "paper_delta", "direction", "delta", "ci_low", "ci_high",
                        "n_queries", "p", "p_holm", "ratio", "seeds", "seed_sd", "paper_delta_below_seed_sd",
                        "verdict", "ours_metrics", "baseline_metrics", "mde", "mde_sd", "mde_queries",
                        "paper_delta_below_mde", "mde_source"]]
    for claim, (ours, base), v in zip(artifact.claims, artifact.pairs, verdicts, strict=True):
        r = v.result
        paper = " → ".join(_num(x, 1) for x in claim.numbers)
        if claim.paper_delta is None:
            paper += f" (claimed {'+' if claim.direction > 0 else '−'})"
        ci = MISSING if r is None else f"{r.delta:+.2f} [{r.low:+.2f}, {r.high:+.2f}]"
        seeds = str(min(len(v.ours_paths), len(v.baseline_paths)))
        if v.seed_sd is not None:
            seeds += f" (sd {v.seed_sd:.2f}{', paper Δ below it' if v.below_seed_spread else ''})"
        lines.append([f"`{claim.id}`: {claim.text}", claim.source, f"{ours.evalset} · {claim.measure}", paper,
                      _num(claim.paper_delta, 1, True),
                      _num(v.mde, 2) + (" ⚠" if v.below_mde else ""), ci, _p(v.p_holm), _num(v.ratio, 2), seeds,
                      f"**{v.word}**", f"{link(v.ours_paths, 'ours')} vs {link(v.baseline_paths, 'base')}"])
        rows.append([claim.id, claim.paper, claim.source, claim.text, ours.evalset, claim.measure, ours.system,
                     base.system, *("" if x is None else f"{x:g}" for x in claim.numbers),
                     "" if claim.paper_delta is None else f"{claim.paper_delta:.4g}", str(claim.direction),
                     *("" if r is None else f"{x:.6f}" for x in (r.delta if r else 0, r.low if r else 0, r.high if r else 0)),
                     "" if r is None else str(r.n), "" if r is None or r.p is None else f"{r.p:.6g}",
                     "" if v.p_holm is None else f"{v.p_holm:.6g}", "" if v.ratio is None else f"{v.ratio:.4f}",
                     seeds.split(" ")[0], "" if v.seed_sd is None else f"{v.seed_sd:.6f}", str(int(v.below_seed_spread)),
                     v.word, ";".join(v.ours_paths), ";".join(v.baseline_paths),
                     "" if v.mde is None else f"{v.mde:.4f}", "" if v.power is None else f"{v.power.sd:.6f}",
                     "" if v.power is None else str(v.power.n), str(int(v.below_mde)),
                     "" if v.power is None else v.power.source])
    table = md_table(header, lines, "llllrrllrlll")
    counts = ", ".join(f"{sum(v.word == w for v in verdicts)} {w}" for w in qverdict.WORDS
                       if any(v.word == w for v in verdicts))
    method = (
        f"Δ = ours − baseline ×100 (the papers' scale), the mean over the queries both cells score, with a "
        f"95% paired-t interval; p: paired two-tailed t-test, Holm-corrected over the {len(verdicts)} claims "
        f"(statsmodels); significant at p ≤ {alpha:g}. *replicated*: the paper's sign, significant; "
        "*same direction*: the paper's sign, not significant; *not replicated*: the opposite sign, significant; "
        "*inconclusive*: the opposite sign, not significant; *not built*: a metrics file is missing. "
        f"MDE: the minimum detectable effect of the claim's eval set and measure (paired two-tailed t-test "
        f"at α = {alpha:g} before Holm, 80% power), from the sd of the per-query Δ of the claim's own runs, "
        "else of runs built on the eval set, else an assumption (verdict.csv's mde_source says which); "
        "⚠ and *paper Δ below MDE*: the paper's Δ is below it, so not even a perfect reproduction could "
        "confirm the claim. "
        "ratio = our Δ / the paper's Δ. With seed replicates each side is the mean over its seeds per query, "
        "and sd is the spread of the per-seed Δ."
    )
    md = io.StringIO()
    md.write(f"# {artifact.title}\n\n{counts}.\n\n{table}\n{method}\n")
    if artifact.not_expressible:
        md.write("\n## Claims the data cannot express\n\n")
        md.writelines(f"- {name}: {text}\n" for name, text in artifact.not_expressible)
    builder._write(f"{artifact.name}.md", md.getvalue())
    builder._write(f"{artifact.name}.csv", csv_text(rows))
    entry = IndexEntry(artifact.name, artifact.title, artifact.paper, artifact.files(),
                       sum(v.word != qverdict.NOT_BUILT for v in verdicts), len(verdicts))
    return entry, f"## {artifact.title}\n\n{counts} ([verdict.md](verdict.md), [verdict.csv](verdict.csv)).\n\n{table}"
