"""Bottlenecked query generation (LLM-expansion paper): a one-block decoder generates the context
from the passage's [CLS] vector, next token by next token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import Schema, register

if TYPE_CHECKING:
    from transformers import BertModel

    from ..arguments import PretrainParams
    from ..objectives.common import PretrainModel


def build(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    from ..objectives.bottleneck import BottleneckModel

    return BottleneckModel(encoder, decoder_layers=p.decoder_layers, window=p.window, decoder_head=p.decoder_head)


SCHEMA = register(Schema(
    name="bottleneck", label="bottleneck", description="bottlenecked query generation",
    builder=f"{__name__}:build", context_labels="next_token", accumulable=True, decoder=True,
    # lr 3e-4, 80k steps, MLM 30%, a single GPT-2-style block. Its coarse-grained ("span") context
    # is the passage itself (LLM-expansion paper, "Curriculum Learning": "we use the coarse-grained
    # context as the passage itself in the bottlenecked generation pre-training").
    defaults=dict(learning_rate=3e-4, global_batch_size=2048, max_steps=80_000, mlm_probability=0.30,
                  span_source="self", decoder_layers=1),
))
