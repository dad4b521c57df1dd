"""``finetune.py``: fine-tune a dense retriever with the Tevatron recipe on HF Trainer.

    finetune.py --train train.jsonl --collection collection.jsonl --init DIR --out DIR
                --checkpoints DIR --log train_log.json --params '{...}'

- ``--train``: Tevatron training JSONL (``make_train_data.py``): query, positive and negative docids.
- ``--collection``: collection JSONL the docids refer to (only the needed rows are kept in memory).
- ``--init``: the encoder to start from (folder, ``package:<module>/<path>``); its tokenizer is used.
- ``--out``: written atomically at the end: the encoder (``save_pretrained``: ``AutoModel`` loads
  it), its tokenizer, ``qcpt_pooling.json`` (``{"pooling", "normalize", "q_max_len", "p_max_len"}``, the defaults of
  encode/search) and
  ``qcpt_finetune.json`` (parameters, data counts).
- ``--checkpoints``: Trainer checkpoints and the run's manifest (parameters, checksums of the
  training data, collection and init: :mod:`qcpt.checkpoints`); a rerun of a killed job resumes
  from the newest checkpoint when the manifest matches, and starts afresh (saying what changed) when
  it does not.
- ``--retention``: ``{"keep_last": N, "delete_after_final": bool}`` (default: the workflow's
  ``$QCPT_CHECKPOINT_RETENTION``, else keep 2 and delete them once the model is written).
- ``--log``: training-log JSON (docs/artifacts.md).

Each epoch, every query contributes 1 positive and ``train_n_passages - 1`` hard negatives drawn
afresh (:class:`TrainDataset`); the loss sees all passages of the (cross-device) batch
(:mod:`.biencoder`). Defaults are the papers' (lr 2e-5, 3 epochs, warmup 0.1, batch 8 queries per
device × 16 passages, query 32 / passage 144 tokens, CLS pooling, dot product, temperature 1).
Weight decay defaults to 0, Tevatron's default (HF Trainer's too). Passages are encoded as
``title + " " + text`` (:func:`qcpt.retrieval.data.passage_text`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import AutoModel, TrainerCallback, set_seed

from ..checkpoints import Retention, finish_checkpoints, plan_resume, run_identity
from ..io import InputError, atomic_dir, read_jsonl, require_str, write_json
from ..models import load_pretrained, load_tokenizer, resolve_model_path
from ..training import JsonLogCallback, LossModuleTrainer, run_training, training_arguments
from .biencoder import BiEncoder
from .data import load_passages, passage_text
from .encoding import POOLING_FILE
from .params import FinetuneParams, parse_params, setup_logging

log = logging.getLogger(__name__)

OUTPUT_RECORD = "qcpt_finetune.json"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TrainGroup:
    query_id: str
    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


def read_train_groups(path: str | os.PathLike) -> tuple[list[TrainGroup], dict[str, int]]:
    """Groups of a Tevatron training JSONL. Negatives that are also positives are dropped (a
    negative must never be a positive); returns the groups and counts of what was dropped."""
    groups: list[TrainGroup] = []
    stats = {"negatives_equal_to_a_positive": 0}
    for lineno, obj in read_jsonl(path):
        qid = require_str(path, lineno, obj, "query_id")
        query = require_str(path, lineno, obj, "query")
        lists = {}
        for key in ("positive_document_ids", "negative_document_ids"):
            value = obj.get(key)
            if not isinstance(value, list) or not all(isinstance(x, str | int) and not isinstance(x, bool) for x in value):
                raise InputError(path, lineno, key, "expected a list of document ids")
            # Interned: on MS MARCO the same docids recur across ~10^8 list entries.
            lists[key] = [sys.intern(str(x)) for x in value]
        positives = tuple(dict.fromkeys(lists["positive_document_ids"]))
        if not positives:
            raise InputError(path, lineno, "positive_document_ids", "empty")
        pos = set(positives)
        negatives = tuple(d for d in dict.fromkeys(lists["negative_document_ids"]) if d not in pos)
        stats["negatives_equal_to_a_positive"] += sum(1 for d in lists["negative_document_ids"] if d in pos)
        groups.append(TrainGroup(qid, query, positives, negatives))
    if not groups:
        raise InputError(path, None, None, "holds no training queries")
    return groups, stats


def restrict_to_collection(groups: Sequence[TrainGroup], known: set[str], path: str | os.PathLike,
                           need_negatives: bool) -> tuple[list[TrainGroup], dict[str, int]]:
    """Drop docids the collection lacks, then groups left without a positive (or a negative when
    negatives are needed). Nothing found at all means the wrong collection: an InputError."""
    kept: list[TrainGroup] = []
    stats = {"missing_docids": 0, "queries_without_positive": 0, "queries_without_negative": 0}
    for g in groups:
        positives = tuple(d for d in g.positives if d in known)
        negatives = tuple(d for d in g.negatives if d in known)
        stats["missing_docids"] += len(g.positives) + len(g.negatives) - len(positives) - len(negatives)
        if not positives:
            stats["queries_without_positive"] += 1
        elif need_negatives and not negatives:
            stats["queries_without_negative"] += 1
        else:
            kept.append(TrainGroup(g.query_id, g.query, positives, negatives))
    if not kept:
        raise InputError(path, None, None, f"no usable training query: its docids are not in the collection ({stats})")
    if any(stats.values()):
        log.warning("training data vs collection: %s", stats)
    return kept, stats


class TrainDataset(Dataset):
    """Per query: ``{"query": text, "passages": [positive, negative × (n_passages - 1)]}``.

    What a query gets depends only on ``(seed, epoch, query index)``, so every process and every
    resumed run draws the same. Per query, its negatives are shuffled once (seeded by seed and query
    index); epoch ``e`` takes the next ``n_passages - 1`` of that order starting at ``e × (n - 1)``,
    wrapping around, so all negatives are used before any repeats. With fewer negatives than needed,
    all of them are used and the rest is drawn with replacement (seeded by seed, epoch, query).
    Positives rotate over the epochs the same way. Negatives never include a positive.
    """

    def __init__(self, groups: Sequence[TrainGroup], texts: dict[str, str], n_passages: int, seed: int = 42):
        self.groups = list(groups)
        self.texts = texts
        self.n_passages = n_passages
        self.seed = seed
        self.epoch = 0
        for g in self.groups:
            if set(g.positives) & set(g.negatives):
                raise ValueError(f"query {g.query_id!r}: a document is both positive and negative")
            if n_passages > 1 and not g.negatives:
                raise ValueError(f"query {g.query_id!r} has no negatives, {n_passages - 1} are needed")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.groups)

    def sample_ids(self, index: int, epoch: int | None = None) -> tuple[str, list[str]]:
        """``(positive docid, negative docids)`` of query ``index`` in ``epoch`` (default: current)."""
        epoch = self.epoch if epoch is None else epoch
        g = self.groups[index]
        fixed = np.random.default_rng([self.seed, index])
        positive = g.positives[(int(fixed.integers(len(g.positives))) + epoch) % len(g.positives)]
        need, n = self.n_passages - 1, len(g.negatives)
        if need == 0:
            return positive, []
        order = fixed.permutation(n)
        if n >= need:
            start = (epoch * need) % n
            chosen = [int(order[(start + j) % n]) for j in range(need)]
        else:
            per_epoch = np.random.default_rng([self.seed, epoch, index])
            chosen = list(order) + [int(x) for x in per_epoch.integers(n, size=need - n)]
            per_epoch.shuffle(chosen)
        return positive, [g.negatives[i] for i in chosen]

    def __getitem__(self, index: int) -> dict[str, Any]:
        positive, negatives = self.sample_ids(index)
        return {"query": self.groups[index].query, "passages": [self.texts[d] for d in (positive, *negatives)]}


class BiEncoderCollator:
    """Tokenise a batch: queries (≤ q_max_len) and the flat list of their passages (≤ p_max_len)."""

    def __init__(self, tokenizer, q_max_len: int = 32, p_max_len: int = 144):
        self.tokenizer = tokenizer
        self.q_max_len = q_max_len
        self.p_max_len = p_max_len

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        queries = [f["query"] for f in features]
        passages = [p for f in features for p in f["passages"]]
        q = self.tokenizer(queries, truncation=True, max_length=self.q_max_len, padding=True, return_tensors="pt")
        p = self.tokenizer(passages, truncation=True, max_length=self.p_max_len, padding=True, return_tensors="pt")
        return {"query_input_ids": q["input_ids"], "query_attention_mask": q["attention_mask"],
                "passage_input_ids": p["input_ids"], "passage_attention_mask": p["attention_mask"]}


class EpochCallback(TrainerCallback):
    """Tell the dataset which epoch starts, so negatives are redrawn each epoch. ``state.epoch`` is
    whole at an epoch's start and ``epochs done + fraction`` when resuming mid-epoch. (accelerate's
    ``DataLoader.set_epoch`` reaches the dataset only while the sampler has no ``set_epoch`` of its
    own — true of the plain sampler Trainer uses today, not of seeded or distributed ones — so the
    epoch is set here explicitly, whatever the sampler.)"""

    def __init__(self, dataset: TrainDataset):
        self.dataset = dataset
        self.epochs_seen: list[int] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = math.floor((state.epoch or 0.0) + 1e-9)
        self.dataset.set_epoch(epoch)
        self.epochs_seen.append(epoch)


class CandidatesCallback(TrainerCallback):
    """Record in the training log how many passages each query was scored against (its own
    positive and negatives, the batch's others and, under DDP, the other processes')."""

    def __init__(self, model: BiEncoder, log_callback: JsonLogCallback):
        self.model = model
        self.log_callback = log_callback

    def on_step_end(self, args, state, control, **kwargs):
        if self.model.last_candidates:
            self.log_callback.meta["candidates_per_query"] = self.model.last_candidates


# --------------------------------------------------------------------------- driver


def total_steps(n_queries: int, params: FinetuneParams, world: int) -> int:
    """Optimizer steps of the run (full batches only). Computed here so warmup_ratio applies to
    epoch-based runs too."""
    plan = params.batch_plan(world)
    per_epoch = n_queries // (plan.per_device_batch_size * world) // plan.gradient_accumulation_steps
    if per_epoch == 0:
        raise ValueError(f"{n_queries} training queries cannot fill one step of {plan.per_device_batch_size} × "
                         f"{world} processes × {plan.gradient_accumulation_steps} accumulation steps")
    if params.max_steps is not None:
        return params.max_steps
    return max(1, math.ceil(params.num_train_epochs * per_epoch))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finetune.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="Tevatron training JSONL")
    parser.add_argument("--collection", required=True, help="collection JSONL {docid, title, text}")
    parser.add_argument("--init", required=True, help="initial encoder: folder or package:<module>/<path>")
    parser.add_argument("--out", required=True, help="output model folder")
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder (resumed from when present)")
    parser.add_argument("--log", required=True, help="training log JSON")
    parser.add_argument("--params", default="{}", help="JSON object of FinetuneParams")
    parser.add_argument("--retention", help='checkpoint retention {"keep_last": N, "delete_after_final": bool}')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    params = parse_params(FinetuneParams, args.params)
    retention = Retention.from_cli(args.retention)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    plan = params.batch_plan(world)  # before any data is read: a batch the devices cannot make fails here
    try:
        groups, read_stats = read_train_groups(args.train)
        wanted = {d for g in groups for d in (*g.positives, *g.negatives)}
        passages = load_passages(args.collection, wanted)
        groups, coverage = restrict_to_collection(groups, set(passages), args.train, params.train_n_passages > 1)
    except InputError as err:
        log.error("%s", err)
        return 2
    texts = {d: passage_text(p.title, p.text) for d, p in passages.items()}
    dataset = TrainDataset(groups, texts, params.train_n_passages, params.seed)
    steps = total_steps(len(dataset), params, world)

    set_seed(params.seed)
    init_dir = resolve_model_path(args.init)
    tokenizer = load_tokenizer(init_dir)
    encoder = load_pretrained(AutoModel, init_dir)
    model = BiEncoder(encoder, params.pooling, params.normalize, params.temperature)

    extra: dict[str, Any] = {"max_grad_norm": params.max_grad_norm}
    backend = params.ddp_backend or ("gloo" if world > 1 and not torch.cuda.is_available() else None)
    if backend:
        extra["ddp_backend"] = backend
    training_args = training_arguments(
        args.checkpoints, learning_rate=params.learning_rate, per_device_batch_size=plan.per_device_batch_size,
        max_steps=steps, warmup_ratio=params.warmup_ratio, weight_decay=params.weight_decay,
        lr_scheduler_type=params.lr_scheduler, save_steps=params.save_steps, logging_steps=params.logging_steps,
        seed=params.seed, gradient_accumulation_steps=plan.gradient_accumulation_steps, bf16=params.bf16,
        dataloader_num_workers=params.dataloader_num_workers, retention=retention, **extra,
    )
    # What decides whether existing checkpoints may be resumed (the world size changes the batch).
    identity = run_identity(
        {"finetune": asdict(params), "world_size": world},
        {"train": args.train, "collection": args.collection, "init": args.init},
    ) if int(os.environ.get("RANK", "0")) == 0 else None
    resume = plan_resume(args.checkpoints, identity, training_args)
    resuming = resume.resume_from is not None
    meta = {
        "params": asdict(params), "init": args.init, "train": str(args.train), "collection": str(args.collection),
        "queries": len(dataset), "data": {**read_stats, **coverage}, **plan.as_log(),
        "global_batch_queries": plan.global_batch_size,
        "passages_per_query": params.train_n_passages, "resumed_from_steps": [],
        "inputs": resume.identity.get("inputs"), "checkpoints_discarded": resume.discarded,
    }
    json_log = JsonLogCallback(args.log, meta, resuming=resuming)
    trainer = LossModuleTrainer(model=model, args=training_args, train_dataset=dataset,
                                data_collator=BiEncoderCollator(tokenizer, params.q_max_len, params.p_max_len),
                                callbacks=[EpochCallback(dataset), CandidatesCallback(model, json_log), json_log])
    json_log.meta["parallel_mode"] = training_args.parallel_mode.value  # "distributed" under torchrun
    log.info("fine-tuning %s on %d queries: %d steps, %d queries × %d passages per device, %d processes",
             init_dir, len(dataset), steps, plan.per_device_batch_size, params.train_n_passages, world)
    start = run_training(trainer, resume)
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        with atomic_dir(args.out) as tmp:
            model.encoder.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_json(Path(tmp) / POOLING_FILE, {"pooling": params.pooling, "normalize": params.normalize,
                                                  "q_max_len": params.q_max_len, "p_max_len": params.p_max_len})
            write_json(Path(tmp) / OUTPUT_RECORD, {**json_log.meta, "started_at_step": start,
                                                   "final_step": trainer.state.global_step})
        log.info("fine-tuned encoder written to %s", args.out)
        finish_checkpoints(args.checkpoints, retention)
    trainer.accelerator.wait_for_everyone()
    return 0

