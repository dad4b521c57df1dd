"""The ``finetune`` job, top to bottom: parameters, training data, bi-encoder, trainer, final save
(the CLI: :mod:`qcpt.retrieval.finetune`)."""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import AutoModel, set_seed

from ...core.io import InputError
from ...core.models import load_pretrained, load_tokenizer, resolve_model_path
from ...training import trainer as training
from ...training.checkpoints import Retention
from ..data import load_passages, passage_text, title_separator
from ..params import FinetuneParams, parse_params, setup_logging
from ..st_layout import write_encoder_description
from ..train_data import read_train_groups, restrict_to_collection
from ..vectors import EncoderSettings
from .collator import BiEncoderCollator
from .dataset import TrainDataset
from .modeling import BiEncoder

log = logging.getLogger("qcpt.retrieval.finetune")

OUTPUT_RECORD = "qcpt_finetune.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Fine-tune a dense retriever "
                                     "with the Tevatron recipe on HF Trainer.")
    parser.add_argument("--train", required=True, help="Tevatron training JSONL")
    parser.add_argument("--collection", required=True, help="collection JSONL {docid, title, text}")
    return training.add_run_arguments(parser, params="FinetuneParams", out="output model folder",
                                      init="initial encoder: folder or package:<module>/<path>")


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    params = parse_params(FinetuneParams, args.params)
    retention = Retention.from_cli(args.retention)
    world = training.world_size()
    plan = params.batch_plan(world)  # before any data is read: a batch the devices cannot make fails here

    # Training data: the groups whose docids the collection has, and their texts.
    try:
        groups, read_stats = read_train_groups(args.train)
        wanted = {d for g in groups for d in (*g.positives, *g.negatives)}
        passages = load_passages(args.collection, wanted)
        groups, coverage = restrict_to_collection(groups, set(passages), args.train, params.train_n_passages > 1)
    except InputError as err:
        log.error("%s", err)
        return 2
    init_dir = resolve_model_path(args.init)
    tokenizer = load_tokenizer(init_dir)
    separator = title_separator(params.title_join, tokenizer)
    texts = {d: passage_text(p.title, p.text, separator) for d, p in passages.items()}
    dataset = TrainDataset(groups, texts, params.train_n_passages, params.seed)
    steps = total_steps(len(dataset), params, world)

    # The bi-encoder around the init.
    set_seed(params.seed)
    model = BiEncoder(load_pretrained(AutoModel, init_dir), params.pooling, params.normalize, params.temperature)

    # The trainer (qcpt.training.trainer's steps), resumed from this run's checkpoints (the world size
    # changes the batch, so it is part of the run's identity).
    training_args = training.trainer_arguments(params, args.checkpoints, plan, max_steps=steps, retention=retention,
                                               report_to=training.report_destinations(args.report_to),
                                               log_file=args.log)
    resume = training.plan_run(args.checkpoints, {"finetune": asdict(params), "world_size": world},
                               {"train": args.train, "collection": args.collection, "init": args.init}, training_args)
    meta: dict[str, Any] = {
        "params": asdict(params), "init": args.init, "train": str(args.train), "collection": str(args.collection),
        "queries": len(dataset), "data": {**read_stats, **coverage}, **plan.as_log(),
        "global_batch_queries": plan.global_batch_size,
        "passages_per_query": params.train_n_passages, "resumed_from_steps": [],
        "inputs": resume.identity.get("inputs"), "checkpoints_discarded": resume.discarded,
    }
    json_log = training.JsonLogCallback(args.log, meta, resuming=resume.resume_from is not None)
    # The log records how many passages each query was scored against (its own positive and
    # negatives, the batch's others and, under DDP, the other processes').
    collator = BiEncoderCollator(tokenizer, params.q_max_len, params.p_max_len)
    trainer = training.build_trainer(model, training_args, dataset, collator, json_log,
                                     {"last_candidates": "candidates_per_query"})
    log.info("fine-tuning %s on %d queries: %d steps, %d queries × %d passages per device, %d processes",
             init_dir, len(dataset), steps, plan.per_device_batch_size, params.train_n_passages, world)
    start = training.run_training(trainer, resume)

    # The encoder, with the pooling and lengths encode/search default to (qcpt_pooling.json) and
    # the same as a sentence-transformers model.
    def write_pooling(folder: Path) -> None:
        write_encoder_description(folder, EncoderSettings(params.pooling, params.normalize, params.p_max_len,
                                                          params.q_max_len))

    training.save_final_model(trainer, model.encoder, tokenizer, args.out, OUTPUT_RECORD,
                              {**json_log.meta, "started_at_step": start}, args.checkpoints, retention,
                              extra=write_pooling)
    return 0
