"""What a report artifact is made of, and how a paper's row finds our cell under a config.

A table is rows × columns of cells; each cell names one number of ours (an evalset, a system — ``bm25``
or a model key — and a measure, i.e. one metrics file and one key in it) beside the paper's number.
Cells carry the system they are t-tested against (the span-context baseline of the same schema and
stage). :class:`Grid` resolves the papers' vocabulary (coCondenser, docT5query, Alpaca 13b, MS MARCO
dev …) onto a config's names, so the same table works for the paper presets and scaled-down copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from ..workflow import cells
from ..workflow import grid as workflow_grid


@dataclass(frozen=True)
class CellRef:
    """One number of ours: ``measure`` in ``{results}/eval/{evalset}/{system}/metrics.json``."""

    evalset: str
    system: str  # "bm25" or a model key
    measure: str
    baseline: str | None = None  # the system this cell is t-tested against (same evalset, measure)

    def path(self, results: str) -> str:
        return metrics_path(results, self.evalset, self.system)

    def baseline_ref(self) -> CellRef | None:
        return CellRef(self.evalset, self.baseline, self.measure) if self.baseline else None


def metrics_path(results: str, evalset: str, system: str) -> str:
    return workflow_grid.metrics_path(results, f"{evalset}/{system}")


@dataclass
class Row:
    label: str
    cells: dict[str, CellRef | None]  # column -> our cell (None: the workflow has no such cell)
    paper: dict[str, float | None] = field(default_factory=dict)
    section: str = ""
    average: bool = False  # ours is the mean of the table's other rows (BEIR "Average")


@dataclass
class Table:
    name: str
    title: str
    paper: str  # key of PAPERS
    columns: list[str]
    rows: list[Row]
    scale: float = 100.0  # ours (in [0, 1]) times scale is on the paper's scale
    digits: int = 1
    notes: list[str] = field(default_factory=list)

    def refs(self) -> list[CellRef]:
        return [ref for row in self.rows for ref in row.cells.values() if ref is not None]

    @property
    def has_paper(self) -> bool:
        return any(v is not None for row in self.rows for v in row.paper.values())

    def files(self) -> list[str]:
        return [f"{self.name}.md", f"{self.name}.csv"]


@dataclass
class CurvePanel:
    label: str  # "MS MARCO dev MRR@10"
    evalset: str
    measure: str
    paper_baseline: float | None  # on the table's scale (the dashed line the paper's caption names)


@dataclass
class CurveLine:
    label: str
    points: list[tuple[int, str]]  # (amount of passages with generated queries, system)


@dataclass
class CurveFigure:
    """Metric against the amount of query-expanded passages (log x), one panel per evalset."""

    name: str
    title: str
    paper: str
    panels: list[CurvePanel]
    lines: list[CurveLine]
    baseline_system: str | None  # our span baseline (dashed)
    paper_baseline_source: str  # e.g. "paper Table 2 baseline"
    scale: float = 100.0
    digits: int = 1
    notes: list[str] = field(default_factory=list)

    def refs(self) -> list[CellRef]:
        out = []
        for panel in self.panels:
            systems = [s for line in self.lines for _, s in line.points]
            systems += [self.baseline_system] if self.baseline_system else []
            out += [CellRef(panel.evalset, s, panel.measure) for s in systems]
        return out

    def files(self) -> list[str]:
        return [f"{self.name}.png", f"{self.name}.md", f"{self.name}.csv"]


@dataclass
class BarFigure:
    """One measure per encoder, one bar per setting (zero-shot, fine-tuned retriever 1/2)."""

    name: str
    title: str
    paper: str
    evalset: str
    measure: str
    settings: list[str]
    bars: list[tuple[str, dict[str, str]]]  # (encoder label, {setting: system})
    reference: tuple[str, str] | None = None  # (label, system), drawn as a vertical line (BM25)
    scale: float = 1.0

    def refs(self) -> list[CellRef]:
        systems = [s for _, by_setting in self.bars for s in by_setting.values()]
        systems += [self.reference[1]] if self.reference else []
        return [CellRef(self.evalset, s, self.measure) for s in systems]

    def files(self) -> list[str]:
        return [f"{self.name}.png"]


Artifact = Table | CurveFigure | BarFigure


# --------------------------------------------------------------------------- the config's names


def _norm(name: str) -> str:
    name = name.lower()
    name = re.sub(r"^beir[-_]", "", name)
    name = re.sub(r"[-_](test|dev-subset)$", "", name)
    return re.sub(r"[^a-z0-9]", "", name)


EVALSET_ALIASES = {
    "msmarco-dev": ["msmarcodev", "msmarcopassagedev", "marcodev", "dev", "msmarcodevsubset"],
    "dl19": ["dl19", "trecdl19", "dl2019", "dl19passage", "trecdl2019"],
    "dl20": ["dl20", "trecdl20", "dl2020", "dl20passage", "trecdl2020"],
}

ROLES_FILE = "qcpt/report/papers/roles.yaml"


def _load_roles() -> dict[str, tuple[str, ...]]:
    """``papers/roles.yaml``: each generator role of the papers' tables and claims -> the generator
    names that play it by default."""
    data = yaml.safe_load(resources.files("qcpt").joinpath("report/papers/roles.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(names, list) and names and all(isinstance(n, str) for n in names) for names in data.values()
    ):
        raise ValueError(f"{ROLES_FILE}: must map each role to a list of generator names")
    return {str(role): tuple(names) for role, names in data.items()}


GENERATOR_ROLES: dict[str, tuple[str, ...]] = _load_roles()


def check_role(role: str, where: str) -> str:
    """``role`` if ``papers/roles.yaml`` declares it; else an error naming ``where`` and that file."""
    if role not in GENERATOR_ROLES:
        raise ValueError(f"{where}: generator role {role!r} is not declared in {ROLES_FILE} "
                         f"(known: {', '.join(GENERATOR_ROLES)})")
    return role


class Grid:
    """A config seen from the report: its names for the papers' evalsets, generators and cells."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.results: str = config["results"]
        self.corpus: str = config["corpus"]["name"]
        self.num_passages: int = int(config["corpus"]["num_passages"])
        # the cells as the papers name them: seed replicates are one cell (see replicates)
        self.cells = list(dict.fromkeys((s, c.with_seed(None)) for s, c in workflow_grid.pretrain_cells(config)))
        self.targets = workflow_grid.metrics_targets(config)
        self.baseline_context: str = config.get("report", {}).get("baseline", "span")
        cells.parse_context(self.baseline_context)  # a bad tag fails here, naming it
        self.roles: dict[str, str] = dict(config.get("report", {}).get("roles", {}))
        for role, name in self.roles.items():
            check_role(role, f"report.roles.{role}")
            if name not in config["generators"]:
                raise ValueError(f"report.roles.{role}: {name!r} is not a generator of this config")

    # ---- names

    def evalset(self, canonical: str) -> str:
        """The config's evalset for a paper's (``msmarco-dev``, ``dl19``, ``trec-covid`` …), else
        ``canonical`` itself (the cell is then reported missing)."""
        evalsets = self.config["evalsets"]
        if canonical in evalsets:
            return canonical
        wanted = {_norm(canonical), *EVALSET_ALIASES.get(canonical, [])}
        for name in evalsets:
            if _norm(name) in wanted:
                return name
        return canonical

    def generator(self, role: str) -> str:
        """The config's generator playing a paper's role: the one ``report.roles`` names, else of the
        names ``papers/roles.yaml`` lists for the role, the first the grid uses, then the first the
        config declares. Falls back to the role's own name (cells then do not exist and are reported
        missing)."""
        check_role(role, "the report's tables")
        if role in self.roles:
            return self.roles[role]
        used = [c.generator for _, c in self.cells if c.generator]
        names = list(dict.fromkeys([*used, *self.config["generators"]]))
        return next((name for name in names if name in GENERATOR_ROLES[role]), role)

    def dataset(self) -> str:
        """The fine-tuning dataset of the papers' tables (MS MARCO): ``msmarco`` when present."""
        names = list(self.config["finetune"]["datasets"])
        return "msmarco" if "msmarco" in names else (names[0] if names else "msmarco")

    def beir_dataset(self) -> str | None:
        """The fine-tuning dataset of QAC Table 2's BEIR retriever: the one trained on
        sentence-transformers' hard negatives (``hard_negatives``), if the config has one."""
        return next((name for name, spec in self.config["finetune"]["datasets"].items()
                     if spec.get("hard_negatives")), None)

    def context(
        self, schema: str, kind: str, generator: str | None = None, count: int | None = None,
        default_count: int = 5,
    ) -> str:
        """The tag of a grid cell: the baseline (``kind="span"``), or a query/mixed context of
        ``generator`` with ``count`` queries (any count when None) on all passages — or the largest
        amount the config has, for scaled-down configs."""
        if kind == "span":
            return self.baseline_context
        found = [
            ctx for s, ctx in self.cells
            if s == schema and ctx.kind == kind and ctx.generator == generator
            and (count is None or ctx.count == count)
        ]
        if found:
            best = max(found, key=lambda c: float("inf") if c.amount == "all" else int(c.amount))
            return best.tag
        return cells.Context(kind, generator, count or default_count, "all").tag

    def curricula(self, schema: str) -> list[tuple[str, list[tuple[int, str]]]]:
        """Curriculum cells of a schema: one line per (generator, count, fraction), points
        ``(amount, context tag)`` sorted by amount (``all`` is the corpus' passage count)."""
        lines: dict[tuple, list[tuple[int, str]]] = {}
        for s, ctx in self.cells:
            if s == schema and ctx.kind == "curriculum":
                amount = self.num_passages if ctx.amount == "all" else int(ctx.amount)
                lines.setdefault((ctx.generator, ctx.count, ctx.fraction), []).append((amount, ctx.tag))
        out = []
        for (gen, count, frac), points in lines.items():
            out.append((f"{gen}, C={count}, stage 1 = {frac:.0%} of steps", sorted(points)))
        return out

    # ---- systems

    def encoder(self, schema: str, context: str) -> str:
        return cells.pretrained(self.corpus, schema, context).tag

    def system(self, encoder: str, stage: str | None) -> str:
        """A model key: ``zeroshot/<encoder>`` (stage None) or ``<dataset>/<encoder>/<stage>``."""
        return cells.model_key(cells.ZEROSHOT if stage is None else self.dataset(), encoder, stage).key

    def pt_system(self, schema: str, context: str, stage: str | None) -> str:
        return self.system(self.encoder(schema, context), stage)

    def replicates(self, system: str) -> list[str]:
        """The systems of ``system``'s seed replicates in the config, by seed (``[system]`` if none)."""
        return workflow_grid.seed_replicates(self.config, system)

    def baseline_system(self, schema: str, stage: str | None) -> str:
        return self.pt_system(schema, self.baseline_context, stage)
