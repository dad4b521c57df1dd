"""Pre-training examples: a passage and its context.

Contexts (``params.context``, a registered kind of :mod:`qcpt.pretrain.contexts` whose ``draw``
picks an example's context from what this dataset offers: :meth:`PretrainDataset.span`,
:meth:`~PretrainDataset.query`, the passage's text and its pool of queries):

- ``span``: with ``span_source="other"`` another passage of the same document, drawn at random for
  every epoch (coCondenser's two spans of one document). A document cut into a single passage has no
  other span, so its passage is paired with itself: the two copies still differ, because each side
  is masked independently (and dropout differs). With ``span_source="self"`` (the bottleneck
  schema's default, after the LLM-expansion paper) the context is the passage itself. With
  ``span_source="crop"`` it is a random contiguous span of the passage's words, between
  ``span_crop[0]`` and ``span_crop[1]`` of them (the LLM paper's "randomly sampled passage span" for
  contrastive pre-training on a passage collection, where a document has no other passage).
- ``query``: one generated query drawn at random, every epoch, from the passage's pool in the
  queries TSV. Passages without queries are left out of the dataset (and counted).
- ``mixed``: per example, a query with probability ``mixed_query_probability`` (0.5), else a span;
  only passages with queries take part, so both kinds are always available.

A kind that reads queries draws only passages with queries; any other kind draws every passage.

Randomness is a pure function of ``(seed, epoch, index)``: an example's context and its masks (the
collator uses the ``seed`` each example carries) are the same whichever worker builds it and
whether or not the run was resumed. The epoch comes from :meth:`PretrainDataset.set_epoch`, which
the driver calls at the start of every epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from .contexts import registry as context_registry
from .store import Passages, QueryPools, open_passages, open_queries

__all__ = ["Passages", "PretrainDataset", "QueryPools", "example_seed", "load_passages", "load_queries"]

log = logging.getLogger(__name__)


def load_passages(path: str | os.PathLike, *, use_title: bool = False) -> Passages:
    """Open ``passages.jsonl`` (``{"id", "doc_id", "title", "text", ...}``) as a memory-mapped store
    (built beside the file on first use, see :mod:`.store`); duplicate ids and missing fields are
    :class:`InputError` s naming the line."""
    return open_passages(path, use_title=use_title)


def load_queries(path: str | os.PathLike, passages: Passages) -> tuple[QueryPools, dict[str, int]]:
    """Open a generated-queries TSV (``passage_id<TAB>query``, no header) as one pool per passage
    (aligned with ``passages``), memory-mapped. A passage id absent from the passages file is an
    InputError (the two files do not belong together); blank queries are skipped and counted."""
    return open_queries(path, passages)


class _ListPools:
    """Query pools given as plain lists (tests, small callers), with :class:`QueryPools`' interface."""

    def __init__(self, pools: Sequence[Sequence[str]]):
        self.pools = pools

    def __len__(self) -> int:
        return len(self.pools)

    def pool_size(self, row: int) -> int:
        return len(self.pools[row])

    def query(self, row: int, k: int) -> str:
        return self.pools[row][k]

    def nonempty_rows(self) -> np.ndarray:
        return np.array([i for i, pool in enumerate(self.pools) if pool], dtype=np.int64)


def example_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for one example in one epoch (independent streams via SeedSequence)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class PretrainDataset(Dataset):
    """Map-style dataset of ``{"passage", "context", "context_kind", "seed"}`` examples."""

    def __init__(
        self,
        passages: Passages,
        *,
        context: str,
        queries: QueryPools | Sequence[Sequence[str]] | None = None,
        span_source: str = "other",
        span_crop: tuple[float, float] = (0.1, 0.5),
        mixed_query_probability: float = 0.5,
        seed: int = 42,
    ):
        kind = context_registry.get(context)
        if kind.draw is None:
            raise ValueError(f"context {context!r} is a staged schedule of other kinds, not drawn per example")
        if kind.reads_queries and queries is None:
            raise ValueError(f"context {context!r} needs generated queries (--queries)")
        if span_source not in ("other", "self", "crop"):
            raise ValueError(f"span_source {span_source!r} is not 'other', 'self' or 'crop'")
        if not 0.0 < span_crop[0] <= span_crop[1] <= 1.0:
            raise ValueError(f"span_crop {span_crop!r}: need 0 < min <= max <= 1")
        self.passages = passages
        self.context = context
        self._draw = kind.draw
        self.queries = queries if queries is None or isinstance(queries, QueryPools) else _ListPools(queries)
        self.span_source = span_source
        self.span_crop = span_crop
        self.mixed_query_probability = mixed_query_probability
        self.seed = seed
        self.epoch = 0
        if not kind.reads_queries:
            self.indices = np.arange(len(passages), dtype=np.int64)
        else:
            self.indices = self.queries.nonempty_rows()
        if len(self.indices) == 0:
            raise ValueError("no passage has a generated query: nothing to pre-train on")
        single = passages.single_passage_documents
        self.stats: dict[str, Any] = {
            "passages": len(passages),
            "examples": int(len(self.indices)),
            "passages_without_queries_skipped": int(len(passages) - len(self.indices)),
            "documents": passages.num_documents,
            "single_passage_documents": single,
            "context": context,
            "span_source": span_source,
        }
        if self.stats["passages_without_queries_skipped"]:
            log.info("%d of %d passages have no generated query and are skipped",
                     self.stats["passages_without_queries_skipped"], len(passages))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    # ---- what a context kind's draw reads (qcpt.pretrain.contexts.registry.ContextSource)

    def passage_text(self, passage: int) -> str:
        return self.passages.text(passage)

    def queries_of(self, passage: int) -> list[str]:
        if self.queries is None:
            return []
        return [self.queries.query(passage, k) for k in range(self.queries.pool_size(passage))]

    def span(self, passage: int, rng: np.random.Generator) -> tuple[str, str]:
        """A span context as ``span_source`` says: ``(text, "span" | "self" | "crop")``."""
        if self.span_source == "self":
            return self.passages.text(passage), "self"
        if self.span_source == "crop":
            return self._crop(self.passages.text(passage), rng), "crop"
        members = self.passages.doc_members(passage)
        if len(members) == 1:
            return self.passages.text(passage), "span"
        pick = int(rng.integers(len(members) - 1))
        others = members[members != passage]  # the document's other passages, in file order
        return self.passages.text(int(others[pick])), "span"

    def _crop(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if len(words) < 2:
            return text
        low, high = self.span_crop
        shortest = max(1, int(np.ceil(low * len(words))))
        longest = max(shortest, int(high * len(words)))
        length = int(rng.integers(shortest, longest + 1))
        start = int(rng.integers(len(words) - length + 1))
        return " ".join(words[start:start + length])

    def query(self, passage: int, rng: np.random.Generator) -> tuple[str, str]:
        """One of the passage's generated queries, at random: ``(text, "query")``."""
        return self.queries.query(passage, int(rng.integers(self.queries.pool_size(passage)))), "query"

    def __getitem__(self, index: int) -> dict[str, Any]:
        passage = int(self.indices[index])
        seed = example_seed(self.seed, self.epoch, index)
        rng = np.random.default_rng([seed, 0])
        text, kind = self._draw(self, passage, rng)
        return {"passage": self.passages.text(passage), "context": text, "context_kind": kind, "seed": seed}
