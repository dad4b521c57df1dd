"""Pre-training objectives: one loss module per schema, built as the schema's declaration says.

(The package is named for what it holds, the objectives; ``params.schema`` names which one a run
uses. :mod:`qcpt.schemas` is something else: the config file's schema.)

Each module (:mod:`.contrastive`, :mod:`.cotmae`, :mod:`.bottleneck`) is an ``nn.Module`` holding the
BERT ``encoder`` (kept after pre-training) and its heads (dropped from the encoder folder, saved
separately for a curriculum's next stage); ``forward`` takes the collator's tensors and returns
``{"loss", "components"}`` for :class:`qcpt.training.trainer.LossModuleTrainer`.
"""

from __future__ import annotations

from transformers import BertModel

from ...core import plugins
from ..arguments import PretrainParams
from ..schemas import registry as schema_registry
from .bottleneck import BottleneckModel
from .common import PretrainModel, load_encoder
from .contrastive import ContrastiveModel
from .cotmae import CotMaeModel


def build_model(encoder: BertModel, params: PretrainParams) -> PretrainModel:
    """The loss module of ``params.schema`` around ``encoder`` (heads freshly initialised), built by
    the function the schema's declaration names (:mod:`qcpt.pretrain.schemas`)."""
    return plugins.function(schema_registry.get(params.schema).builder)(encoder, params)


__all__ = ["BottleneckModel", "ContrastiveModel", "CotMaeModel", "PretrainModel",
           "build_model", "load_encoder"]
