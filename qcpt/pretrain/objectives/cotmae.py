"""CoT-MAE: encoder MLM on the passage + a shallow decoder that reconstructs the masked context.

- Encoder: the passage, MLM-corrupted at 30% (whole-word), MLM loss on its masked tokens.
- Decoder (``decoder_layers`` BERT layers, 1 by default): its input is the encoder's last-layer
  [CLS] vector of the passage followed by the embeddings (the encoder's embedding layer: shared
  word, position and type embeddings) of the context, MLM-corrupted at 45%; bidirectional attention
  over the non-padding positions; MLM loss on the context's masked tokens through the shared MLM
  head. With a query as context the decoder reconstructs the query (query-as-context paper §3).

L = L_mlm + L_decoder_mlm.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import BertModel
from transformers.models.bert.modeling_bert import BertLayer

from .common import (
    PretrainModel,
    additive_mask,
    head_config,
    init_weights,
    masked_lm_sums,
    mean_from_sums,
)


class CotMaeModel(PretrainModel):
    schema = "cotmae"

    def __init__(self, encoder: BertModel, *, decoder_layers: int = 1):
        super().__init__(encoder)
        config = head_config(encoder.config)
        self.decoder = nn.ModuleList(BertLayer(config) for _ in range(decoder_layers))
        init_weights(self.decoder, config.initializer_range)

    def head_config(self) -> dict[str, Any]:
        return {"decoder_layers": len(self.decoder)}

    def forward(
        self,
        passage_input_ids: torch.Tensor,
        passage_attention_mask: torch.Tensor,
        passage_labels: torch.Tensor,
        context_input_ids: torch.Tensor,
        context_attention_mask: torch.Tensor,
        context_labels: torch.Tensor,
    ) -> dict[str, Any]:
        embedding = self.embedding_weight()
        last = self.encoder(input_ids=passage_input_ids, attention_mask=passage_attention_mask).last_hidden_state
        mlm = mean_from_sums(*masked_lm_sums(last, passage_labels, self.mlm_head, embedding))
        context_embeddings = self.encoder.embeddings(input_ids=context_input_ids)
        hidden = torch.cat([last[:, :1], context_embeddings[:, 1:]], dim=1)
        mask = additive_mask(context_attention_mask, hidden.dtype)
        for layer in self.decoder:
            hidden = layer(hidden, attention_mask=mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        decoder_mlm = mean_from_sums(*masked_lm_sums(hidden, context_labels, self.mlm_head, embedding))
        loss = mlm + decoder_mlm
        return {"loss": loss, "components": {"mlm": mlm.detach(), "decoder_mlm": decoder_mlm.detach()}}
