"""Pieces every schema shares: the BERT encoder, its MLM head, the loss bookkeeping.

Parameter sharing is done by *calling* shared modules, never by registering one module twice: the
MLM head's output projection reads the encoder's word-embedding matrix at call time. So the loss
module's ``state_dict`` has no aliased tensors, and the Trainer's plain-safetensors checkpoints of
it (it is not a ``PreTrainedModel``) save and resume cleanly.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel
from transformers.activations import ACT2FN

from ...core.models import load_pretrained
from ..masking import IGNORE_INDEX

log = logging.getLogger(__name__)

ENCODER_PREFIX = "encoder."


def load_encoder(path: str | os.PathLike) -> BertModel:
    """The BERT encoder of a Hugging Face folder (a ``BertModel`` or any ``Bert*`` checkpoint; the
    pooler is left out: retrieval uses the [CLS] vector)."""
    model = load_pretrained(BertModel, path, add_pooling_layer=False)
    if model.config.model_type != "bert":
        raise ValueError(f"{path}: pre-training supports BERT encoders, not {model.config.model_type!r}")
    return model


def head_config(encoder_config: BertConfig) -> BertConfig:
    """Config of extra BERT layers (Condenser head, CoT-MAE decoder): the encoder's sizes, an
    encoder-style (bidirectional, no cross-attention) layer, eager attention so an explicit additive
    mask is honoured as given."""
    config = copy.deepcopy(encoder_config)
    config.is_decoder = False
    config.add_cross_attention = False
    config._attn_implementation = "eager"
    return config


def init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation (normal(0, std) weights, zero biases, unit LayerNorm) for new heads."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=std)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] 1/0 padding mask → [B, 1, 1, L] additive mask (0 keep, dtype-min drop)."""
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


class MLMHead(nn.Module):
    """BERT's MLM prediction head (dense → activation → LayerNorm → tied projection + bias); the
    projection matrix is the encoder's word embeddings, passed in at call time."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        act = config.hidden_act
        self.activation = ACT2FN[act] if isinstance(act, str) else act
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, embedding_weight: torch.Tensor) -> torch.Tensor:
        return F.linear(self.layer_norm(self.activation(self.dense(hidden))), embedding_weight, self.bias)

    # The head's tensors in transformers' BertForMaskedLM (the names its loading report uses).
    PRETRAINED_KEYS = (
        "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.bias",
    )

    def load_from_pretrained(self, spec: str | os.PathLike, **from_pretrained: Any) -> bool:
        """Take the pre-trained MLM head of ``spec`` — a hub name (``bert-base-uncased``,
        ``Luyu/condenser``) or a folder, by one code path: ``BertForMaskedLM.from_pretrained``, as the
        authors' code does (``AutoModelForMaskedLM.from_pretrained``), whatever the weight format.
        Returns whether the checkpoint had the head; one without it (a bare ``BertModel``, a
        sentence-transformers export) keeps the fresh head, and the caller records that."""
        from transformers import BertForMaskedLM

        model, info = BertForMaskedLM.from_pretrained(str(spec), output_loading_info=True, **from_pretrained)
        missing = sorted(set(info.get("missing_keys", ())) & set(self.PRETRAINED_KEYS))
        if missing:
            log.info("%s has no pre-trained MLM head (missing %s): the head starts fresh", spec, ", ".join(missing))
            return False
        predictions = model.cls.predictions
        with torch.no_grad():
            self.dense.load_state_dict(predictions.transform.dense.state_dict())
            self.layer_norm.load_state_dict(predictions.transform.LayerNorm.state_dict())
            self.bias.copy_(predictions.bias)
        log.info("MLM head initialised from %s", spec)
        return True


def masked_lm_sums(
    hidden: torch.Tensor, labels: torch.Tensor, head: MLMHead, embedding_weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of cross-entropies over labelled positions, and their count. Only those positions are
    projected to the vocabulary (the expensive part), as Condenser's code does."""
    selected = labels != IGNORE_INDEX
    count = selected.sum()
    if not bool(selected.any()):
        # Keep the graph connected (DDP expects every parameter to receive a gradient).
        return (hidden.sum() * 0.0 + head.bias.sum() * 0.0), count
    logits = head(hidden[selected], embedding_weight).float()
    return F.cross_entropy(logits, labels[selected], reduction="sum"), count


def mean_from_sums(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    return total / count.clamp(min=1).to(total.dtype)


class Side(NamedTuple):
    """One side of a training pair as the collator gives it: tokens, mask and MLM labels
    (``IGNORE_INDEX`` where a token is not predicted)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


class PretrainModel(nn.Module):
    """Base of the loss modules: ``encoder`` (the BERT kept after pre-training), ``mlm_head``, and
    schema-specific heads. ``forward`` takes the collator's tensors and returns ``{"loss",
    "components"}`` (see qcpt.training.trainer): the loss is the sum of the named components each schema's
    :meth:`losses` computes, in their order."""

    schema: str = ""

    def __init__(self, encoder: BertModel):
        super().__init__()
        self.encoder = encoder
        self.mlm_head = MLMHead(encoder.config)
        init_weights(self.mlm_head, encoder.config.initializer_range)

    def forward(
        self,
        passage_input_ids: torch.Tensor,
        passage_attention_mask: torch.Tensor,
        passage_labels: torch.Tensor,
        context_input_ids: torch.Tensor,
        context_attention_mask: torch.Tensor,
        context_labels: torch.Tensor,
    ) -> dict[str, Any]:
        components = self.losses(Side(passage_input_ids, passage_attention_mask, passage_labels),
                                 Side(context_input_ids, context_attention_mask, context_labels))
        first, *rest = components.values()
        return {"loss": sum(rest, first), "components": {k: v.detach() for k, v in components.items()}}

    def losses(self, passage: Side, context: Side) -> dict[str, torch.Tensor]:
        """The schema's named loss terms (scalars), e.g. ``{"mlm": ..., "decoder_mlm": ...}``."""
        raise NotImplementedError

    def embedding_weight(self) -> torch.Tensor:
        return self.encoder.get_input_embeddings().weight

    def masked_lm(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The shared MLM head's loss on ``hidden``, a mean over the tokens ``labels`` predicts."""
        return mean_from_sums(*masked_lm_sums(hidden, labels, self.mlm_head, self.embedding_weight()))

    def passage_mlm(self, passage: Side) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's last hidden states of the passage and its MLM loss."""
        last = self.encoder(input_ids=passage.input_ids, attention_mask=passage.attention_mask).last_hidden_state
        return last, self.masked_lm(last, passage.labels)

    def decoder_input(self, passage_last: torch.Tensor, context_input_ids: torch.Tensor) -> torch.Tensor:
        """What a context decoder reads: the passage's [CLS] vector (the bottleneck) in place of the
        context's own [CLS], then the context's token embeddings (the encoder's embedding layer)."""
        context_embeddings = self.encoder.embeddings(input_ids=context_input_ids)
        return torch.cat([passage_last[:, :1], context_embeddings[:, 1:]], dim=1)

    def head_config(self) -> dict[str, Any]:
        """Architecture of the heads (saved beside them; a mismatch refuses to load them)."""
        return {}

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith(ENCODER_PREFIX)}

    def load_head_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = set(self.head_state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise ValueError(f"heads do not fit the {self.schema} model: missing {sorted(missing)}, "
                             f"unexpected {sorted(unexpected)}")
        self.load_state_dict(state, strict=False)
