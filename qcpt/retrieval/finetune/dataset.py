"""The fine-tuning dataset: per query and epoch, its positive and hard negatives, drawn afresh.

The groups come from the training JSONL (:func:`qcpt.retrieval.train_data.read_train_groups`); the
texts are the collection's ``title + " " + text`` (:func:`qcpt.retrieval.data.passage_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ..train_data import TrainGroup


class TrainDataset(Dataset):
    """Per query: ``{"query": text, "passages": [positive, negative × (n_passages - 1)]}``.

    What a query gets depends only on ``(seed, epoch, query index)``, so every process and every
    resumed run draws the same. Per query, its negatives are shuffled once (seeded by seed and query
    index); epoch ``e`` takes the next ``n_passages - 1`` of that order starting at ``e × (n - 1)``,
    wrapping around, so all negatives are used before any repeats. With fewer negatives than needed,
    all of them are used and the rest is drawn with replacement (seeded by seed, epoch, query).
    Positives rotate over the epochs the same way. Negatives never include a positive.
    """

    def __init__(self, groups: Sequence[TrainGroup], texts: dict[str, str], n_passages: int, seed: int = 42):
        self.groups = list(groups)
        self.texts = texts
        self.n_passages = n_passages
        self.seed = seed
        self.epoch = 0
        for g in self.groups:
            if set(g.positives) & set(g.negatives):
                raise ValueError(f"query {g.query_id!r}: a document is both positive and negative")
            if n_passages > 1 and not g.negatives:
                raise ValueError(f"query {g.query_id!r} has no negatives, {n_passages - 1} are needed")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.groups)

    def sample_ids(self, index: int, epoch: int | None = None) -> tuple[str, list[str]]:
        """``(positive docid, negative docids)`` of query ``index`` in ``epoch`` (default: current)."""
        epoch = self.epoch if epoch is None else epoch
        g = self.groups[index]
        fixed = np.random.default_rng([self.seed, index])
        positive = g.positives[(int(fixed.integers(len(g.positives))) + epoch) % len(g.positives)]
        need, n = self.n_passages - 1, len(g.negatives)
        if need == 0:
            return positive, []
        order = fixed.permutation(n)
        if n >= need:
            start = (epoch * need) % n
            chosen = [int(order[(start + j) % n]) for j in range(need)]
        else:
            per_epoch = np.random.default_rng([self.seed, epoch, index])
            chosen = list(order) + [int(x) for x in per_epoch.integers(n, size=need - n)]
            per_epoch.shuffle(chosen)
        return positive, [g.negatives[i] for i in chosen]

    def __getitem__(self, index: int) -> dict[str, Any]:
        positive, negatives = self.sample_ids(index)
        return {"query": self.groups[index].query, "passages": [self.texts[d] for d in (positive, *negatives)]}
