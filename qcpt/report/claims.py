"""The papers' claims as data (``papers/claims-<paper>.yaml``) and the two cells each compares
under a config.

A claim is one comparison the paper's text states: ``ours`` against ``baseline`` (two pre-trained
cells) on one measure and eval set, with the paper's two numbers ``[baseline, ours]`` and so the
paper's Δ and its sign (``direction`` where a number is not printed). A demo claim names a paper
claim (``like``) and takes its numbers. Each side is found under a config by the report's
:class:`~.spec.Grid` (the papers' vocabulary: generator roles, canonical eval sets, the largest
amount a scaled-down config has), and named with :mod:`qcpt.workflow.cells`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from numbers import Real
from typing import Any

import yaml

from ..pretrain.contexts import registry as context_registry
from ..workflow import cells
from .spec import GENERATOR_ROLES, CellRef, Grid

CLAIM_SETS = ("qac", "llm", "demo")  # papers/claims-<name>.yaml, in the verdict table's order
_KEYS = {"id", "source", "text", "evalset", "measure", "ours", "baseline", "paper", "direction", "like"}
_SIDE_KEYS = {"schema", "context", "generator", "count", "amount", "fraction", "stage"}


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str  # the claim set (qac, llm, demo)
    source: str  # "Table 1", "Figure 3", or the paper claim a demo claim mirrors
    text: str
    evalset: str  # the paper's name (msmarco-dev, dl19 ...) or the config's
    measure: str
    ours: dict[str, Any]
    baseline: dict[str, Any]
    numbers: tuple[float | None, float | None]  # the paper's [baseline, ours], on its scale (x100)
    direction: int  # the claimed sign of ours - baseline: +1 or -1
    defaults: dict[str, Any] = field(default_factory=dict, compare=False)
    scale: float = 100.0

    @property
    def paper_delta(self) -> float | None:
        base, ours = self.numbers
        return None if base is None or ours is None else ours - base


class ClaimError(ValueError):
    pass


def _read(name: str) -> dict[str, Any]:
    path = f"report/papers/claims-{name}.yaml"
    return yaml.safe_load(resources.files("qcpt").joinpath(path).read_text(encoding="utf-8"))


def _number(file: str, cid: str, value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ClaimError(f"{file}: claim {cid}: paper numbers must be numbers or null, got {value!r}")
    return float(value)


def _check_side(file: str, cid: str, key: str, side: Any) -> dict[str, Any]:
    if not isinstance(side, dict) or not {"schema", "context"} <= set(side):
        raise ClaimError(f"{file}: claim {cid}: {key} needs schema and context, got {side!r}")
    unknown = set(side) - _SIDE_KEYS
    if unknown:
        raise ClaimError(f"{file}: claim {cid}: {key}: unknown keys {sorted(unknown)}")
    kinds = context_registry.grid_names()  # the registered kinds a grid may name
    if side["context"] not in kinds:
        raise ClaimError(f"{file}: claim {cid}: {key}.context must be one of {kinds}, got {side['context']!r}")
    if side.get("stage") not in (None, *cells.STAGES):
        raise ClaimError(f"{file}: claim {cid}: {key}.stage must be one of {cells.STAGES} or absent")
    return dict(side)


def parse_claims(name: str, data: Any, known: dict[str, Claim] | None = None) -> tuple[list[Claim], list[str]]:
    """The claims and the not-expressible comparisons of one claims file's data; ``known`` holds the
    claims a ``like`` may name. Errors name the file and the claim."""
    file = f"qcpt/report/papers/claims-{name}.yaml"
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ClaimError(f"{file}: needs a 'claims' list")
    defaults = {k: data.get(k) for k in ("generator", "count", "fraction") if k in data}
    out: list[Claim] = []
    for i, raw in enumerate(data["claims"]):
        cid = raw.get("id", f"#{i}") if isinstance(raw, dict) else f"#{i}"
        if not isinstance(raw, dict) or not {"id", "text", "evalset", "measure", "ours", "baseline"} <= set(raw):
            raise ClaimError(f"{file}: claim {cid}: needs id, text, evalset, measure, ours and baseline")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ClaimError(f"{file}: claim {cid}: unknown keys {sorted(unknown)}")
        like = None
        if "like" in raw:
            like = (known or {}).get(raw["like"])
            if like is None:
                raise ClaimError(f"{file}: claim {cid}: like {raw['like']!r} is no paper claim")
        if like is not None:
            numbers, direction, source = like.numbers, like.direction, f"{like.paper} {like.source} ({like.id})"
        else:
            paper = raw.get("paper")
            if not isinstance(paper, list) or len(paper) != 2:
                raise ClaimError(f"{file}: claim {cid}: paper must be [baseline, ours], got {paper!r}")
            numbers = (_number(file, cid, paper[0]), _number(file, cid, paper[1]))
            direction = {"+": 1, "-": -1}.get(raw.get("direction"), 0)
            if numbers[0] is not None and numbers[1] is not None and numbers[0] != numbers[1]:
                stated = 1 if numbers[1] > numbers[0] else -1
                if direction and direction != stated:
                    raise ClaimError(f"{file}: claim {cid}: direction contradicts the paper's numbers")
                direction = stated
            if not direction:
                raise ClaimError(f"{file}: claim {cid}: no sign: give two different numbers or direction '+'/'-'")
            source = str(raw.get("source", ""))
        out.append(Claim(
            str(raw["id"]), name, source, str(raw["text"]), str(raw["evalset"]), str(raw["measure"]),
            _check_side(file, cid, "ours", raw["ours"]), _check_side(file, cid, "baseline", raw["baseline"]),
            numbers, direction, defaults,
        ))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ClaimError(f"{file}: claim ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return out, [str(x) for x in data.get("not_expressible", [])]


def load_all() -> dict[str, tuple[list[Claim], list[str]]]:
    """Every claims file, paper sets first (a demo claim's ``like`` names one of theirs)."""
    out: dict[str, tuple[list[Claim], list[str]]] = {}
    known: dict[str, Claim] = {}
    for name in CLAIM_SETS:
        out[name] = parse_claims(name, _read(name), known)
        known.update({c.id: c for c in out[name][0]})
    return out


CLAIMS = load_all()


def claims_for(papers: list[str]) -> list[Claim]:
    """The claims of the given claim sets (the papers of the report's tables), in order."""
    return [c for name in CLAIM_SETS if name in papers for c in CLAIMS[name][0]]


# --------------------------------------------------------------------------- a claim's two cells


def _generator(grid: Grid, name: str | None) -> str | None:
    """A claim side's generator: a role of papers/roles.yaml as the config plays it, else a config
    generator's own name."""
    if name is None:
        return None
    return grid.generator(name) if name in GENERATOR_ROLES else name


def side_system(grid: Grid, claim: Claim, side: dict[str, Any]) -> str:
    """The model key of one side of a claim under ``grid``'s config."""
    schema, kind = side["schema"], side["context"]
    if kind == "span":
        context = grid.context(schema, "span")
    elif not context_registry.get(kind).fields:  # a kind whose tag is its name (no queries)
        context = cells.Context(kind).tag
    else:
        gen = _generator(grid, side.get("generator", claim.defaults.get("generator")))
        count = side.get("count", claim.defaults.get("count"))
        if kind == "curriculum":
            context = _curriculum(grid, schema, gen, count, side["amount"],
                                  side.get("fraction", claim.defaults.get("fraction", 0.75)))
        else:
            context = grid.context(schema, kind, gen, count)
    return grid.pt_system(schema, context, side.get("stage"))


def _curriculum(grid: Grid, schema: str, gen: str | None, count: int | None, amount: Any, fraction: float) -> str:
    """The curriculum cell of ``amount`` passages (the corpus' count is ``all``); any count when None."""
    wanted = "all" if amount == "all" or amount == grid.num_passages else int(amount)
    for s, ctx in grid.cells:
        if (s == schema and ctx.kind == "curriculum" and ctx.generator == gen and ctx.amount == wanted
                and (count is None or ctx.count == count) and abs(ctx.fraction - fraction) < 1e-9):
            return ctx.tag
    return cells.Context("curriculum", gen, count or 10, wanted, fraction).tag


def claim_refs(grid: Grid, claim: Claim) -> tuple[CellRef, CellRef]:
    """``(ours, baseline)``: the two metrics cells of a claim (same eval set and measure)."""
    evalset = grid.evalset(claim.evalset)
    return (CellRef(evalset, side_system(grid, claim, claim.ours), claim.measure),
            CellRef(evalset, side_system(grid, claim, claim.baseline), claim.measure))
