"""Turning texts into vectors: pooling, model loading, and batched encoding grouped by length.

Pooling is ``cls`` (the Tevatron/coCondenser recipe: the last layer's first token) or ``mean``
(attention-masked mean, sentence-transformers style), optionally L2-normalised. A model folder
written by ``retrieval.finetune.driver`` carries ``qcpt_pooling.json`` (pooling, normalisation, query and passage
lengths) so encoding uses what it was trained with; a sentence-transformers folder's configuration
is read the same way; anything else defaults to ``cls``, no normalisation, 144/32 tokens
(:func:`resolve_settings`).

:func:`encode_texts` sorts texts by token length and batches neighbours, so a batch is padded only to
its own longest text (on MS MARCO this saves most of the padding); results come back in input order
and equal those of plain in-order batching up to float rounding (``length_sorted=False`` gives the
plain version, for comparisons).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..core.models import load_pretrained, load_tokenizer, resolve_model_path
from .params import POOLINGS

log = logging.getLogger(__name__)

POOLING_FILE = "qcpt_pooling.json"
SORT_WINDOW = 65536  # texts tokenised and length-sorted together (bounds memory on huge shards)


def pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return last_hidden_state[:, 0]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
        return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def embed(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str,
          normalize: bool) -> torch.Tensor:
    """One forward pass of the encoder → pooled (and optionally normalised) vectors."""
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    reps = pool(out.last_hidden_state, attention_mask, pooling)
    return F.normalize(reps, p=2, dim=-1) if normalize else reps


DEFAULTS = {"pooling": "cls", "normalize": False, "p_max_len": 144, "q_max_len": 32}


@dataclass(frozen=True)
class EncoderSettings:
    pooling: str
    normalize: bool
    p_max_len: int
    q_max_len: int


def declared_settings(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What a model folder declares about how to encode with it: ``pooling``, ``normalize``,
    ``p_max_len``, ``q_max_len`` (each None when undeclared) and ``source``.

    ``qcpt_pooling.json`` (written by retrieval.finetune.driver) first; else a sentence-transformers folder
    (``1_Pooling/config.json``, a ``Normalize`` module in ``modules.json``, ``max_seq_length`` of
    ``sentence_bert_config.json`` for queries and passages alike)."""
    folder = Path(model_dir)
    declared: dict[str, Any] = {key: None for key in DEFAULTS}
    own = folder / POOLING_FILE
    if own.is_file():
        cfg = json.loads(own.read_text())
        declared.update({k: cfg[k] for k in DEFAULTS if cfg.get(k) is not None})
        return {**declared, "source": str(own)}
    st_pooling = folder / "1_Pooling" / "config.json"
    if not st_pooling.is_file():
        return {**declared, "source": "none"}
    cfg = json.loads(st_pooling.read_text())
    # sentence-transformers < 6 writes pooling_mode_* flags, 6 one "pooling_mode" string.
    if cfg.get("pooling_mode_cls_token") or cfg.get("pooling_mode") == "cls":
        declared["pooling"] = "cls"
    elif cfg.get("pooling_mode_mean_tokens") or cfg.get("pooling_mode") == "mean":
        declared["pooling"] = "mean"
    else:
        raise ValueError(f"{st_pooling}: only CLS or mean pooling is supported")
    modules = folder / "modules.json"
    declared["normalize"] = modules.is_file() and any(
        m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text()))
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file() and json.loads(st_config.read_text()).get("max_seq_length"):
        declared["p_max_len"] = declared["q_max_len"] = int(json.loads(st_config.read_text())["max_seq_length"])
    return {**declared, "source": str(st_pooling.parent.parent)}


def resolve_settings(model_dir: str | os.PathLike, *, pooling: str | None = None, normalize: bool | None = None,
                     p_max_len: int | None = None, q_max_len: int | None = None) -> EncoderSettings:
    """Explicit parameters win; unset ones come from the model folder, then from :data:`DEFAULTS`
    (CLS, no normalisation, 144 passage / 32 query tokens: the fine-tuning recipe)."""
    declared = declared_settings(model_dir) if Path(model_dir).is_dir() else {k: None for k in DEFAULTS} | {"source": "none"}
    given = {"pooling": pooling, "normalize": normalize, "p_max_len": p_max_len, "q_max_len": q_max_len}
    chosen = {k: given[k] if given[k] is not None else declared[k] if declared[k] is not None else DEFAULTS[k]
              for k in DEFAULTS}
    if chosen["pooling"] not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {chosen['pooling']!r}")
    settings = EncoderSettings(str(chosen["pooling"]), bool(chosen["normalize"]), int(chosen["p_max_len"]),
                               int(chosen["q_max_len"]))
    log.info("encoder settings %s (given %s; declared by %s: %s)", settings,
             {k: v for k, v in given.items() if v is not None}, declared["source"],
             {k: declared[k] for k in DEFAULTS if declared[k] is not None})
    return settings


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_encoder(spec: str, device: torch.device | None = None):
    """``(model in eval mode on device, tokenizer, local folder)`` for a model spec (folder or package:)."""
    from transformers import AutoModel

    folder = resolve_model_path(spec)
    tokenizer = load_tokenizer(folder)
    model = load_pretrained(AutoModel, folder)
    model.to(device or default_device()).eval()
    return model, tokenizer, folder


def _pad(batch: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids.to(device), attention_mask.to(device)


@torch.inference_mode()
def encode_texts(model: torch.nn.Module, tokenizer, texts: Sequence[str], *, max_len: int, batch_size: int = 64,
                 pooling: str = "cls", normalize: bool = False, length_sorted: bool = True,
                 amp: bool = False, progress: bool = True, desc: str = "encoding") -> np.ndarray:
    """Encode ``texts`` → float32 array ``[len(texts), dim]`` in input order.

    ``length_sorted``: tokenise (up to ``max_len`` tokens), sort by length within windows of
    ``SORT_WINDOW`` texts, batch neighbours, and put the vectors back in input order; ``False`` batches
    texts in input order (padding each batch to its longest text). ``amp``: half-precision autocast,
    float16 on CUDA, bfloat16 on CPU (Tevatron's ``--fp16`` encoding; the vectors come back as float32).
    """
    if batch_size < 1 or max_len < 2:
        raise ValueError(f"batch_size must be ≥ 1 and max_len ≥ 2, got {batch_size}, {max_len}")
    device = next(model.parameters()).device
    n = len(texts)
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    chunks: list[tuple[list[int] | slice, np.ndarray]] = []  # (rows, vectors) in encoding order

    def run(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            reps = embed(model, input_ids, attention_mask, pooling, normalize)
        return reps.float().cpu().numpy()

    with tqdm(total=n, desc=desc, unit=" texts", file=sys.stderr, disable=not progress, mininterval=2) as bar:
        if length_sorted:
            for lo in range(0, n, SORT_WINDOW):
                window = list(texts[lo: lo + SORT_WINDOW])
                ids = tokenizer(window, truncation=True, max_length=max_len, add_special_tokens=True)["input_ids"]
                order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: OOM shows early
                for b in range(0, len(order), batch_size):
                    chosen = order[b: b + batch_size]
                    input_ids, attention_mask = _pad([ids[i] for i in chosen], tokenizer.pad_token_id, device)
                    chunks.append(([lo + i for i in chosen], run(input_ids, attention_mask)))
                    bar.update(len(chosen))
        else:
            for lo in range(0, n, batch_size):
                batch = list(texts[lo: lo + batch_size])
                enc = tokenizer(batch, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
                chunks.append((slice(lo, lo + len(batch)),
                               run(enc["input_ids"].to(device), enc["attention_mask"].to(device))))
                bar.update(len(batch))
    if not chunks:
        return np.zeros((0, int(getattr(model.config, "hidden_size", 0))), dtype=np.float32)
    out = np.empty((n, chunks[0][1].shape[1]), dtype=np.float32)
    for rows, reps in chunks:
        out[rows] = reps
    return out


class Throughput:
    """Items per second of a block, for the logs."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def rate(self, items: int) -> tuple[float, float]:
        elapsed = time.perf_counter() - self.start
        return elapsed, items / max(elapsed, 1e-9)
