"""coCondenser's contrastive pre-training (QAC paper §3): MLM on passage and context through a
Condenser head, and a contrastive loss between a passage and its context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import Schema, register

if TYPE_CHECKING:
    from transformers import BertModel

    from ..arguments import PretrainParams
    from ..objectives.common import PretrainModel


def build(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    from ..objectives.contrastive import ContrastiveModel

    return ContrastiveModel(encoder, condenser_layers=p.condenser_layers, skip_layer=p.condenser_skip_layer,
                            temperature=p.temperature, negatives=p.contrastive_negatives,
                            grad_cache_chunk=p.grad_cache_chunk, mlm_loss_weight=p.mlm_loss_weight)


SCHEMA = register(Schema(
    name="contrastive", label="contrastive", description="coCondenser",
    builder=f"{__name__}:build", context_labels="mlm", accumulable=False, gradient_caching=True,
    # coCondenser: lr 1e-4, 120k steps, whole-word MLM 15%, context = another span of the document.
    # Its memory is bounded by gradient caching (grad_cache_chunk 64, the authors' --cache_chunk_size).
    defaults=dict(learning_rate=1e-4, global_batch_size=2048, max_steps=120_000, mlm_probability=0.15,
                  span_source="other", decoder_layers=0),
))
