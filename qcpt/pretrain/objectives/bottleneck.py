"""Bottlenecked query generation: encoder MLM + a windowed causal decoder that writes the context.

- Encoder: the passage, MLM-corrupted at 30% (whole-word), MLM loss on its masked tokens.
- Decoder: ``decoder_layers`` (1) GPT-2-style blocks (pre-LayerNorm self-attention and GELU MLP,
  residuals, a final LayerNorm). Its input sequence is

      position 0:        the encoder's last-layer [CLS] vector of the passage (the bottleneck)
      positions 1..n:    embeddings of the context tokens after [CLS] (q_1 … q_m, [SEP]), from the
                         encoder's embedding layer (shared word, position and type embeddings)

  Position ``i`` predicts context token ``i + 1`` (causal LM; position 0 predicts q_1), so the
  decoder generates the whole context q_1 … q_m [SEP].
- Output (``decoder_head``): by default (``"mlm"``) as the QAC authors' ``cotmae/modeling.py``
  (``BertForCotMAE.forward`` and ``casual_loss``): a dropout on the decoder's input (GPT-2's
  embedding dropout, ``d_head_drop``), the blocks, a final LayerNorm (``d_head_ln_f``), then the
  encoder's own MLM head ``lm.cls`` — dense, GELU, LayerNorm, the tied word-embedding projection and
  its bias — shared with the encoder's MLM loss. ``"tied"`` (qcpt before issue 28): no input
  dropout, the final LayerNorm straight into the tied projection with a bias of its own.
- Attention (:func:`window_attention_mask`): by default (``window=None``) a plain causal decoder,
  the LLM-expansion paper's: position ``i`` attends to positions ``0 … i``. With ``window=W`` (the
  QAC authors' ``--attn_window W``, their CoT-MAE command line uses 3), position ``i`` attends to
  position 0 (the [CLS] vector) and to positions ``max(1, i - W + 1) … i`` — itself and its
  ``W - 1`` previous tokens — and to nothing else; padding is never attended. With a short window
  the decoder cannot read the context it is writing, only the bottleneck, so the [CLS] vector must
  carry it.

L = L_mlm + L_decoder_clm.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel
from transformers.activations import ACT2FN

from ..arguments import DECODER_HEADS
from ..masking import IGNORE_INDEX
from .common import PretrainModel, Side, init_weights


def window_attention_mask(length: int, window: int | None, device: torch.device | None = None) -> torch.Tensor:
    """[length, length] boolean matrix, True where query position i may attend key position j:
    ``j <= i`` (``window=None``, plain causal), else ``j == 0`` or ``max(1, i - window + 1) <= j <= i``
    (the authors' attn_window: the mask of their ``build_ar_dec_head``)."""
    i = torch.arange(length, device=device)[:, None]
    j = torch.arange(length, device=device)[None, :]
    if window is None:
        return j <= i
    return (j == 0) | ((j <= i) & (j >= (i - window + 1).clamp(min=1)))


class CausalWindowBlock(nn.Module):
    """One GPT-2 block (pre-LN attention and MLP with residuals) taking an explicit boolean mask."""

    def __init__(self, config: BertConfig):
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of {heads} attention heads")
        self.heads = heads
        self.ln_1 = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln_2 = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.fc = nn.Linear(hidden, config.intermediate_size)
        self.proj = nn.Linear(config.intermediate_size, hidden)
        act = config.hidden_act
        self.activation = ACT2FN[act] if isinstance(act, str) else act
        self.attention_dropout = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x`` [B, L, H]; ``allowed`` [B, 1, L, L] boolean (True = may attend)."""
        b, length, hidden = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(hidden, dim=-1)
        q, k, v = (t.view(b, length, self.heads, hidden // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.attention_dropout if self.training else 0.0
        )
        x = x + self.dropout(self.attn_out(attended.transpose(1, 2).reshape(b, length, hidden)))
        return x + self.dropout(self.proj(self.activation(self.fc(self.ln_2(x)))))


class BottleneckModel(PretrainModel):
    schema = "bottleneck"

    def __init__(self, encoder: BertModel, *, decoder_layers: int = 1, window: int | None = None,
                 decoder_head: str):
        super().__init__(encoder)
        if decoder_head not in DECODER_HEADS:
            raise ValueError(f"decoder_head {decoder_head!r} is not one of {', '.join(DECODER_HEADS)}")
        config = encoder.config
        self.window = window
        self.decoder_head = decoder_head
        # GPT-2's embedding dropout on the decoder input (the authors' d_head_drop, embd_pdrop =
        # BERT's hidden_dropout_prob); the "tied" reading has none.
        self.decoder_input_dropout = nn.Dropout(config.hidden_dropout_prob if decoder_head == "mlm" else 0.0)
        self.decoder = nn.ModuleList(CausalWindowBlock(config) for _ in range(decoder_layers))
        self.decoder_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        if decoder_head == "tied":
            self.decoder_bias = nn.Parameter(torch.zeros(config.vocab_size))
        init_weights(self.decoder, config.initializer_range)

    def head_config(self) -> dict[str, Any]:
        return {"decoder_layers": len(self.decoder), "window": self.window, "decoder_head": self.decoder_head}

    def decoder_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of decoder states (after the blocks): the final LayerNorm, then the
        shared MLM head (``"mlm"``) or the tied projection with the decoder's own bias (``"tied"``)."""
        normed = self.decoder_norm(hidden)
        if self.decoder_head == "mlm":
            return self.mlm_head(normed, self.embedding_weight())
        return F.linear(normed, self.embedding_weight(), self.decoder_bias)

    def decoder_mask(self, context_attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, 1, L, L]: the window pattern, minus padded keys."""
        length = context_attention_mask.shape[1]
        pattern = window_attention_mask(length, self.window, context_attention_mask.device)
        return (pattern[None, :, :] & context_attention_mask.bool()[:, None, :])[:, None]

    def losses(self, passage: Side, context: Side) -> dict[str, torch.Tensor]:
        last, mlm = self.passage_mlm(passage)
        hidden = self.decoder_input_dropout(self.decoder_input(last, context.input_ids))
        allowed = self.decoder_mask(context.attention_mask)
        for block in self.decoder:
            hidden = block(hidden, allowed)
        selected = context.labels != IGNORE_INDEX
        logits = self.decoder_logits(hidden[selected]).float()
        return {"mlm": mlm, "decoder_clm": F.cross_entropy(logits, context.labels[selected])}
