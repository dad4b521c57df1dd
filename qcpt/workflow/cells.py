"""The names of the grid's cells, built and parsed here only. A cell's identity is its path.

- pre-training context: a registered kind's tag (:mod:`qcpt.pretrain.contexts`): ``span`` |
  ``query-<gen>-c<C>-n<amount>`` | ``mixed-<gen>-c<C>-n<amount>`` |
  ``curriculum-f<frac>-<gen>-c<C>-n<amount>``; a curriculum's first stage is ``stage1-f<frac>``;
  a seed replicate (config ``seeds``) other than the config's ``seed`` ends in ``-s<seed>``, so the
  default seed's cells keep their names.
- encoder tag: ``base`` (the initial encoder), ``pt/<corpus>/<schema>/<context>`` (a pre-trained
  cell) or ``ext/<name>`` (an external encoder from ``external_encoders``).
- model key (what gets encoded and searched): ``zeroshot/<encoder>`` or
  ``<dataset>/<encoder>/<retriever1|retriever2>``.
- system (what a metrics file scores): ``bm25`` or a model key; a metrics cell is
  ``<evalset>/<system>``.

Every ``parse_*`` inverts the matching ``tag``/``key`` (tests/workflow/test_workflow_cells.py), and the
Snakefile's wildcard constraints are :data:`WILDCARDS`, built from the same pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..core.params import ConfigError
from ..pretrain.arguments import SCHEMAS  # the pre-training command's schemas (import-light)
from ..pretrain.contexts import registry as contexts

STAGES = ("retriever1", "retriever2")
ZEROSHOT = "zeroshot"
BM25 = "bm25"
SPAN = "span"

NAME = contexts.GENERATOR_NAME  # corpus and generator names (a context tag splits on "-")
DASHED = r"[A-Za-z0-9_-]+"  # collections, topic and evalsets, fine-tuning datasets
_SEGMENT = r"[^/]+"
_AMOUNT = r"all|\d+"
_STAGE = "|".join(STAGES)
ENCODER = rf"base|pt/{_SEGMENT}/{_SEGMENT}/{_SEGMENT}|ext/{_SEGMENT}"
MODEL_KEY = rf"{ZEROSHOT}/(?:{ENCODER})|{DASHED}/(?:{ENCODER})/(?:{_STAGE})"

# The Snakefile's wildcard constraints (one meaning per wildcard name across all rules).
WILDCARDS = {
    "corpus": NAME,
    "schema": "|".join(SCHEMAS),
    "gen": NAME,
    "qcount": r"\d+",
    "amount": _AMOUNT,
    "shard": r"\d+",
    "collection": DASHED,
    "topicset": DASHED,
    "evalset": DASHED,
    "dataset": DASHED,
    "stage": _STAGE,
    "encoder": ENCODER,
    "modelkey": MODEL_KEY,
}
# Rule-level constraints: a context tag is checked by parse_context (naming the bad tag), so the
# pretrain rule's pattern only keeps the tag within one path segment; a system is looser than a
# model key where the evaluate rules need to match mean evalsets' members too.
CONTEXT_WILDCARD = r"[A-Za-z0-9_.-]+"
SYSTEM_WILDCARD = rf"{BM25}|{ZEROSHOT}/.+|{DASHED}/.+/(?:{_STAGE})"



def evalset_wildcards(means: list[str]) -> tuple[str, str]:
    """The evaluate rules' ``evalset`` patterns: evalsets scored on a run, and means of others
    (``mean_of``, the evaluate_mean rule). Inside the path pattern the evalset is followed by "/",
    hence the lookahead's "/"; ``(?!x)x`` matches nothing (a config without mean evalsets)."""
    mean = "|".join(re.escape(n) for n in means) or r"(?!x)x"
    return (rf"(?!(?:{mean})/)[^/]+" if means else r"[^/]+"), mean


_ENCODER_RE = re.compile(rf"^(?:{ENCODER})$")
_MODEL_KEY_RE = re.compile(rf"^(?:{ZEROSHOT}/(?P<zenc>.+)|(?P<ds>[^/]+)/(?P<fenc>.+)/(?P<stage>{_STAGE}))$")


@dataclass(frozen=True)
class Context:
    kind: str  # a registered context kind: span | query | mixed | curriculum | stage1 | ...
    generator: str | None = None
    count: int | None = None
    amount: int | str | None = None  # int or "all"
    fraction: float | None = None
    seed: int | None = None  # a seed replicate's own seed; None: the config's seed

    @property
    def tag(self) -> str:
        return contexts.get(self.kind).tag(
            {"generator": self.generator, "count": self.count, "amount": self.amount, "fraction": self.fraction},
            self.seed)

    def with_seed(self, seed: int | None) -> Context:
        return replace(self, seed=seed)

    @property
    def reads_queries(self) -> bool:
        return contexts.get(self.kind).reads_queries

    def stage1(self) -> Context:
        """The first stage a curriculum cell continues from (spans for ``fraction`` of the steps)."""
        return Context("stage1", fraction=self.fraction, seed=self.seed)


def parse_context(tag: str) -> Context:
    parsed = contexts.parse(tag)
    if parsed is None:
        raise ConfigError(f"not a pre-training context: {tag!r}")
    kind, values, seed = parsed
    return Context(kind.name, seed=seed, **values)


@dataclass(frozen=True)
class Encoder:
    kind: str  # base | pt | ext
    corpus: str | None = None  # pt: the pre-training cell
    schema: str | None = None
    context: str | None = None
    name: str | None = None  # ext: the external_encoders entry

    @property
    def tag(self) -> str:
        if self.kind == "pt":
            return f"pt/{self.corpus}/{self.schema}/{self.context}"
        return f"ext/{self.name}" if self.kind == "ext" else "base"

    def with_context(self, context: str) -> Encoder:
        return replace(self, context=context)


def pretrained(corpus: str, schema: str, context: Context | str) -> Encoder:
    return Encoder("pt", corpus, schema, context if isinstance(context, str) else context.tag)


def external(name: str) -> Encoder:
    return Encoder("ext", name=name)


def parse_encoder(tag: str) -> Encoder:
    if not _ENCODER_RE.match(tag):
        raise ConfigError(f"not an encoder tag: {tag!r}")
    kind, _, rest = tag.partition("/")
    if kind == "pt":
        corpus, schema, context = rest.split("/")
        return Encoder("pt", corpus, schema, context)
    return Encoder("ext", name=rest) if kind == "ext" else Encoder("base")


class ModelKey(NamedTuple):
    """``(dataset or "zeroshot", encoder tag, stage or None)``; ``.key`` is its name."""

    dataset: str
    encoder: str
    stage: str | None

    @property
    def key(self) -> str:
        if self.dataset == ZEROSHOT:
            return f"{ZEROSHOT}/{self.encoder}"
        return f"{self.dataset}/{self.encoder}/{self.stage}"

    @property
    def zeroshot(self) -> bool:
        return self.dataset == ZEROSHOT

    def with_encoder(self, encoder: Encoder | str) -> ModelKey:
        return self._replace(encoder=encoder if isinstance(encoder, str) else encoder.tag)


def model_key(dataset: str, encoder: Encoder | str, stage: str | None = None) -> ModelKey:
    tag = encoder if isinstance(encoder, str) else encoder.tag
    return ModelKey(dataset, tag, None if dataset == ZEROSHOT else stage)


def parse_model_key(key: str) -> ModelKey:
    m = _MODEL_KEY_RE.match(key)
    if not m or not _ENCODER_RE.match(m["zenc"] or m["fenc"]):
        raise ConfigError(f"not a model key: {key!r}")
    if m["zenc"]:
        return ModelKey(ZEROSHOT, m["zenc"], None)
    return ModelKey(m["ds"], m["fenc"], m["stage"])


def metrics_cell(evalset: str, system: str) -> str:
    """The name of one metrics file: ``<evalset>/<system>`` (e.g. ``scifact-test/bm25``)."""
    return f"{evalset}/{system}"


def parse_metrics_cell(cell: str) -> tuple[str, str]:
    """``(evalset, system)`` of ``<evalset>/<system>``; the system is checked (``bm25`` or a model key)."""
    evalset, _, system = cell.partition("/")
    if not evalset or not system:
        raise ConfigError(f"not a metrics cell '<evalset>/<system>': {cell!r}")
    if system != BM25:
        parse_model_key(system)
    return evalset, system


def counterpart(system: str, context: str = SPAN) -> str | None:
    """The system of the same pre-trained cell (schema, setting, stage) with pre-training context
    ``context``: the baseline a cell is compared with. None for BM25, the base and external
    encoders, and cells of that context themselves."""
    if system == BM25:
        return None
    key = parse_model_key(system)
    encoder = parse_encoder(key.encoder)
    if encoder.kind != "pt" or parse_context(encoder.context).with_seed(None).tag == context:
        return None
    # a seed replicate's counterpart is the same seed's
    seed = parse_context(encoder.context).seed
    return key.with_encoder(encoder.with_context(parse_context(context).with_seed(seed).tag)).key
