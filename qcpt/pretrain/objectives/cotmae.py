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

from .common import PretrainModel, Side, additive_mask, head_config, init_weights


class CotMaeModel(PretrainModel):
    schema = "cotmae"

    def __init__(self, encoder: BertModel, *, decoder_layers: int = 1):
        super().__init__(encoder)
        config = head_config(encoder.config)
        self.decoder = nn.ModuleList(BertLayer(config) for _ in range(decoder_layers))
        init_weights(self.decoder, config.initializer_range)

    def head_config(self) -> dict[str, Any]:
        return {"decoder_layers": len(self.decoder)}

    def losses(self, passage: Side, context: Side) -> dict[str, torch.Tensor]:
        last, mlm = self.passage_mlm(passage)
        hidden = self.decoder_input(last, context.input_ids)
        mask = additive_mask(context.attention_mask, hidden.dtype)
        for layer in self.decoder:
            hidden = layer(hidden, attention_mask=mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return {"mlm": mlm, "decoder_mlm": self.masked_lm(hidden, context.labels)}
