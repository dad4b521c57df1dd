"""The pre-training heads, saved beside the encoder for a curriculum's next stage.

A pre-training output folder holds the plain encoder (``save_pretrained`` of the ``BertModel`` plus
its tokenizer: what fine-tuning, encoding and ``AutoModel`` load) and, separately, everything the
loss module has besides the encoder — MLM head, Condenser head or decoder — in
``pretrain_heads.safetensors``, described by ``pretrain_heads.json`` (schema and head architecture).
Stage 2 of the curriculum starts with ``--init`` at stage 1's folder: the encoder loads as usual and
the driver picks up the heads when the schema and architecture match (``params.init_heads`` names
another heads file explicitly; then a mismatch is an error).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from ..core.io import write_json
from .objectives.common import PretrainModel

log = logging.getLogger(__name__)

HEADS_FILE = "pretrain_heads.safetensors"
HEADS_META = "pretrain_heads.json"
HEADS_FORMAT = 1


def save_heads(model: PretrainModel, folder: str | os.PathLike) -> Path:
    """Write the heads of ``model`` into ``folder`` (which the caller writes atomically)."""
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.head_state_dict().items()}
    save_file(state, str(folder / HEADS_FILE), metadata={"schema": model.schema})
    write_json(folder / HEADS_META, {"format": HEADS_FORMAT, "schema": model.schema,
                                     "head_config": model.head_config(), "tensors": sorted(state)})
    return folder / HEADS_FILE


def _heads_path(location: str | os.PathLike) -> Path:
    p = Path(location)
    return p / HEADS_FILE if p.is_dir() else p


def read_heads_meta(location: str | os.PathLike) -> dict[str, Any] | None:
    meta = _heads_path(location).with_name(HEADS_META)
    if not meta.is_file():
        return None
    return json.loads(meta.read_text(encoding="utf-8"))


def load_heads(model: PretrainModel, location: str | os.PathLike, *, required: bool) -> bool:
    """Load heads from a heads file (or the folder holding one) into ``model``.

    ``required=False`` (the heads found in ``--init``): a missing file, another schema or another
    head architecture is logged and skipped, the heads stay freshly initialised. ``required=True``
    (``params.init_heads``): each of those is an error. Returns whether heads were loaded."""
    path = _heads_path(location)

    def refuse(reason: str) -> bool:
        if required:
            raise ValueError(f"params.init_heads: {path}: {reason}")
        log.info("not loading pre-training heads from %s: %s", path, reason)
        return False

    if not path.is_file():
        return refuse("no heads file")
    meta = read_heads_meta(path)
    if meta is None:
        return refuse(f"no {HEADS_META} beside it")
    if meta.get("schema") != model.schema:
        return refuse(f"heads of schema {meta.get('schema')!r}, this run is {model.schema!r}")
    if meta.get("head_config") != model.head_config():
        return refuse(f"head architecture {meta.get('head_config')} differs from this run's {model.head_config()}")
    model.load_head_state_dict(load_file(str(path), device="cpu"))
    log.info("loaded %s heads from %s", model.schema, path)
    return True


class HeadWarmupCallback(TrainerCallback):
    """Freeze the encoder for the first ``steps`` optimiser steps, so only the heads train.

    Heads that start fresh (an init without an MLM head, the Condenser head, the decoders) begin
    with MLM losses near ln(vocab) ≈ 10; trained jointly from step 0, their large gradients reach
    the encoder and drown the contrastive signal of a short run. Frozen parameters get no gradient
    (``requires_grad`` off, so the encoder's backward is not computed at all): the optimiser skips
    them, and their weights are exactly the init's until the warm-up ends. The state follows
    ``state.global_step``, so a run resumed inside the warm-up stays frozen."""

    def __init__(self, model: PretrainModel, steps: int):
        self.model = model
        self.steps = steps
        self.frozen: bool | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        frozen = state.global_step < self.steps
        if frozen != self.frozen:
            self.model.encoder.requires_grad_(not frozen)
            log.info("step %d: encoder %s", state.global_step, "frozen (head warm-up)" if frozen else "training")
            self.frozen = frozen
