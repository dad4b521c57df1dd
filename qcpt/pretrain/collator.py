"""Examples → tensors: tokenisation, masking and padding for each schema.

Every schema gets the same keys (the loss modules' ``forward`` arguments):

``passage_input_ids / passage_attention_mask / passage_labels``
    the passage, MLM-corrupted at ``mlm_probability`` (labels: original ids at masked positions,
    -100 elsewhere).
``context_input_ids / context_attention_mask / context_labels``
    the context; what corruption and labels mean depends on the schema:

    - contrastive: MLM-corrupted at ``mlm_probability`` like the passage (coCondenser masks both
      sides; both feed the MLM losses and their [CLS] vectors the contrastive loss);
    - cotmae: MLM-corrupted at ``context_mlm_probability`` (45%), labels at the masked positions;
    - bottleneck: not corrupted; ``context_labels[i]`` is the next token ``context_input_ids[i+1]``
      (causal LM: decoder position 0, which will hold the encoder's [CLS] vector, predicts the first
      query token; the last real token, [SEP], predicts nothing), -100 on padding.

Span contexts (and the passage itself) are cut to ``max_len`` tokens, queries to ``query_max_len``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .masking import IGNORE_INDEX, mask_sequence
from .schemas import registry as schema_registry

# Independent random streams of one example (its passage mask and its context mask).
_PASSAGE_STREAM, _CONTEXT_STREAM = 1, 2


class PretrainCollator:
    def __init__(
        self,
        tokenizer: Any,
        *,
        schema: str,
        max_len: int = 144,
        query_max_len: int = 32,
        mlm_probability: float = 0.15,
        context_mlm_probability: float = 0.45,
        whole_word_mask: bool = True,
    ):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("pre-training needs a fast (Rust) tokenizer: word boundaries come from word_ids()")
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs [MASK] and [PAD] tokens for masked-language-model pre-training")
        self.tokenizer = tokenizer
        self.schema = schema
        self.context_labels = schema_registry.get(schema).context_labels
        self.max_len = max_len
        self.query_max_len = query_max_len
        self.mlm_probability = mlm_probability
        self.context_mlm_probability = context_mlm_probability
        self.whole_word_mask = whole_word_mask
        special = set(tokenizer.all_special_ids)
        self.replacement_ids = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)

    # ------------------------------------------------------------------ helpers

    def _tokenize(self, texts: Sequence[str], max_len: int) -> list[tuple[list[int], list[int | None]]]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), truncation=True, max_length=max_len, add_special_tokens=True)
        return [(list(enc["input_ids"][i]), list(enc.word_ids(i))) for i in range(len(texts))]

    def _mask(self, ids: list[int], word_ids: list[int | None], probability: float,
              seed: int, stream: int) -> tuple[list[int], list[int]]:
        rng = np.random.default_rng([seed, stream])
        return mask_sequence(ids, word_ids, probability, rng, mask_token_id=self.tokenizer.mask_token_id,
                             replacement_ids=self.replacement_ids, whole_word=self.whole_word_mask)

    def _pad(self, rows: list[list[int]], value: int) -> torch.Tensor:
        width = max(len(r) for r in rows)
        return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)

    def _attention(self, rows: list[list[int]]) -> torch.Tensor:
        return self._pad([[1] * len(r) for r in rows], 0)

    # ------------------------------------------------------------------ main

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pad = self.tokenizer.pad_token_id
        passages = self._tokenize([e["passage"] for e in examples], self.max_len)
        # Queries and spans have different length limits: tokenise each kind with its own.
        contexts: list[tuple[list[int], list[int | None]] | None] = [None] * len(examples)
        for is_query in (True, False):
            which = [i for i, e in enumerate(examples) if (e["context_kind"] == "query") == is_query]
            encoded = self._tokenize([examples[i]["context"] for i in which],
                                     self.query_max_len if is_query else self.max_len)
            for i, enc in zip(which, encoded, strict=True):
                contexts[i] = enc

        p_ids, p_labels, c_ids, c_labels = [], [], [], []
        for example, (ids, words), (ctx_ids, ctx_words) in zip(examples, passages, contexts, strict=True):
            seed = int(example["seed"])
            masked, labels = self._mask(ids, words, self.mlm_probability, seed, _PASSAGE_STREAM)
            p_ids.append(masked)
            p_labels.append(labels)
            if self.context_labels == "next_token":
                c_ids.append(ctx_ids)
                c_labels.append(ctx_ids[1:] + [IGNORE_INDEX])
            else:
                rate = self.context_mlm_probability if self.context_labels == "context_mlm" else self.mlm_probability
                masked, labels = self._mask(ctx_ids, ctx_words, rate, seed, _CONTEXT_STREAM)
                c_ids.append(masked)
                c_labels.append(labels)
        return {
            "passage_input_ids": self._pad(p_ids, pad),
            "passage_attention_mask": self._attention(p_ids),
            "passage_labels": self._pad(p_labels, IGNORE_INDEX),
            "context_input_ids": self._pad(c_ids, pad),
            "context_attention_mask": self._attention(c_ids),
            "context_labels": self._pad(c_labels, IGNORE_INDEX),
        }
