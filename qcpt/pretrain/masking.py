"""Masked-language-model corruption: token or whole-word selection, then BERT's 80/10/10 rule.

Everything takes an explicit ``numpy.random.Generator``, so the masks of an example depend only on
the seed the dataset gave it (see :mod:`qcpt.pretrain.data`), not on worker processes or on where a
resumed run restarted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IGNORE_INDEX = -100  # label of positions that carry no loss (PyTorch cross-entropy's ignore_index)


def word_groups(word_ids: Sequence[int | None], whole_word: bool) -> list[list[int]]:
    """Token positions grouped into maskable units.

    ``word_ids`` is the fast tokenizer's word index per token (``None`` for [CLS]/[SEP]/padding),
    so a word's WordPiece pieces (``un ##believ ##able``) share one index. With ``whole_word`` the
    pieces of a word form one unit; otherwise every non-special token is its own unit. Special
    tokens are never in a unit, so they are never masked.
    """
    groups: list[list[int]] = []
    last_word: int | None = None
    for position, word in enumerate(word_ids):
        if word is None:
            last_word = None
            continue
        if whole_word and groups and word == last_word:
            groups[-1].append(position)
        else:
            groups.append([position])
        last_word = word
    return groups


def choose_mask_positions(
    word_ids: Sequence[int | None], probability: float, rng: np.random.Generator, *, whole_word: bool = True
) -> list[int]:
    """Pick ``round(probability × maskable tokens)`` token positions (at least one), whole words at a
    time: units are visited in random order and a unit is taken only if it still fits the budget
    (as BERT's whole-word masking does), so the realised rate is the requested one up to rounding."""
    groups = word_groups(word_ids, whole_word)
    n_tokens = sum(len(g) for g in groups)
    if n_tokens == 0 or probability <= 0:
        return []
    budget = max(1, int(round(n_tokens * probability)))
    chosen: list[int] = []
    for g in rng.permutation(len(groups)):
        group = groups[int(g)]
        if len(chosen) + len(group) > budget:
            continue
        chosen.extend(group)
        if len(chosen) == budget:
            break
    return sorted(chosen)


def corrupt(
    input_ids: Sequence[int],
    positions: Sequence[int],
    rng: np.random.Generator,
    *,
    mask_token_id: int,
    replacement_ids: np.ndarray,
) -> tuple[list[int], list[int]]:
    """BERT corruption of the chosen positions: 80% → [MASK], 10% → a random (non-special) token,
    10% unchanged. Returns ``(corrupted ids, labels)``; labels hold the original token at chosen
    positions and :data:`IGNORE_INDEX` elsewhere."""
    ids = list(input_ids)
    labels = [IGNORE_INDEX] * len(ids)
    for position in positions:
        labels[position] = ids[position]
        draw = rng.random()
        if draw < 0.8:
            ids[position] = mask_token_id
        elif draw < 0.9:
            ids[position] = int(replacement_ids[rng.integers(len(replacement_ids))])
    return ids, labels


def mask_sequence(
    input_ids: Sequence[int],
    word_ids: Sequence[int | None],
    probability: float,
    rng: np.random.Generator,
    *,
    mask_token_id: int,
    replacement_ids: np.ndarray,
    whole_word: bool = True,
) -> tuple[list[int], list[int]]:
    """Choose positions and corrupt them; see :func:`choose_mask_positions` and :func:`corrupt`."""
    positions = choose_mask_positions(word_ids, probability, rng, whole_word=whole_word)
    return corrupt(input_ids, positions, rng, mask_token_id=mask_token_id, replacement_ids=replacement_ids)
