"""Pre-training objectives: one loss module per schema, and the registry that builds them from params.

(The package is named for what it holds, the objectives; ``params.schema`` names which one a run
uses. :mod:`qcpt.schemas` is something else: the config file's schema.)

Each module (:mod:`.contrastive`, :mod:`.cotmae`, :mod:`.bottleneck`) is an ``nn.Module`` holding the
BERT ``encoder`` (kept after pre-training) and its heads (dropped from the encoder folder, saved
separately for a curriculum's next stage); ``forward`` takes the collator's tensors and returns
``{"loss", "components"}`` for :class:`qcpt.training.LossModuleTrainer`.
"""

from __future__ import annotations

from collections.abc import Callable

from transformers import BertModel

from ..arguments import PretrainParams
from .bottleneck import BottleneckModel
from .common import PretrainModel, load_encoder
from .contrastive import ContrastiveModel
from .cotmae import CotMaeModel


def _contrastive(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    return ContrastiveModel(encoder, condenser_layers=p.condenser_layers, skip_layer=p.condenser_skip_layer,
                            temperature=p.temperature, negatives=p.contrastive_negatives,
                            grad_cache_chunk=p.grad_cache_chunk, mlm_loss_weight=p.mlm_loss_weight)


def _cotmae(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    return CotMaeModel(encoder, decoder_layers=p.decoder_layers)


def _bottleneck(encoder: BertModel, p: PretrainParams) -> PretrainModel:
    return BottleneckModel(encoder, decoder_layers=p.decoder_layers, window=p.window, decoder_head=p.decoder_head)


SCHEMA_BUILDERS: dict[str, Callable[[BertModel, PretrainParams], PretrainModel]] = {
    "contrastive": _contrastive,
    "cotmae": _cotmae,
    "bottleneck": _bottleneck,
}


def build_model(encoder: BertModel, params: PretrainParams) -> PretrainModel:
    """The loss module of ``params.schema`` around ``encoder`` (heads freshly initialised)."""
    try:
        builder = SCHEMA_BUILDERS[params.schema]
    except KeyError:
        raise ValueError(f"unknown schema {params.schema!r} (known: {', '.join(SCHEMA_BUILDERS)})") from None
    return builder(encoder, params)


__all__ = ["SCHEMA_BUILDERS", "BottleneckModel", "ContrastiveModel", "CotMaeModel", "PretrainModel",
           "build_model", "load_encoder"]
