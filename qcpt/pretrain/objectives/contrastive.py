"""coCondenser: encoder MLM + Condenser-head MLM + contrastive loss over [CLS] vectors.

Architecture (Gao & Callan 2022, as described in both papers):

- the passage and its context each go through the encoder, both MLM-corrupted (whole-word, 15%);
  the encoder's MLM loss covers the masked tokens of both;
- the Condenser head (``condenser_layers`` = 2 BERT layers) reads the last layer's [CLS] vector
  followed by the token states of encoder layer ``skip_layer`` (6 of 12 in the paper; by default
  half the encoder's depth) and does MLM on the same masked tokens with the same (shared) MLM head;
- the contrastive loss scores [CLS] vectors by dot product over temperature ``τ`` (1): with
  ``negatives="contexts"`` each passage must pick its own context among all contexts of the global
  batch (the LLM-expansion paper's eq. 8; ``B_global - 1`` negatives); with ``negatives="all"``
  every passage and context must pick its partner among the other ``2·B_global - 1`` vectors
  (coCondenser's code; ``2·B_global - 2`` negatives).

L = L_mlm + L_condenser_mlm + L_contrastive (QAC eq. 7); ``mlm_loss_weight`` w gives
w·L_mlm + w·L_condenser_mlm + L_contrastive (the QAC code under gradient caching: w = 2).

Cross-process negatives: vectors are all-gathered; the gather's backward sums every process's
gradient for a vector before handing the owner its slice, so with DDP's gradient averaging the
update is exactly the gradient of the mean loss over the global batch (the usual "local slice only"
gather misses the other processes' terms and rescales instead).

Gradient caching (``grad_cache_chunk``): the contrastive loss couples the whole batch, so the batch
is normally limited by activation memory. With chunking, each chunk of sequences is encoded under
non-reentrant activation checkpointing: the forward keeps only the chunk's inputs and outputs
([CLS] vector, MLM loss sums), the loss is computed on the cached vectors, and the backward
re-encodes one chunk at a time and back-propagates that chunk's vector gradients — the GradCache
schedule (Gao et al. 2021), with dropout replayed identically, in a single ``backward`` that DDP
sees as an ordinary one. Gradients equal those without caching (tested).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import BertModel
from transformers.models.bert.modeling_bert import BertLayer

from .common import (
    PretrainModel,
    Side,
    additive_mask,
    head_config,
    init_weights,
    masked_lm_sums,
    mean_from_sums,
)


class _GatherSummingGrad(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward all-reduces (sums) the incoming gradient and
    returns this process's slice, so every loss term that used a vector reaches its owner."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world, rank = dist.get_world_size(), dist.get_rank()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank, ctx.size = rank, tensor.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.size:(ctx.rank + 1) * ctx.size]


def distributed_world() -> tuple[int, int]:
    """(world size, rank) of the default process group, (1, 0) outside distributed runs."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def gather_summing_grad(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` of every process, concatenated in rank order; the backward sums the gradients of
    all processes (not the fine-tuning gather of :mod:`qcpt.retrieval.finetune.modeling`, which
    keeps only the local slice's)."""
    world, _ = distributed_world()
    return _GatherSummingGrad.apply(tensor) if world > 1 else tensor


def passage_context_loss(
    passages: torch.Tensor, contexts: torch.Tensor, *, temperature: float = 1.0, negatives: str = "contexts"
) -> tuple[torch.Tensor, int]:
    """InfoNCE over dot products of this process's passage/context vectors against the global
    batch. Returns (mean loss over this process's anchors, negatives per anchor).

    ``passages[i]`` and ``contexts[i]`` are a positive pair. ``negatives="contexts"``: anchors are the
    passages, candidates all gathered contexts. ``negatives="all"``: anchors are passages and
    contexts, candidates all gathered passages and contexts except the anchor itself."""
    world, rank = distributed_world()
    local = passages.shape[0]
    passages, contexts = passages.float(), contexts.float()
    if negatives == "contexts":
        candidates = gather_summing_grad(contexts)
        scores = passages @ candidates.T / temperature
        targets = torch.arange(local, device=scores.device) + rank * local
        return F.cross_entropy(scores, targets), candidates.shape[0] - 1
    if negatives != "all":
        raise ValueError(f"negatives must be 'contexts' or 'all', not {negatives!r}")
    anchors = torch.cat([passages, contexts])                       # [2b, d]: p_0..p_b-1, c_0..c_b-1
    candidates = gather_summing_grad(anchors)                       # [W·2b, d], rank blocks in order
    scores = anchors @ candidates.T / temperature
    offset = rank * 2 * local
    own = torch.arange(2 * local, device=scores.device) + offset    # each anchor's own column
    partner = torch.cat([own[local:], own[:local]])                 # p_i ↔ c_i
    scores = scores.masked_fill(F.one_hot(own, candidates.shape[0]).bool(), float("-inf"))
    return F.cross_entropy(scores, partner), candidates.shape[0] - 2


class ContrastiveModel(PretrainModel):
    schema = "contrastive"

    def __init__(
        self,
        encoder: BertModel,
        *,
        condenser_layers: int = 2,
        skip_layer: int | None = None,
        temperature: float = 1.0,
        negatives: str = "contexts",
        grad_cache_chunk: int | None = None,
        mlm_loss_weight: float,
    ):
        super().__init__(encoder)
        self.mlm_loss_weight = mlm_loss_weight
        n_layers = encoder.config.num_hidden_layers
        self.skip_layer = max(1, n_layers // 2) if skip_layer is None else skip_layer
        if not 1 <= self.skip_layer <= n_layers:
            raise ValueError(f"condenser_skip_layer {self.skip_layer} is outside the encoder's 1..{n_layers} layers")
        config = head_config(encoder.config)
        self.condenser = nn.ModuleList(BertLayer(config) for _ in range(condenser_layers))
        init_weights(self.condenser, config.initializer_range)
        self.temperature = temperature
        self.negatives = negatives
        self.grad_cache_chunk = grad_cache_chunk
        self.last_negatives = 0  # negatives per anchor in the latest step (logged by the driver)

    def head_config(self) -> dict[str, Any]:
        return {"condenser_layers": len(self.condenser), "skip_layer": self.skip_layer}

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
        """[CLS] vectors, and sums/counts of the encoder and Condenser-head MLM losses, of a chunk."""
        width = int(attention_mask.sum(dim=1).max())  # drop columns that are padding for the whole chunk
        input_ids, attention_mask, labels = input_ids[:, :width], attention_mask[:, :width], labels[:, :width]
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        last = out.last_hidden_state
        embedding = self.embedding_weight()
        mlm_sum, mlm_count = masked_lm_sums(last, labels, self.mlm_head, embedding)
        hidden = torch.cat([last[:, :1], out.hidden_states[self.skip_layer][:, 1:]], dim=1)
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.condenser:
            hidden = layer(hidden, attention_mask=mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        head_sum, head_count = masked_lm_sums(hidden, labels, self.mlm_head, embedding)
        return last[:, 0], mlm_sum, mlm_count, head_sum, head_count

    def _encode_all(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
        chunk = self.grad_cache_chunk
        if not chunk or chunk >= input_ids.shape[0]:
            return self._encode(input_ids, attention_mask, labels)
        caching = torch.is_grad_enabled()
        results = []
        for start in range(0, input_ids.shape[0], chunk):
            part = (input_ids[start:start + chunk], attention_mask[start:start + chunk], labels[start:start + chunk])
            if caching:
                results.append(checkpoint(self._encode, *part, use_reentrant=False))
            else:
                results.append(self._encode(*part))
        reps = torch.cat([r[0] for r in results])
        return (reps, *(torch.stack([r[i] for r in results]).sum() for i in range(1, 5)))

    def losses(self, passage: Side, context: Side) -> dict[str, torch.Tensor]:
        p_rep, p_mlm, p_n, p_head, p_hn = self._encode_all(*passage)
        c_rep, c_mlm, c_n, c_head, c_hn = self._encode_all(*context)
        mlm = mean_from_sums(p_mlm + c_mlm, p_n + c_n)
        condenser_mlm = mean_from_sums(p_head + c_head, p_hn + c_hn)
        contrastive, self.last_negatives = passage_context_loss(p_rep, c_rep, temperature=self.temperature,
                                                                negatives=self.negatives)
        if self.mlm_loss_weight != 1.0:  # the QAC code's grad-cache path weighs both MLM terms x2 (#10)
            mlm, condenser_mlm = mlm * self.mlm_loss_weight, condenser_mlm * self.mlm_loss_weight
        return {"mlm": mlm, "condenser_mlm": condenser_mlm, "contrastive": contrastive}
