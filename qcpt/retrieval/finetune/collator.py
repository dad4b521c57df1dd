"""Fine-tuning batches: queries and their passages tokenised for :class:`.modeling.BiEncoder`."""

from __future__ import annotations

from typing import Any

import torch


class BiEncoderCollator:
    """Tokenise a batch: queries (≤ q_max_len) and the flat list of their passages (≤ p_max_len)."""

    def __init__(self, tokenizer, q_max_len: int = 32, p_max_len: int = 144):
        self.tokenizer = tokenizer
        self.q_max_len = q_max_len
        self.p_max_len = p_max_len

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        queries = [f["query"] for f in features]
        passages = [p for f in features for p in f["passages"]]
        q = self.tokenizer(queries, truncation=True, max_length=self.q_max_len, padding=True, return_tensors="pt")
        p = self.tokenizer(passages, truncation=True, max_length=self.p_max_len, padding=True, return_tensors="pt")
        return {"query_input_ids": q["input_ids"], "query_attention_mask": q["attention_mask"],
                "passage_input_ids": p["input_ids"], "passage_attention_mask": p["attention_mask"]}
