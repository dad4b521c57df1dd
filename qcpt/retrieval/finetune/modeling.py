"""The fine-tuning loss module: a shared-encoder bi-encoder with in-batch and cross-device negatives.

Per query the batch holds ``n_passages`` passages (its positive first, then hard negatives). Scores
are dot products of pooled vectors (optionally L2-normalised) divided by a temperature (1 in the
Tevatron recipe); the loss is cross-entropy of every query over *all* passages of the batch, the
target of query ``i`` being passage ``i * n_passages``. Under DDP, query and passage vectors are
gathered from every process first, so each query also meets the other processes' passages.

Not the pre-training contrastive loss (:mod:`qcpt.pretrain.objectives.contrastive`): that one pairs
passages with contexts and its gather sums the gradient back to the owner; here the gather keeps
only the local slice's gradient and the loss is rescaled by the world size instead.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..vectors import POOLINGS, embed


def gather_keeping_local_grad(local: torch.Tensor) -> torch.Tensor:
    """Concatenate ``local`` from all processes (rank order); only the local slice keeps its grad."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local.detach().contiguous())
    parts[dist.get_rank()] = local
    return torch.cat(parts, dim=0)


def query_passage_loss(q_reps: torch.Tensor, p_reps: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Cross-entropy of each query over all passages; query i's positive is passage i * (P / Q)."""
    n_queries, n_all = q_reps.shape[0], p_reps.shape[0]
    if n_all % n_queries:
        raise ValueError(f"{n_all} passages for {n_queries} queries: not a whole number per query")
    scores = (q_reps @ p_reps.T).float() / temperature
    target = torch.arange(n_queries, device=scores.device) * (n_all // n_queries)
    return F.cross_entropy(scores, target)


class BiEncoder(nn.Module):
    """``forward`` returns ``{"loss", "components": {"contrastive"}}`` (qcpt.training.trainer's contract)."""

    def __init__(self, encoder: nn.Module, pooling: str = "cls", normalize: bool = False, temperature: float = 1.0):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.encoder = encoder
        # BERT's pooler (a tanh layer over CLS) is not part of the retriever: frozen, it is saved
        # unchanged and DDP (find_unused_parameters=False) meets no parameter left without a gradient.
        for name, param in encoder.named_parameters():
            if name.split(".")[0] == "pooler":
                param.requires_grad_(False)
        self.pooling = pooling
        self.normalize = normalize
        self.temperature = temperature
        self.last_candidates = 0  # passages each query was scored against in the last step (for the log)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return embed(self.encoder, input_ids, attention_mask, self.pooling, self.normalize)

    def forward(self, query_input_ids: torch.Tensor, query_attention_mask: torch.Tensor,
                passage_input_ids: torch.Tensor, passage_attention_mask: torch.Tensor) -> dict:
        q_reps = gather_keeping_local_grad(self.encode(query_input_ids, query_attention_mask))
        p_reps = gather_keeping_local_grad(self.encode(passage_input_ids, passage_attention_mask))
        loss = query_passage_loss(q_reps, p_reps, self.temperature)
        self.last_candidates = int(p_reps.shape[0])
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        # Every process computes the same global loss, but its gradient reaches only the local
        # vectors; DDP then *averages* gradients over processes, so scale by the world size to get
        # the gradient of the global loss.
        return {"loss": loss * world, "components": {"contrastive": loss.detach()}}
