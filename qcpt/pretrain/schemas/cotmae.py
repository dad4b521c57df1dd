"""CoT-MAE (QAC paper §3): encoder MLM on the passage, and a shallow decoder that restores the
masked context from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import Schema, register

if TYPE_CHECKING:
    from transformers import BertModel

    from ..arguments import PretrainParams
    from ..objectives.common import PretrainModel


def build(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    from ..objectives.cotmae import CotMaeModel

    return CotMaeModel(encoder, decoder_layers=p.decoder_layers)


SCHEMA = register(Schema(
    name="cotmae", label="CoT-MAE", description="CoT-MAE",
    builder=f"{__name__}:build", context_labels="context_mlm", accumulable=True, decoder=True,
    # CoT-MAE (as run in query-as-context): lr 4e-4, 50k steps, encoder MLM 30%; one-layer decoder
    # (the "shallow decoder"; we use 1 layer, the smallest that the paper's description allows).
    # Its 16k batch is 64 per GPU with accumulation (the authors' command line).
    defaults=dict(learning_rate=4e-4, global_batch_size=16384, max_per_device_batch_size=64, max_steps=50_000,
                  mlm_probability=0.30, span_source="other", decoder_layers=1),
))
