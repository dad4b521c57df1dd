"""The registry of pre-training context kinds: what a kind declares, and the lists every other part
reads (the cell grammar, the ``--params`` check, the config schema's enum, the grid, the claims).

A context kind is one module that registers a :class:`ContextKind` when imported: the built-in ones
are listed in :data:`BUILTIN` (one line each), and a researcher's own package adds one through the
entry point group ``qcpt.contexts`` (``[project.entry-points."qcpt.contexts"] title = "my_title"``
in its pyproject), found on first use, so nothing of qcpt changes. Import-light (the Snakefile and
the cell grammar read it): a kind's ``draw`` gets the dataset and the random generator handed in.

A kind's tag is its name followed by the values of its ``fields``, in the order it lists them, each
after a ``-``: ``fraction`` as ``f<F>``, ``generator`` as the generator's name, ``count`` as
``c<C>``, ``amount`` as ``n<N>`` (or ``nall``); any tag may end in ``-s<seed>`` (a seed replicate).
So ``span``, ``query-<gen>-c<C>-n<N>``, ``curriculum-f<F>-<gen>-c<C>-n<N>``, ``stage1-f<F>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from ...core.plugins import Registry

# The kinds of this package, in the order the config docs and error messages list them.
BUILTIN = (
    "qcpt.pretrain.contexts.span",
    "qcpt.pretrain.contexts.query",
    "qcpt.pretrain.contexts.mixed",
    "qcpt.pretrain.contexts.curriculum",
    "qcpt.pretrain.contexts.stage1",
)
REGISTRY: Registry[ContextKind] = Registry("pre-training context", "qcpt.contexts", BUILTIN)

GENERATOR_NAME = r"[A-Za-z0-9_]+"  # a generator's name (a context tag splits on "-")
# field -> (its piece of a tag, the pattern of that piece, how the matched text is read)
FIELDS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "fraction": ("f{:g}", r"f(0\.\d+)", float),
    "generator": ("{}", rf"({GENERATOR_NAME})", str),
    "count": ("c{}", r"c(\d+)", int),
    "amount": ("n{}", r"n(all|\d+)", lambda text: text if text == "all" else int(text)),
}
QUERY_FIELDS = ("generator", "count", "amount")  # what names the query file a kind reads
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ContextSource(Protocol):
    """What a kind's ``draw`` may read of the pre-training dataset (:class:`~..data.PretrainDataset`)."""

    mixed_query_probability: float

    def passage_text(self, passage: int) -> str: ...
    def span(self, passage: int, rng: Any) -> tuple[str, str]: ...  # per span_source; kind "span"/"self"/"crop"
    def query(self, passage: int, rng: Any) -> tuple[str, str]: ...  # one of its generated queries; kind "query"
    def queries_of(self, passage: int) -> list[str]: ...  # its whole pool of generated queries


# ``draw(source, passage, rng) -> (context text, what it is)``: the context of one example (row
# ``passage`` of the passages) in one epoch; ``rng`` is that example's numpy Generator. What it is
# only matters as "query" (tokenised at query_max_len) or anything else (at max_len).
Draw = Callable[[ContextSource, int, Any], tuple[str, str]]


@dataclass(frozen=True)
class ContextKind:
    name: str  # the config's and the tags' name: pretrain.grid[].context, pt/<corpus>/<schema>/<tag>
    description: str  # one line: what the context of an example is
    fields: tuple[str, ...] = ()  # the values its tag names, in tag order (keys of FIELDS)
    reads_queries: bool = False  # pre-trains on a generated-query file (needs generator, count, amount)
    # How an example's context is drawn; None for a staged schedule of other kinds (curriculum,
    # stage1), which the workflow runs as a run of another kind (qcpt.pretrain.jobs).
    draw: Draw | None = field(default=None, compare=False)
    in_grid: bool = True  # may be named in pretrain.grid[].context (stage1 is derived, not named)

    def __post_init__(self) -> None:
        if not _KIND_NAME.match(self.name):
            raise ValueError(f"context kind name {self.name!r}: lower-case letters, digits and _ (tags split on '-')")
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown or len(set(self.fields)) != len(self.fields):
            raise ValueError(f"context kind {self.name!r}: fields {self.fields!r} must be distinct, of {', '.join(FIELDS)}")
        if self.reads_queries and not set(QUERY_FIELDS) <= set(self.fields):
            raise ValueError(f"context kind {self.name!r} reads queries: its fields need {', '.join(QUERY_FIELDS)}")

    def tag(self, values: Mapping[str, Any], seed: int | None = None) -> str:
        pieces = [self.name, *(FIELDS[f][0].format(values[f]) for f in self.fields)]
        return "-".join(pieces) + ("" if seed is None else f"-s{seed}")

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile("^" + "-".join([re.escape(self.name), *(FIELDS[f][1] for f in self.fields)])
                          + r"(?:-s(\d+))?$")

    def parse(self, tag: str) -> tuple[dict[str, Any], int | None] | None:
        """``(field values, seed)`` of a tag of this kind, else None."""
        m = self._pattern.match(tag)
        if not m:
            return None
        values = {f: FIELDS[f][2](m[i + 1]) for i, f in enumerate(self.fields)}
        seed = m[len(self.fields) + 1]
        return values, None if seed is None else int(seed)


def register(kind: ContextKind) -> ContextKind:
    return REGISTRY.register(kind)


def kinds() -> dict[str, ContextKind]:
    """Every registered kind by name, the built-in ones first."""
    return REGISTRY.items()


def get(name: str) -> ContextKind:
    return REGISTRY.get(name)


def grid_names() -> tuple[str, ...]:
    """The kinds a grid block may name (the config schema's enum)."""
    return tuple(name for name, kind in kinds().items() if kind.in_grid)


def drawn_names() -> tuple[str, ...]:
    """The kinds a pre-training run draws examples of (PretrainParams.context)."""
    return tuple(name for name, kind in kinds().items() if kind.draw is not None)


def parse(tag: str) -> tuple[ContextKind, dict[str, Any], int | None] | None:
    """``(kind, field values, seed)`` of a context tag, else None."""
    kind = kinds().get(tag.split("-", 1)[0])
    parsed = kind.parse(tag) if kind else None
    return None if parsed is None else (kind, *parsed)


def block_problem(block: Mapping[str, Any]) -> str | None:
    """What a grid block lacks for its kinds (a generator for kinds whose tag names one, a fraction
    likewise), else None."""
    named = [kinds()[name] for name in block["context"] if name in kinds()]
    needs_generator = [k.name for k in named if "generator" in k.fields]
    if needs_generator and not block.get("generator"):
        return f"{'/'.join(needs_generator)} contexts need 'generator'"
    needs_fraction = [k.name for k in named if "fraction" in k.fields]
    if needs_fraction and not block.get("fraction"):
        return f"the {'/'.join(needs_fraction)} context needs 'fraction'"
    return None
