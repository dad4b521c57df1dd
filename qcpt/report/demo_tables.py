"""The demo set: every cell a config evaluates, per evalset, as a table (no paper numbers) and as a
plot of the main measure per encoder and setting (mean ± sd over seeds); the report of a config without
``report.tables``."""

from __future__ import annotations

from ..pretrain.schemas import registry as schema_registry
from ..workflow import cells
from ..workflow import grid as workflow_grid
from .spec import Artifact, BarFigure, CellRef, Grid, Row, Table


def encoder_label(encoder: str) -> str:
    if encoder == "base":
        return "base (no pre-training)"
    parsed = cells.parse_encoder(encoder)
    if parsed.kind == "ext":
        return f"{parsed.name} (external)"
    return f"{schema_registry.get(parsed.schema).label} · {parsed.context}"


def _baseline_for(grid: Grid, encoder: str, dataset: str, stage: str | None) -> str | None:
    return cells.counterpart(cells.model_key(dataset, encoder, stage).key, grid.baseline_context)


def unseeded(system: str) -> str:
    """The system of a seed replicate's cell under the config's seed (the name its row shows)."""
    if system == cells.BM25:
        return system
    key = cells.parse_model_key(system)
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind != "pt":
        return system
    return key.with_encoder(encoder.with_context(cells.parse_context(encoder.context).with_seed(None).tag)).key


def demo_set(grid: Grid) -> list[Artifact]:
    """Per evalset: every cell the config evaluates (BM25, zero-shot, fine-tuned per dataset and
    stage) as a table, and the main measure per encoder and setting as an interval plot."""
    by_evalset: dict[str, list[str]] = {}
    for path in grid.targets:
        evalset, system = workflow_grid.parse_metrics_path(grid.results, path)
        system = unseeded(system)  # one row per cell: its seed replicates are its mean ± sd
        if system not in by_evalset.setdefault(evalset, []):
            by_evalset[evalset].append(system)
    out: list[Artifact] = []
    for evalset, systems in by_evalset.items():
        measures = workflow_grid.evalset_measures(grid.config, evalset)
        rows: list[Row] = []
        settings: list[str] = []
        bars: dict[str, dict[str, str]] = {}
        for system in systems:
            if system == "bm25":
                rows.append(Row("BM25", {m: CellRef(evalset, "bm25", m) for m in measures}, section="BM25"))
                continue
            dataset, encoder, stage = cells.parse_model_key(system)
            setting = "zero-shot" if stage is None else f"{dataset} {stage}"
            section = "Zero-shot" if stage is None else f"Fine-tuned on {dataset}, {stage}"
            baseline = _baseline_for(grid, encoder, dataset, stage)
            row_cells: dict[str, CellRef | None] = {m: CellRef(evalset, system, m, baseline) for m in measures}
            rows.append(Row(encoder_label(encoder), row_cells, section=section))
            settings += [setting] if setting not in settings else []
            bars.setdefault(encoder_label(encoder), {})[setting] = system
        sections = list(dict.fromkeys(row.section for row in rows))
        rows.sort(key=lambda row: sections.index(row.section))  # group by section, stable within
        out.append(Table(
            f"demo-{evalset}", f"Demo: every evaluated cell on {evalset}", "demo", measures, rows,
            scale=1.0, digits=4,
        ))
        measure = "nDCG@10" if "nDCG@10" in measures else measures[0]
        reference = ("BM25", "bm25") if "bm25" in systems else None
        out.append(BarFigure(
            f"demo-{evalset}-bars", f"{measure} on {evalset} per pre-training cell", "demo",
            evalset, measure, settings, list(bars.items()), reference,
        ))
    return out
