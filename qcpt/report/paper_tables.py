"""The papers' tables: how each row of theirs maps onto our metrics files, beside their numbers.

The numbers, row labels and the papers' names for their schemas and datasets are data, as printed:
``papers/qac.yaml`` (query-as-context, Wu et al.) and ``papers/llm.yaml`` (LLM document expansion),
read once at import; every list of numbers is checked against its table's columns there. Only rows
our workflow reproduces are kept (BM25, and the span / generated-query / mixed / curriculum cells of
the schemas we pre-train); other systems the papers quote (ANCE, Contriever …) are not ours to
compare, except the public checkpoints the LLM paper re-runs (†), which the config names as external
encoders.

Figures 3 and 4 of the LLM paper are plots whose values are not in the text: only their baselines
(Table 2 / Table 1, the dashed lines of their captions) are known, and our curves are drawn alone.
"""

from __future__ import annotations

from importlib import resources
from numbers import Real
from typing import Any

import yaml

from ..workflow import cells as cell_names
from .spec import (
    Artifact,
    CellRef,
    CurveFigure,
    CurveLine,
    CurvePanel,
    Grid,
    Row,
    Table,
    check_role,
)

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
QAC_TABLE2_COLUMNS = ["coCondenser w/o", "coCondenser w/", "CoT-MAE w/o", "CoT-MAE w/"]

# --------------------------------------------------------------------------- the papers' numbers


class PaperData:
    """One paper's ``papers/<name>.yaml``; a missing key or a list of numbers of the wrong length
    fails naming the file and the key."""

    def __init__(self, file: str, data: Any):
        self.file, self.data = file, data

    @classmethod
    def load(cls, name: str) -> PaperData:
        path = f"report/papers/{name}.yaml"
        return cls(f"qcpt/{path}", yaml.safe_load(resources.files("qcpt").joinpath(path).read_text(encoding="utf-8")))

    def get(self, *keys: str | int) -> Any:
        value = self.data
        for i, key in enumerate(keys):
            found = (key in value if isinstance(value, dict)
                     else isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value))
            if not found:
                raise ValueError(f"{self.file}: no {'.'.join(map(str, keys[:i + 1]))}")
            value = value[key]
        return value

    def numbers(self, width: int, *keys: str | int) -> tuple[float, ...]:
        """The list of numbers at ``keys``, one per column of its table (``width``), as floats."""
        value = self.get(*keys)
        if (not isinstance(value, list) or len(value) != width
                or not all(isinstance(v, Real) and not isinstance(v, bool) for v in value)):
            raise ValueError(f"{self.file}: {'.'.join(map(str, keys))} must be a list of {width} numbers, got {value!r}")
        return tuple(float(v) for v in value)


_qac, _llm = PaperData.load("qac"), PaperData.load("llm")
_MAIN, _STAGED = len(MAIN_COLUMNS), len(STAGED_COLUMNS)

QAC_TITLE: str = _qac.get("title")
QAC_SCHEMAS: dict[str, str] = _qac.get("schemas")  # schema -> the paper's name (section header)
QAC_GENERATOR: str = check_role(_qac.get("generator"), f"{_qac.file}: generator")
QAC_COUNT: int = _qac.get("count")  # the main results use 5 generated queries per passage (Table 3)
# Table 1: (label, schema, context, stage, numbers per MAIN_COLUMNS)
QAC_TABLE1 = [
    (_qac.get("table1", i, "label"), row.get("schema"), _qac.get("table1", i, "context"), row.get("stage"),
     _qac.numbers(_MAIN, "table1", i, "numbers"))
    for i, row in enumerate(_qac.get("table1"))
]
# Table 2 (BEIR nDCG@10, the BEIR retriever: msmarco-beir/<encoder>/retriever1): dataset -> numbers per QAC_TABLE2_COLUMNS
QAC_TABLE2 = {d: _qac.numbers(len(QAC_TABLE2_COLUMNS), "table2", "rows", d) for d in _qac.get("table2", "rows")}
QAC_TABLE2_AVERAGE = _qac.numbers(len(QAC_TABLE2_COLUMNS), "table2", "average")
# Tables 3 and 4 (numbers per STAGED_COLUMNS): (schema, query count) and (schema, mixed)
QAC_TABLE3 = {(s, count): _qac.numbers(_STAGED, "table3", s, count) for s in _qac.get("table3") for count in _qac.get("table3", s)}
QAC_TABLE4 = {(s, mixed): _qac.numbers(_STAGED, "table4", s, "mixed" if mixed else "query")
              for s in _qac.get("table4") for mixed in (False, True)}
QAC_SPAN_STAGED = {s: _qac.numbers(_STAGED, "span_staged", s) for s in _qac.get("span_staged")}

LLM_TITLE: str = _llm.get("title")
LLM_GENERATORS = [(_llm.get("generators", i, "label"),  # (row label, role)
                   check_role(_llm.get("generators", i, "role"), f"{_llm.file}: generators.{i}.role"))
                  for i in range(len(_llm.get("generators")))]
LLM_SCHEMAS: dict[str, str] = _llm.get("schemas")
LLM_DEFAULT_COUNT: int = _llm.get("count")  # used only to name a cell the config lacks
# Tables 1 (zero-shot, contrastive) and 2 (fine-tuned, retriever 2), numbers per MAIN_COLUMNS:
# row (bm25, span or a generator role) and (schema, row); the external encoders' rows (label, encoder, numbers)
LLM_TABLE1 = {row: _llm.numbers(_MAIN, "table1", row) for row in _llm.get("table1")}
LLM_EXTERNAL_BASELINES = [
    (_llm.get("table1_external", i, "label"), _llm.get("table1_external", i, "encoder"),
     _llm.numbers(_MAIN, "table1_external", i, "numbers"))
    for i in range(len(_llm.get("table1_external")))
]
LLM_TABLE2 = {(s, row): _llm.numbers(_MAIN, "table2", s, row) for s in _llm.get("table2") for row in _llm.get("table2", s)}
LLM_TABLE2_EXTERNAL = [
    (_llm.get("table2_external", i, "label"), _llm.get("table2_external", i, "encoder"),
     _llm.numbers(_MAIN, "table2_external", i, "numbers"))
    for i in range(len(_llm.get("table2_external")))
]
# Table 3 (BEIR nDCG@10): columns BM25, the external encoders (label, encoder), Baseline, the generators
LLM_TABLE3_EXTERNAL = [(_llm.get("table3", "external", i, "label"), _llm.get("table3", "external", i, "encoder"))
                       for i in range(len(_llm.get("table3", "external")))]
_LLM_TABLE3_WIDTH = 2 + len(LLM_TABLE3_EXTERNAL) + len(LLM_GENERATORS)
LLM_TABLE3 = {d: _llm.numbers(_LLM_TABLE3_WIDTH, "table3", "rows", d, "numbers") for d in _llm.get("table3", "rows")}
LLM_TABLE3_AVERAGE = _llm.numbers(_LLM_TABLE3_WIDTH, "table3", "average")
BEIR_LABELS = {d: _llm.get("table3", "rows", d, "label") for d in LLM_TABLE3}  # the LLM paper's dataset names

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
    columns = list(QAC_TABLE2_COLUMNS)
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
            system = cell_names.model_key(beir, grid.encoder(schema, context), "retriever1").key
            baseline = cell_names.model_key(beir, grid.encoder(schema, grid.baseline_context), "retriever1").key
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
        col: CellRef(grid.evalset(evalset), cell_names.model_key(cell_names.ZEROSHOT, cell_names.external(name)).key, measure) for col, evalset, measure in MAIN_COLUMNS
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
            cells[col] = CellRef(grid.evalset(dataset), cell_names.model_key(cell_names.ZEROSHOT, cell_names.external(name)).key, "nDCG@10")
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
