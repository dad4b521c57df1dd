"""The papers' reference numbers as data, and how each of their rows maps onto our metrics files.

Only rows our workflow reproduces are kept (BM25, and the span / generated-query / mixed / curriculum
cells of the schemas we pre-train); other systems the papers quote (ANCE, Contriever …) are not ours
to compare. Numbers are as printed (×100 except the query-as-context BEIR table, which prints
nDCG@10 in [0, 1]). Where the text of the LLM paper glues a number to its increment over the baseline
("20.9+8.470.2+21.2…"), the values below were split by checking each increment against the baseline.

Figures 3 and 4 of the LLM paper are plots whose values are not in the text: only their baselines
(Table 2 / Table 1, the dashed lines of their captions) are known, and our curves are drawn alone.

A table name (``report.tables`` in the config) builds one or more artifacts; without ``report.tables``
the ``demo`` set reports every cell the config evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import config as qconfig
from ..workflow import cells
from ..workflow import grid as workflow_grid
from .spec import (
    Artifact,
    BarFigure,
    CellRef,
    CurveFigure,
    CurveLine,
    CurvePanel,
    Grid,
    Row,
    Table,
    metrics_path,
)

PAPERS = {
    "qac": "Query-as-context pre-training (Wu et al.)",
    "llm": "LLM-based document expansion pre-training",
    "demo": "Demo grid",
}

# --------------------------------------------------------------------------- columns

# (column label, paper evalset, measure)
MAIN_COLUMNS = [
    ("MS MARCO MRR@10", "msmarco-dev", "MRR@10"),
    ("MS MARCO R@50", "msmarco-dev", "R@50"),
    ("MS MARCO R@1k", "msmarco-dev", "R@1000"),
    ("DL19 nDCG@10", "dl19", "nDCG@10"),
    ("DL20 nDCG@10", "dl20", "nDCG@10"),
]

# (column label, paper evalset, measure, retriever stage) — Tables 3 and 4 of the QAC paper
STAGED_COLUMNS = [
    ("R1 MS MARCO MRR@10", "msmarco-dev", "MRR@10", "retriever1"),
    ("R1 MS MARCO R@50", "msmarco-dev", "R@50", "retriever1"),
    ("R1 MS MARCO R@1k", "msmarco-dev", "R@1000", "retriever1"),
    ("R2 MS MARCO MRR@10", "msmarco-dev", "MRR@10", "retriever2"),
    ("R2 MS MARCO R@50", "msmarco-dev", "R@50", "retriever2"),
    ("R2 MS MARCO R@1k", "msmarco-dev", "R@1000", "retriever2"),
    ("R2 DL19 nDCG@10", "dl19", "nDCG@10", "retriever2"),
    ("R2 DL20 nDCG@10", "dl20", "nDCG@10", "retriever2"),
]

# BEIR dataset ids (as in the BEIR distribution) in the papers' order, and the LLM paper's names.
BEIR = [
    "trec-covid", "nfcorpus", "nq", "hotpotqa", "fiqa", "arguana", "webis-touche2020", "cqadupstack",
    "quora", "dbpedia-entity", "scidocs", "fever", "climate-fever", "scifact",
]
BEIR_LABELS = {
    "trec-covid": "TREC-COVID", "nfcorpus": "NFCorpus", "nq": "NQ", "hotpotqa": "HotpotQA",
    "fiqa": "FiQA-2018", "arguana": "ArguAna", "webis-touche2020": "Touché-2020",
    "cqadupstack": "CQADupStack", "quora": "Quora", "dbpedia-entity": "DBPedia", "scidocs": "SCIDOCS",
    "fever": "FEVER", "climate-fever": "Climate-FEVER", "scifact": "SciFact",
}

# --------------------------------------------------------------------------- query-as-context (Wu et al.)

QAC_SCHEMAS = {"contrastive": "coCondenser (120K)", "cotmae": "CoT-MAE (50K)"}
QAC_GENERATOR = "doct5query"
QAC_COUNT = 5  # the main results use 5 generated queries per passage (Table 3)

# Table 1: (label, schema, context, stage, (MRR@10, R@50, R@1k, DL19 nDCG@10, DL20 nDCG@10))
QAC_TABLE1 = [
    ("BM25", None, "bm25", None, (18.7, 59.2, 85.7, 51.2, 47.7)),
    ("coCondenser (120K) - retriever 1 †", "contrastive", "span", "retriever1", (37.0, 86.0, 98.5, 68.2, 68.8)),
    ("w/ query-as-context (120K) - retriever 1", "contrastive", "query", "retriever1", (37.4, 87.3, 98.6, 68.1, 69.2)),
    ("coCondenser (120K) - retriever 2 †", "contrastive", "span", "retriever2", (38.8, 87.8, 98.8, 71.1, 68.4)),
    ("w/ query-as-context (120K) - retriever 2", "contrastive", "query", "retriever2", (39.4, 88.6, 99.0, 73.1, 71.8)),
    ("CoT-MAE (50K) - retriever 1 †", "cotmae", "span", "retriever1", (37.2, 85.7, 98.2, 65.7, 66.5)),
    ("w/ query-as-context (50K) - retriever 1", "cotmae", "query", "retriever1", (38.6, 87.7, 98.6, 67.7, 67.8)),
    ("CoT-MAE (50K) - retriever 2 †", "cotmae", "span", "retriever2", (38.8, 87.3, 98.6, 70.7, 69.7)),
    ("w/ query-as-context (50K) - retriever 2", "cotmae", "query", "retriever2", (40.2, 88.8, 98.8, 71.5, 72.7)),
]

# Table 2 (BEIR nDCG@10, retriever 2): dataset -> (coCondenser w/o, w/, CoT-MAE w/o, w/).
# The paper prints "fifa" for fiqa and "cquadupstack" for cqadupstack.
QAC_TABLE2 = {
    "trec-covid": (0.632, 0.703, 0.646, 0.665),
    "nfcorpus": (0.333, 0.330, 0.319, 0.340),
    "nq": (0.531, 0.548, 0.513, 0.546),
    "hotpotqa": (0.538, 0.583, 0.512, 0.572),
    "fiqa": (0.319, 0.322, 0.288, 0.326),
    "arguana": (0.389, 0.447, 0.312, 0.416),
    "webis-touche2020": (0.213, 0.204, 0.202, 0.212),
    "cqadupstack": (0.310, 0.341, 0.312, 0.337),
    "quora": (0.866, 0.864, 0.781, 0.859),
    "dbpedia-entity": (0.373, 0.386, 0.355, 0.406),
    "scidocs": (0.133, 0.145, 0.132, 0.151),
    "fever": (0.728, 0.664, 0.707, 0.688),
    "climate-fever": (0.204, 0.199, 0.173, 0.220),
    "scifact": (0.599, 0.648, 0.591, 0.642),
}
QAC_TABLE2_AVERAGE = (0.441, 0.456, 0.417, 0.456)

# Tables 3 and 4 share STAGED_COLUMNS: (R1 MRR@10, R@50, R@1k, R2 MRR@10, R@50, R@1k, DL19, DL20).
QAC_TABLE3 = {  # (schema, query count) -> numbers
    ("contrastive", 1): (37.7, 87.6, 98.6, 39.3, 88.5, 98.9, 72.3, 71.1),
    ("contrastive", 5): (37.4, 87.3, 98.6, 39.4, 88.6, 99.0, 73.1, 71.8),
    ("contrastive", 10): (37.6, 87.0, 98.5, 39.1, 88.5, 98.9, 71.1, 70.9),
    ("contrastive", 20): (37.7, 87.2, 98.6, 39.4, 88.3, 99.0, 71.5, 70.3),
    ("cotmae", 1): (38.3, 87.4, 98.5, 39.9, 88.7, 98.7, 71.7, 70.8),
    ("cotmae", 5): (38.6, 87.7, 98.6, 40.2, 88.8, 98.8, 71.5, 72.7),
    ("cotmae", 10): (38.5, 87.2, 98.6, 39.7, 88.7, 98.8, 72.5, 71.7),
    ("cotmae", 20): (38.3, 87.5, 98.6, 39.7, 88.5, 98.8, 72.2, 69.9),
}
QAC_TABLE4 = {  # (schema, mixed) -> numbers; "not mixed" is the C=5 query-as-context cell
    ("contrastive", False): (37.4, 87.3, 98.6, 39.4, 88.6, 99.0, 73.1, 71.8),
    ("contrastive", True): (37.4, 86.7, 98.4, 39.1, 88.1, 98.8, 71.2, 71.3),
    ("cotmae", False): (38.6, 87.7, 98.6, 40.2, 88.8, 98.8, 71.5, 72.7),
    ("cotmae", True): (36.9, 85.6, 98.1, 38.4, 87.1, 98.5, 72.4, 70.0),
}
# The span baselines of Tables 3/4 are not printed there; these are their Table 1 rows (†).
QAC_SPAN_STAGED = {
    "contrastive": (37.0, 86.0, 98.5, 38.8, 87.8, 98.8, 71.1, 68.4),
    "cotmae": (37.2, 85.7, 98.2, 38.8, 87.3, 98.6, 70.7, 69.7),
}

# --------------------------------------------------------------------------- LLM document expansion

LLM_GENERATORS = [  # (row label, generator role)
    ("+ tk-instruct 3b queries", "tk_instruct_3b"),
    ("+ Alpaca 7b queries", "alpaca_7b"),
    ("+ Alpaca 13b queries", "alpaca_13b"),
]
LLM_SCHEMAS = {"contrastive": "Contrastive Pre-training", "bottleneck": "Bottlenecked Query Generation"}
LLM_DEFAULT_COUNT = 10  # used only to name a cell the config lacks

# Table 1 (zero-shot, contrastive): row -> (MRR@10, R@50, R@1k, DL19 nDCG@10, DL20 nDCG@10)
LLM_TABLE1 = {
    "bm25": (18.7, 59.2, 85.7, 51.2, 47.7),
    "span": (12.5, 49.0, 82.3, 36.0, 38.4),
    "tk_instruct_3b": (20.9, 70.2, 92.8, 47.0, 48.6),
    "alpaca_7b": (22.6, 70.7, 93.8, 51.0, 48.9),
    "alpaca_13b": (22.7, 71.7, 94.3, 53.9, 50.1),
}
# Table 2 (fine-tuned, retriever 2): (schema, row) -> numbers as Table 1
LLM_TABLE2 = {
    ("contrastive", "span"): (38.8, 87.8, 98.8, 71.1, 68.4),
    ("contrastive", "tk_instruct_3b"): (39.6, 88.8, 99.0, 72.9, 71.1),
    ("contrastive", "alpaca_7b"): (40.0, 89.0, 99.1, 72.9, 71.3),
    ("contrastive", "alpaca_13b"): (39.6, 88.8, 98.9, 72.6, 72.3),
    ("bottleneck", "span"): (39.3, 87.9, 98.6, 69.9, 67.4),
    ("bottleneck", "tk_instruct_3b"): (40.3, 88.7, 98.9, 70.7, 70.0),
    ("bottleneck", "alpaca_7b"): (39.9, 88.2, 98.7, 69.6, 70.7),
    ("bottleneck", "alpaca_13b"): (39.7, 88.3, 98.7, 70.8, 69.4),
}
# Table 3 (BEIR nDCG@10 ×100, zero-shot contrastive): dataset -> (BM25, coCondenser †, Contriever †,
# SimCSE †, Baseline, tk 3b, Alpaca 7b, 13b); † = the authors' re-runs of public checkpoints.
LLM_TABLE3 = {
    "trec-covid": (65.6, 21.2, 27.3, 27.5, 16.2, 36.8, 52.3, 54.7),
    "nfcorpus": (32.5, 13.7, 31.7, 10.5, 29.9, 33.1, 30.9, 33.5),
    "nq": (32.9, 10.7, 25.4, 16.3, 9.3, 34.3, 31.8, 31.9),
    "hotpotqa": (60.3, 22.3, 48.1, 23.8, 24.2, 56.2, 51.5, 51.8),
    "fiqa": (23.6, 7.2, 24.5, 9.7, 19.6, 29.8, 27.2, 28.6),
    "arguana": (31.5, 34.4, 37.9, 28.0, 35.8, 44.6, 40.5, 40.6),
    "webis-touche2020": (36.7, 5.8, 16.7, 13.4, 8.1, 16.3, 13.7, 16.9),
    "cqadupstack": (29.9, 10.5, 28.4, 13.5, 18.2, 30.9, 32.4, 33.3),
    "quora": (78.9, 71.3, 83.5, 73.7, 75.8, 83.8, 83.3, 84.3),
    "dbpedia-entity": (31.3, 16.3, 29.2, 16.7, 22.5, 30.2, 28.8, 29.6),
    "scidocs": (15.8, 4.6, 14.9, 6.1, 10.4, 13.6, 13.5, 14.4),
    "fever": (75.3, 16.8, 68.2, 29.2, 43.6, 61.9, 67.2, 73.1),
    "climate-fever": (21.3, 6.4, 15.5, 14.2, 8.5, 18.4, 13.8, 17.2),
    "scifact": (66.5, 43.2, 64.9, 25.0, 52.7, 64.4, 60.8, 60.9),
}
LLM_TABLE3_AVERAGE = (43.0, 20.3, 36.9, 22.0, 26.8, 39.6, 39.1, 40.8)

# The authors' re-run baselines (†) of LLM Tables 1 and 3: public checkpoints evaluated zero-shot, the
# config's `external_encoders` of these names (each with its pooling) -> system zeroshot/ext/<name>.
LLM_EXTERNAL_BASELINES = [  # (label, external encoder name, Table 1 numbers as LLM_TABLE1)
    ("SimCSE †", "simcse", (8.7, 33.7, 64.6, 24.5, 17.9)),
    ("coCondenser †", "cocondenser", (7.5, 31.3, 58.1, 22.1, 20.7)),
    ("Contriever †", "contriever", (16.8, 60.8, 89.1, 44.5, 43.2)),
]
LLM_TABLE3_EXTERNAL = [("coCondenser", "cocondenser"), ("Contriever", "contriever"), ("SimCSE", "simcse")]

# --------------------------------------------------------------------------- builders


def _pt_cell(grid: Grid, schema: str, context: str, stage: str | None, evalset: str, measure: str) -> CellRef:
    system = grid.pt_system(schema, context, stage)
    baseline = grid.baseline_system(schema, stage)
    return CellRef(grid.evalset(evalset), system, measure, None if baseline == system else baseline)


def _main_row(
    grid: Grid, label: str, schema: str | None, context: str, stage: str | None,
    paper: tuple[float, ...] | None, section: str = "",
) -> Row:
    cells: dict[str, CellRef | None] = {}
    for col, evalset, measure in MAIN_COLUMNS:
        if context == "bm25":
            cells[col] = CellRef(grid.evalset(evalset), "bm25", measure)
        else:
            cells[col] = _pt_cell(grid, schema, context, stage, evalset, measure)
    values = dict(zip([c[0] for c in MAIN_COLUMNS], paper, strict=True)) if paper else {}
    return Row(label, cells, values, section)


def _qac_context(grid: Grid, schema: str, kind: str, count: int = QAC_COUNT) -> str:
    if kind == "span":
        return grid.context(schema, "span")
    return grid.context(schema, kind, grid.generator(QAC_GENERATOR), count, QAC_COUNT)


def qac_table1(grid: Grid) -> list[Artifact]:
    rows = []
    for label, schema, kind, stage, paper in QAC_TABLE1:
        context = "bm25" if kind == "bm25" else _qac_context(grid, schema, kind)
        rows.append(_main_row(grid, label, schema, context, stage, paper))
    return [Table(
        "qac-table1", "QAC Table 1: MS MARCO passage dev and TREC DL 19/20 (fine-tuned)", "qac",
        [c[0] for c in MAIN_COLUMNS], rows,
        notes=[f"w/ query-as-context: {grid.generator(QAC_GENERATOR)} queries, C={QAC_COUNT}."],
    )]


def _staged_row(grid: Grid, label: str, schema: str, context: str, paper: tuple[float, ...] | None, section: str) -> Row:
    cells: dict[str, CellRef | None] = {
        col: _pt_cell(grid, schema, context, stage, evalset, measure)
        for col, evalset, measure, stage in STAGED_COLUMNS
    }
    values = dict(zip([c[0] for c in STAGED_COLUMNS], paper, strict=True)) if paper else {}
    return Row(label, cells, values, section)


def qac_table2(grid: Grid) -> list[Artifact]:
    columns = ["coCondenser w/o", "coCondenser w/", "CoT-MAE w/o", "CoT-MAE w/"]
    systems = [(schema, kind) for schema in ("contrastive", "cotmae") for kind in ("span", "query")]
    beir = grid.beir_dataset()
    rows = []
    for dataset, paper in QAC_TABLE2.items():
        cells: dict[str, CellRef | None] = {}
        for col, (schema, kind) in zip(columns, systems, strict=True):
            context = _qac_context(grid, schema, kind)
            if beir is None:  # a config without the BEIR retriever: the Tevatron retriever 2 stands in
                cells[col] = _pt_cell(grid, schema, context, "retriever2", dataset, "nDCG@10")
                continue
            system = f"{beir}/{grid.encoder(schema, context)}/retriever1"
            baseline = f"{beir}/{grid.encoder(schema, grid.baseline_context)}/retriever1"
            cells[col] = CellRef(grid.evalset(dataset), system, "nDCG@10", None if baseline == system else baseline)
        rows.append(Row(dataset, cells, dict(zip(columns, paper, strict=True))))
    rows.append(Row("Average", dict.fromkeys(columns), dict(zip(columns, QAC_TABLE2_AVERAGE, strict=True)), average=True))
    return [Table(
        "qac-table2", "QAC Table 2: BEIR nDCG@10 (the BEIR retriever, trained on MS MARCO hard negatives)",
        "qac", columns, rows,
        scale=1.0, digits=3,
        notes=["Our average is the mean over the 14 datasets, shown only when all 14 are present.",
               "The paper prints 'fifa' (fiqa) and 'cquadupstack' (cqadupstack).",
               f"Retriever: {'fine-tuning dataset ' + beir + ' (retriever1)' if beir else 'retriever 2 (no BEIR retriever in this config)'}."],
    )]


def qac_table3(grid: Grid) -> list[Artifact]:
    gen = grid.generator(QAC_GENERATOR)
    rows = []
    for schema, name in QAC_SCHEMAS.items():
        rows.append(_staged_row(grid, "span (baseline, paper Table 1)", schema, _qac_context(grid, schema, "span"),
                                QAC_SPAN_STAGED[schema], name))
        for (s, count), paper in QAC_TABLE3.items():
            if s == schema:
                rows.append(_staged_row(grid, f"{count} quer{'y' if count == 1 else 'ies'}", schema, _qac_context(grid, schema, "query", count), paper, name))
    return [Table(
        "qac-table3", "QAC Table 3: number of generated queries per passage", "qac",
        [c[0] for c in STAGED_COLUMNS], rows,
        notes=[f"Queries from {gen}. R1/R2: retriever 1/2; DL columns use retriever 2."],
    )]


def qac_table4(grid: Grid) -> list[Artifact]:
    rows = []
    for schema, name in QAC_SCHEMAS.items():
        rows.append(_staged_row(grid, "span (baseline, paper Table 1)", schema, _qac_context(grid, schema, "span"),
                                QAC_SPAN_STAGED[schema], name))
        for mixed in (False, True):
            kind = "mixed" if mixed else "query"
            label = "mixed ✓ (50% query / 50% span)" if mixed else "mixed ✗ (query only)"
            rows.append(_staged_row(grid, label, schema, _qac_context(grid, schema, kind), QAC_TABLE4[(schema, mixed)], name))
    return [Table(
        "qac-table4", "QAC Table 4: mixing passage-query and passage-passage pairs", "qac",
        [c[0] for c in STAGED_COLUMNS], rows,
        notes=[f"C={QAC_COUNT} queries from {grid.generator(QAC_GENERATOR)}. R1/R2: retriever 1/2; DL columns use retriever 2."],
    )]


def _llm_context(grid: Grid, schema: str, role: str) -> str:
    if role == "span":
        return grid.context(schema, "span")
    return grid.context(schema, "query", grid.generator(role), None, LLM_DEFAULT_COUNT)


def _external_row(grid: Grid, label: str, name: str, paper: tuple[float, ...]) -> Row:
    cells: dict[str, CellRef | None] = {
        col: CellRef(grid.evalset(evalset), f"zeroshot/ext/{name}", measure) for col, evalset, measure in MAIN_COLUMNS
    }
    return Row(label, cells, dict(zip([c[0] for c in MAIN_COLUMNS], paper, strict=True)))


def llm_table1(grid: Grid) -> list[Artifact]:
    rows = [_main_row(grid, "BM25", None, "bm25", None, LLM_TABLE1["bm25"])]
    rows += [_external_row(grid, label, name, paper) for label, name, paper in LLM_EXTERNAL_BASELINES]
    section = LLM_SCHEMAS["contrastive"]
    rows.append(_main_row(grid, "Baseline", "contrastive", _llm_context(grid, "contrastive", "span"), None, LLM_TABLE1["span"], section))
    for label, role in LLM_GENERATORS:
        rows.append(_main_row(grid, label, "contrastive", _llm_context(grid, "contrastive", role), None, LLM_TABLE1[role], section))
    return [Table(
        "llm-table1", "LLM Table 1: zero-shot contrastive pre-training (no fine-tuning)", "llm",
        [c[0] for c in MAIN_COLUMNS], rows, notes=_llm_generator_note(grid),
    )]


# LLM Table 2's fine-tuned baselines that are (partly) the authors' re-runs (†): the external
# encoders fine-tuned by the same pipeline (retriever 2). (label, external encoder, numbers)
LLM_TABLE2_EXTERNAL = [
    ("Contriever †", "contriever", (33.4, 85.0, 98.4, 62.8, 63.2)),
    ("coCondenser (R@50, DL †)", "cocondenser", (38.2, 86.5, 98.4, 71.7, 68.4)),
]


def llm_table2(grid: Grid) -> list[Artifact]:
    rows = []
    for label, name, paper in LLM_TABLE2_EXTERNAL:
        cells: dict[str, CellRef | None] = {
            col: CellRef(grid.evalset(evalset), grid.system(f"ext/{name}", "retriever2"), measure)
            for col, evalset, measure in MAIN_COLUMNS
        }
        rows.append(Row(label, cells, dict(zip([c[0] for c in MAIN_COLUMNS], paper, strict=True))))
    for schema, section in LLM_SCHEMAS.items():
        rows.append(_main_row(grid, "Baseline", schema, _llm_context(grid, schema, "span"), "retriever2",
                              LLM_TABLE2[(schema, "span")], section))
        for label, role in LLM_GENERATORS:
            rows.append(_main_row(grid, label, schema, _llm_context(grid, schema, role), "retriever2",
                                  LLM_TABLE2[(schema, role)], section))
    return [Table(
        "llm-table2", "LLM Table 2: fine-tuned on MS MARCO (retriever 2)", "llm",
        [c[0] for c in MAIN_COLUMNS], rows, notes=_llm_generator_note(grid),
    )]


def llm_table3(grid: Grid) -> list[Artifact]:
    external = [label for label, _ in LLM_TABLE3_EXTERNAL]
    ours = ["Baseline"] + [label.removeprefix("+ ").removesuffix(" queries") for label, _ in LLM_GENERATORS]
    columns = ["BM25", *external, *ours]
    roles = ["span"] + [role for _, role in LLM_GENERATORS]
    rows = []
    for dataset, paper in LLM_TABLE3.items():
        cells: dict[str, CellRef | None] = {"BM25": CellRef(grid.evalset(dataset), "bm25", "nDCG@10")}
        for col, name in LLM_TABLE3_EXTERNAL:
            cells[col] = CellRef(grid.evalset(dataset), f"zeroshot/ext/{name}", "nDCG@10")
        for col, role in zip(ours, roles, strict=True):
            cells[col] = _pt_cell(grid, "contrastive", _llm_context(grid, "contrastive", role), None, dataset, "nDCG@10")
        rows.append(Row(BEIR_LABELS[dataset], cells, dict(zip(columns, paper, strict=True))))
    rows.append(Row("Average", dict.fromkeys(columns), dict(zip(columns, LLM_TABLE3_AVERAGE, strict=True)), average=True))
    return [Table(
        "llm-table3", "LLM Table 3: BEIR nDCG@10, zero-shot contrastive pre-training", "llm", columns, rows,
        notes=["Our average is the mean over the 14 datasets, shown only when all 14 are present.",
               *_llm_generator_note(grid)],
    )]


def _llm_generator_note(grid: Grid) -> list[str]:
    names = ", ".join(f"{label.removeprefix('+ ').removesuffix(' queries')} = {grid.generator(role)}"
                      for label, role in LLM_GENERATORS)
    return [f"Generators of this config: {names}."]


def _curriculum_figure(
    grid: Grid, name: str, title: str, schema: str, stage: str | None,
    paper_baselines: tuple[float, float], source: str,
) -> CurveFigure:
    panels = [
        CurvePanel("MS MARCO dev MRR@10", grid.evalset("msmarco-dev"), "MRR@10", paper_baselines[0]),
        CurvePanel("TREC DL 20 nDCG@10", grid.evalset("dl20"), "nDCG@10", paper_baselines[1]),
    ]
    lines = [
        CurveLine(label, [(amount, grid.pt_system(schema, tag, stage)) for amount, tag in points])
        for label, points in grid.curricula(schema)
    ]
    return CurveFigure(
        name, title, "llm", panels, lines, grid.baseline_system(schema, stage), source,
        notes=["The paper's curve values are not given in its text (only the plot), so only ours are drawn; "
               f"the dashed grey line is the {source}, the dashed coloured line our span baseline."],
    )


def llm_figure3(grid: Grid) -> list[Artifact]:
    base = LLM_TABLE2[("bottleneck", "span")]
    return [_curriculum_figure(
        grid, "llm-figure3", "LLM Figure 3: curriculum, fine-tuned bottlenecked query generation",
        "bottleneck", "retriever2", (base[0], base[4]), "paper Table 2 baseline",
    )]


def llm_figure4(grid: Grid) -> list[Artifact]:
    base = LLM_TABLE1["span"]
    return [_curriculum_figure(
        grid, "llm-figure4", "LLM Figure 4: curriculum, zero-shot contrastive pre-training",
        "contrastive", None, (base[0], base[4]), "paper Table 1 baseline",
    )]


# --------------------------------------------------------------------------- the demo set

SCHEMA_LABELS = {"contrastive": "contrastive", "cotmae": "CoT-MAE", "bottleneck": "bottleneck"}


def encoder_label(encoder: str) -> str:
    if encoder == "base":
        return "base (no pre-training)"
    parsed = cells.parse_encoder(encoder)
    if parsed.kind == "ext":
        return f"{parsed.name} (external)"
    return f"{SCHEMA_LABELS.get(parsed.schema, parsed.schema)} · {parsed.context}"


def _baseline_for(grid: Grid, encoder: str, dataset: str, stage: str | None) -> str | None:
    return cells.counterpart(cells.model_key(dataset, encoder, stage).key, grid.baseline_context)


def demo_set(grid: Grid) -> list[Artifact]:
    """Per evalset: every cell the config evaluates (BM25, zero-shot, fine-tuned per dataset and
    stage) as a table, and the main measure per encoder and setting as a bar plot."""
    by_evalset: dict[str, list[str]] = {}
    for path in grid.targets:
        evalset, system = workflow_grid.parse_metrics_path(grid.results, path)
        by_evalset.setdefault(evalset, []).append(system)
    out: list[Artifact] = []
    for evalset, systems in by_evalset.items():
        measures = qconfig.evalset_measures(grid.config, evalset)
        rows: list[Row] = []
        settings: list[str] = []
        bars: dict[str, dict[str, str]] = {}
        for system in systems:
            if system == "bm25":
                rows.append(Row("BM25", {m: CellRef(evalset, "bm25", m) for m in measures}, section="BM25"))
                continue
            dataset, encoder, stage = qconfig.parse_model_key(system)
            setting = "zero-shot" if stage is None else f"{dataset} {stage}"
            section = "Zero-shot" if stage is None else f"Fine-tuned on {dataset}, {stage}"
            baseline = _baseline_for(grid, encoder, dataset, stage)
            cells: dict[str, CellRef | None] = {m: CellRef(evalset, system, m, baseline) for m in measures}
            rows.append(Row(encoder_label(encoder), cells, section=section))
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


TABLE_SETS: dict[str, Callable[[Grid], list[Artifact]]] = {
    "qac-table1": qac_table1,
    "qac-table2": qac_table2,
    "qac-table3": qac_table3,
    "qac-table4": qac_table4,
    "llm-table1": llm_table1,
    "llm-table2": llm_table2,
    "llm-table3": llm_table3,
    "llm-figure3": llm_figure3,
    "llm-figure4": llm_figure4,
    "demo": demo_set,
}

# --------------------------------------------------------------------------- what a config reports


def table_names(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """``names``, else the config's ``report.tables``, else the demo set; unknown names fail."""
    chosen = list(names or config.get("report", {}).get("tables") or ["demo"])
    for name in chosen:
        if name not in TABLE_SETS:
            raise ValueError(f"report.tables: unknown table {name!r} (known: {', '.join(TABLE_SETS)})")
    return chosen


def artifacts(config: dict[str, Any], names: list[str] | None = None) -> list[Artifact]:
    grid = Grid(config)
    return [a for name in table_names(config, names) for a in TABLE_SETS[name](grid)]


def output_files(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """File names (relative to the report folder) the report writes: known when the DAG is built."""
    return [f for a in artifacts(config, names) for f in a.files()] + ["index.md"]


def needed_metrics(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """Every metrics file the chosen tables read (cells and their t-test baselines)."""
    results = config["results"]
    paths: list[str] = []
    for artifact in artifacts(config, names):
        for ref in artifact.refs():
            paths.append(ref.path(results))
            if ref.baseline:
                paths.append(metrics_path(results, ref.evalset, ref.baseline))
    return list(dict.fromkeys(paths))


def metrics_inputs(config: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """The metrics files the tables need that the config also builds (the report rule's inputs)."""
    needed = set(needed_metrics(config, names))
    return [p for p in qconfig.metrics_targets(config) if p in needed]


def report_entries(config: dict[str, Any], names: list[str] | None = None) -> list[dict[str, str]]:
    """Per output file: the artifact it belongs to, its title and paper (for ``snakemake --report``)."""
    out = []
    for artifact in artifacts(config, names):
        kind = "table" if isinstance(artifact, Table) else "figure"
        for name in artifact.files():
            out.append({"file": name, "artifact": artifact.name, "title": artifact.title,
                        "paper": PAPERS[artifact.paper], "kind": kind})
    return out
