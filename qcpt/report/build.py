"""Build the report: the chosen paper tables (ours beside theirs) as markdown + CSV, plots as PNG,
and an ``index.md`` listing them.

A cell whose metrics file is absent is reported missing ("–"), never an error, so a partial grid
still reports. Each cell with a baseline (the span-context cell of the same schema and stage) is
compared to it with a paired two-tailed t-test over the per-query values of the queries both runs
scored (``scipy.stats.ttest_rel``); p ≤ alpha (0.01) is marked ▲ (better) or ▼ (worse).

CLI::

    scripts/qcpt.py report.build (--config CONFIG.yaml | --config-json JSON) --out DIR [--metrics PATH ...]
                                 [--tables NAME ...] [--params '{"alpha": 0.01, "dpi": 150}']

``--metrics`` names the metrics files the report may read (the rule passes its inputs, so the
report depends on nothing undeclared); without it, whatever exists under the results folder is read.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from .. import config as qconfig
from ..core.config_files import read_config
from ..core.io import atomic_open
from ..core.tabular import MISSING, csv_text, md_table
from . import audit_table, catalogue, plots, verdict_table
from .pages import IndexEntry, ReportParams, parse_params
from .spec import BarFigure, CellRef, CurveFigure, Grid, Table
from .stats import BETTER, WORSE, CellResult, Metrics, paired_ttest

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- formatting


def _fmt(value: float | None, digits: int) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    return "" if p is None else f"{p:.3g}"


# --------------------------------------------------------------------------- the report


class ReportBuilder:
    """Writes every artifact of the chosen tables under ``out_dir``, then ``index.md``."""

    def __init__(
        self, config: dict[str, Any], out_dir: str | Path, available: list[str] | None = None,
        names: list[str] | None = None, params: ReportParams | None = None, audits: list[str] | None = None,
    ):
        self.config = config
        self.grid = Grid(config)
        self.results = self.grid.results
        self.out_dir = Path(out_dir)
        self.params = params or ReportParams()
        self.names = catalogue.table_names(config, names)
        self.metrics = Metrics(self.grid.targets, available)
        self.artifacts: list[Any] = catalogue.report_artifacts(config, self.names)
        self.audits = audits  # the query audits the report may read (None: whatever exists)

    # ---- cells

    def cell(self, ref: CellRef | None, scale: float) -> CellResult:
        out = CellResult()
        if ref is None:
            return out
        out.path = ref.path(self.results)
        value, sd, out.seeds, ours_pq = self.metrics.seeded(self._replicates(ref), ref.measure)
        out.ours = None if value is None else value * scale
        out.sd = None if sd is None else sd * scale
        base = ref.baseline_ref()
        if base is None or value is None:
            return out
        out.baseline_path = base.path(self.results)
        base_value, _, _, base_pq = self.metrics.seeded(self._replicates(base), ref.measure)
        if base_value is None or ours_pq is None or base_pq is None:
            return out
        out.delta = (value - base_value) * scale
        out.p_value, out.n_queries = paired_ttest(ours_pq, base_pq)
        out.significant = out.p_value is not None and out.p_value <= self.params.alpha
        return out

    def _replicates(self, ref: CellRef) -> list[str]:
        """The metrics files of ``ref``'s seed replicates (its own first when it has none)."""
        return [CellRef(ref.evalset, s, ref.measure).path(self.results) for s in self.grid.replicates(ref.system)]

    def table_results(self, table: Table) -> list[dict[str, CellResult]]:
        """Per row and column: our number, the paper's, and the t-test against the baseline."""
        out: list[dict[str, CellResult]] = []
        for row in table.rows:
            cells = {}
            for col in table.columns:
                result = self.cell(row.cells.get(col), table.scale)
                result.paper = row.paper.get(col)
                cells[col] = result
            out.append(cells)
        # an average row is the mean of the other rows, shown only when every one of them is present
        for row, cells in zip(table.rows, out, strict=True):
            if row.average:
                for col in table.columns:
                    values = [c[col].ours for r, c in zip(table.rows, out, strict=True) if not r.average]
                    if values and all(v is not None for v in values):
                        cells[col].ours = sum(values) / len(values)  # type: ignore[arg-type]
        return out

    # ---- writers

    def _write(self, name: str, text: str) -> None:
        with atomic_open(self.out_dir / name) as handle:
            handle.write(text)

    def _sources(self, refs: list[CellRef], row_refs: list[tuple[str, list[CellRef]]]) -> str:
        """Where each row's numbers come from, and which metrics files are missing (and why)."""
        buf = io.StringIO()
        buf.write(f"\n## Where our numbers come from\n\nMetrics files `{self.results}/eval/<evalset>/<system>/metrics.json`:\n\n")
        buf.write(md_table(["row", "evalsets", "systems"], [
            [label, ", ".join(dict.fromkeys(f"`{r.evalset}`" for r in rrefs)),
             ", ".join(dict.fromkeys(f"`{r.system}`" for r in rrefs))]
            for label, rrefs in row_refs if rrefs
        ]))
        paths = list(dict.fromkeys(r.path(self.results) for r in refs))
        missing = [(p, self.metrics.status(p)) for p in paths if self.metrics.load(p) is None]
        buf.write(f"\n## Missing metrics files ({len(missing)} of {len(paths)})\n\n")
        for path, status in missing:
            buf.write(f"- `{path}` ({status})\n")
        if not missing:
            buf.write("None.\n")
        return buf.getvalue()

    def write_table(self, table: Table) -> IndexEntry:
        results = self.table_results(table)
        with_paper = table.has_paper
        header = [""]
        for col in table.columns:
            header += [f"{col} ours", f"{col} paper"] if with_paper else [col]
        md = io.StringIO()
        md.write(f"# {table.title}\n\nSource: {catalogue.PAPERS[table.paper]}.")
        if with_paper and table.scale != 1.0:
            md.write(f" Our numbers are ×{table.scale:g}, as the paper's.")
        lines: list[list[str]] = []
        section = None
        for row, cells in zip(table.rows, results, strict=True):
            if row.section and row.section != section:
                section = row.section
                lines.append([f"**{section}**"] + [""] * (len(header) - 1))
            line = [row.label]
            for col in table.columns:
                res = cells[col]
                spread = f" ± {res.sd:.{table.digits}f}" if res.sd is not None else ""
                line.append(_fmt(res.ours, table.digits) + spread + (f" {res.marker()}" if res.marker() else ""))
                if with_paper:
                    line.append(_fmt(res.paper, table.digits))
            lines.append(line)
        md.write("\n\n" + md_table(header, lines, "l" + "r" * (len(header) - 1)))
        md.write(
            f"\n{BETTER}/{WORSE}: better/worse than our baseline ('{self.grid.baseline_context}' context, "
            f"same schema and stage) by a paired two-tailed t-test over per-query values, "
            f"p ≤ {self.params.alpha:g} (p-values in the CSV). {MISSING}: not available.\n"
        )
        for note in table.notes:
            md.write(f"\n{note}\n")
        row_refs = [(row.label, [r for r in row.cells.values() if r is not None]) for row in table.rows]
        md.write(self._sources(table.refs(), row_refs))
        self._write(f"{table.name}.md", md.getvalue())

        kinds = ("ours", "paper", "p", "significant") if with_paper else ("ours", "p", "significant")
        rows = [["section", "row"] + [f"{col} {k}" for col in table.columns for k in kinds]]
        for row, cells in zip(table.rows, results, strict=True):
            line = [row.section, row.label]
            for col in table.columns:
                res = cells[col]
                line.append("" if res.ours is None else f"{res.ours:.{table.digits + 2}f}")
                if with_paper:
                    line.append("" if res.paper is None else f"{res.paper:g}")
                line += [_fmt_p(res.p_value), "" if res.p_value is None else str(int(res.significant))]
            rows.append(line)
        self._write(f"{table.name}.csv", csv_text(rows))
        data_cells = [c for row, cells in zip(table.rows, results, strict=True) if not row.average
                      for col, c in cells.items() if row.cells.get(col) is not None]
        return IndexEntry(table.name, table.title, table.paper, table.files(),
                          sum(c.ours is not None for c in data_cells), len(data_cells))

    def write_curve(self, figure: CurveFigure) -> IndexEntry:
        values: dict[tuple[int, str], float | None] = {}
        tests: dict[tuple[int, str], CellResult] = {}
        for i, panel in enumerate(figure.panels):
            systems = [s for line in figure.lines for _, s in line.points]
            for system in systems:
                ref = CellRef(panel.evalset, system, panel.measure, figure.baseline_system)
                tests[(i, system)] = res = self.cell(ref, figure.scale)
                values[(i, system)] = res.ours
            if figure.baseline_system:
                values[(i, figure.baseline_system)] = self.cell(
                    CellRef(panel.evalset, figure.baseline_system, panel.measure), figure.scale).ours
        plots.curve_png(self.out_dir / f"{figure.name}.png", figure, values, dpi=self.params.dpi)

        header = ["curve", "amount", "system"]
        for panel in figure.panels:
            header += [f"{panel.label} ours", f"{panel.label} p"]
        rows: list[list[str]] = [header]
        for line in figure.lines:
            for amount, system in line.points:
                row = [line.label, str(amount), system]
                for i in range(len(figure.panels)):
                    res = tests[(i, system)]
                    row += ["" if res.ours is None else f"{res.ours:.{figure.digits + 2}f}", _fmt_p(res.p_value)]
                rows.append(row)
        if figure.baseline_system:
            row = ["span baseline (ours)", "", figure.baseline_system]
            for i in range(len(figure.panels)):
                v = values.get((i, figure.baseline_system))
                row += ["" if v is None else f"{v:.{figure.digits + 2}f}", ""]
            rows.append(row)
        row = [figure.paper_baseline_source, "", ""]
        for panel in figure.panels:
            row += ["" if panel.paper_baseline is None else f"{panel.paper_baseline:g}", ""]
        rows.append(row)
        self._write(f"{figure.name}.csv", csv_text(rows))

        md = io.StringIO()
        md.write(f"# {figure.title}\n\nSource: {catalogue.PAPERS[figure.paper]}. ![{figure.name}]({figure.name}.png)\n\n")
        lines: list[list[str]] = []
        for line in figure.lines:
            for amount, system in line.points:
                cells = []
                for i in range(len(figure.panels)):
                    res = tests[(i, system)]
                    cells.append(_fmt(res.ours, figure.digits) + (f" {res.marker()}" if res.marker() else ""))
                lines.append([line.label, plots.amount_label(amount), *cells])
        if figure.baseline_system:
            lines.append(["span baseline (ours)", "", *[_fmt(values.get((i, figure.baseline_system)), figure.digits)
                                                      for i in range(len(figure.panels))]])
        lines.append([figure.paper_baseline_source, "", *[_fmt(p.paper_baseline, figure.digits) for p in figure.panels]])
        md.write(md_table(["curve", "amount", *[f"{p.label} ours" for p in figure.panels]], lines,
                          "lr" + "r" * len(figure.panels)))
        md.write(
            f"\n{BETTER}/{WORSE}: better/worse than our span baseline, paired two-tailed t-test, "
            f"p ≤ {self.params.alpha:g}.\n"
        )
        for note in figure.notes:
            md.write(f"\n{note}\n")
        refs = figure.refs()
        md.write(self._sources(refs, [(line.label, [r for r in refs if r.system in {s for _, s in line.points}])
                                      for line in figure.lines]))
        self._write(f"{figure.name}.md", md.getvalue())
        point_cells = [t for t in tests.values()]
        return IndexEntry(figure.name, figure.title, figure.paper, figure.files(),
                          sum(c.ours is not None for c in point_cells), len(point_cells))

    def write_bars(self, figure: BarFigure) -> IndexEntry:
        values = {ref.system: self.cell(ref, figure.scale).ours for ref in figure.refs()}
        seeds = {ref.system: [v * figure.scale for p in self._replicates(ref)
                              if (v := self.metrics.value(p, ref.measure)) is not None] for ref in figure.refs()}
        plots.bars_png(self.out_dir / f"{figure.name}.png", figure, values, dpi=self.params.dpi, seeds=seeds)
        return IndexEntry(figure.name, figure.title, figure.paper, figure.files(),
                          sum(v is not None for v in values.values()), len(values))

    def write_index(self, entries: list[IndexEntry]) -> None:
        from ..core import provenance

        md = io.StringIO()
        md.write("# qcpt report\n\n")
        md.write(f"Results folder `{self.results}`; tables: {', '.join(self.names)}.\n")
        if self.verdicts_md:
            md.write(f"\n{self.verdicts_md}")
        for paper, title in catalogue.PAPERS.items():
            mine = [e for e in entries if e.paper == paper]
            if not mine:
                continue
            md.write(f"\n## {title}\n\n")
            for e in mine:
                links = ", ".join(f"[{f}]({f})" for f in e.files)
                md.write(f"- **{e.title}**: {links} — {e.present} of {e.total} numbers of ours present\n")
        md.write(
            "\n## Method\n\nOurs beside the paper's numbers; a missing metrics file shows as "
            f"'{MISSING}'. Significance: paired two-tailed t-test (scipy.stats.ttest_rel) over the per-query "
            f"values of the queries both runs scored, against the '{self.grid.baseline_context}' context of the "
            f"same schema and stage; {BETTER}/{WORSE} mark p ≤ {self.params.alpha:g}. The LLM paper's Figures 3 and "
            "4 give no values in its text: our curves are drawn with the paper's Table 2/1 baselines as dashed lines.\n"
        )
        prov = provenance.collect({"report": self.names, "results": self.results}, [])
        md.write("\n## Provenance\n\n")
        md.write(f"- git commit: {prov['git_commit'] or 'none (not a git checkout)'}"
                 f"{' (uncommitted changes)' if prov['git_dirty'] else ''}\n")
        md.write(f"- Python {prov['python']} on {prov['hostname']}, {prov['created']}\n")
        md.write("- " + ", ".join(f"{k} {v or 'absent'}" for k, v in prov["versions"].items()) + "\n")
        self._write("index.md", md.getvalue())

    def build(self) -> list[IndexEntry]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        entries = []
        self.verdicts_md = ""
        for artifact in self.artifacts:
            if isinstance(artifact, verdict_table.Verdicts):
                entry, self.verdicts_md = verdict_table.write(self, artifact)
                entries.append(entry)
            elif isinstance(artifact, audit_table.QueryAudits):
                entries.append(audit_table.write(self, artifact, self.audits))
            elif isinstance(artifact, Table):
                entries.append(self.write_table(artifact))
            elif isinstance(artifact, CurveFigure):
                entries.append(self.write_curve(artifact))
            else:
                entries.append(self.write_bars(artifact))
            log.info("%s: %d of %d numbers of ours present", entries[-1].name, entries[-1].present, entries[-1].total)
        self.write_index(entries)
        return entries


# --------------------------------------------------------------------------- CLI


def load_config(path: str | None, text: str | None) -> dict[str, Any]:
    if text is not None:
        config = json.loads(text)
    else:
        config = read_config(path)  # type: ignore[arg-type]
    return qconfig.validate(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the papers' tables and figures, ours beside theirs.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="the workflow config (YAML)")
    source.add_argument("--config-json", help="the workflow config as one JSON object")
    parser.add_argument("--out", required=True, help="the report folder")
    parser.add_argument("--metrics", nargs="*", default=None,
                        help="metrics files the report may read (default: whatever exists)")
    parser.add_argument("--audits", nargs="*", default=None,
                        help="generated-query audit JSONs the report may read (default: whatever exists)")
    parser.add_argument("--tables", nargs="+", default=None, help="table names (default: config report.tables, else demo)")
    parser.add_argument("--params", default=None, help='JSON, e.g. {"alpha": 0.01, "dpi": 150}')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = parse_params(args.params)
    config = load_config(args.config, args.config_json)
    ReportBuilder(config, args.out, args.metrics, args.tables, params, args.audits).build()
    return 0
