"""``scripts/qcpt.py pretrain.driver``: pre-train an encoder with one schema and one kind of context.

    scripts/qcpt.py pretrain.driver --passages passages.jsonl [--queries queries.tsv] --init DIR --out DIR
                                    --checkpoints DIR --log train_log.json --params '{"schema": "contrastive", ...}'

- ``--init``: the starting encoder (a folder, ``package:<module>/<path>``, or a hub name where the
  hub is reachable). Its tokenizer is used. A ``BertForMaskedLM``-style checkpoint also gives the
  MLM head; a folder written by a previous run of this script also gives the other heads
  (``pretrain_heads.safetensors``) when schema and head architecture match: that is how stage 2 of
  the curriculum continues stage 1.
- ``--out``: written atomically once training ends — the encoder (``BertModel.save_pretrained``:
  ``AutoModel`` loads it), its tokenizer, the heads file, ``qcpt_pretrain.json`` (parameters,
  data counts, provenance), and ``qcpt_pooling.json`` with the sentence-transformers files
  (:mod:`qcpt.retrieval.st_layout`): CLS pooling, no normalisation, dot product, 144/32 tokens,
  what encode/search read a pre-trained encoder with unless the config's ``encoder.pooling`` says
  otherwise (every schema trains the [CLS] vector).
- ``--checkpoints``: Trainer checkpoints and the run's manifest (parameters, checksums of passages,
  queries and init: :mod:`qcpt.training.checkpoints`); a rerun of a killed job resumes from the newest
  checkpoint when the manifest matches, and starts afresh (saying what changed) when it does not.
- ``--retention``: ``{"keep_last": N, "delete_after_final": bool}`` (default: the workflow's
  ``$QCPT_CHECKPOINT_RETENTION``, else keep 2 and delete them once the model is written).
- ``--log``: the training-log JSON of docs/artifacts.md (``history``, ``resumed_from_steps``),
  plus ``world_size``, ``global_batch_size`` and, for the contrastive schema, the measured
  ``contrastive_negatives`` per anchor.
- ``--params``: :class:`qcpt.pretrain.arguments.PretrainParams` as JSON.
- ``--report-to``: training-curve loggers (default: the workflow's ``$QCPT_REPORT_TO``, else none);
  TensorBoard's event files go to ``tensorboard/`` beside ``--log``.

The same command runs under ``torchrun --nproc_per_node N``: Trainer handles DDP (gloo on CPU), and
the contrastive loss takes its negatives from all processes' batches.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from transformers import set_seed

from ..core.models import load_tokenizer, resolve_model_path
from ..core.params import setup_logging
from ..retrieval.st_layout import default_settings, write_encoder_description
from ..training import trainer as training
from ..training.batching import BatchPlan
from ..training.checkpoints import Retention
from .arguments import PretrainParams, parse_params
from .collator import PretrainCollator
from .contexts import registry as context_registry
from .data import PretrainDataset, load_passages, load_queries
from .heads import HEADS_FILE, HeadWarmupCallback, load_heads, save_heads
from .objectives import build_model, load_encoder

log = logging.getLogger("qcpt.pretrain")

OUTPUT_RECORD = "qcpt_pretrain.json"         # in --out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", required=True, help="passages.jsonl")
    parser.add_argument("--queries", help="generated queries TSV (needed by the contexts that read queries: query, mixed)")
    return training.add_run_arguments(
        parser, params="PretrainParams", out="output folder (encoder, tokenizer, heads)",
        init="initial encoder: folder, package:<module>/<path> or hub name")


def _initial_meta(params: PretrainParams, args: argparse.Namespace, dataset: PretrainDataset,
                  plan: BatchPlan) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "schema": params.schema,
        "context": params.context,
        "params": params.to_dict(),
        "init": args.init,
        "passages": str(args.passages),
        "queries": str(args.queries) if args.queries else None,
        "data": dataset.stats,
        # The effective global batch (per device × processes × accumulation) and how it was made.
        **plan.as_log(),
        "resumed_from_steps": [],  # JsonLogCallback restores a resumed run's earlier ones
    }
    return meta


def save_outputs(model: Any, folder: Path) -> None:
    """Beside the encoder: the pre-training heads, and how the encoder is read (qcpt and
    sentence-transformers alike)."""
    save_heads(model, folder)
    write_encoder_description(folder, default_settings())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    retention = Retention.from_cli(args.retention)
    setup_logging()
    params = parse_params(args.params)
    reads_queries = context_registry.get(params.context).reads_queries
    if reads_queries and not args.queries:
        raise ValueError(f"context {params.context!r} needs --queries")
    if not reads_queries and args.queries:
        log.info("context is %r: --queries %s is not used", params.context, args.queries)
    world = training.world_size()
    # Before anything is loaded: the stated global batch must be makeable on these processes.
    plan = params.batch_plan(world)
    checkpoints = Path(args.checkpoints)

    set_seed(params.seed)  # the heads' initialisation is part of the run's determinism
    init_dir = resolve_model_path(args.init)
    tokenizer = load_tokenizer(init_dir)

    passages = load_passages(args.passages, use_title=params.use_title)
    queries = None
    query_stats: dict[str, Any] = {}
    if reads_queries:
        queries, query_stats = load_queries(args.queries, passages)
    dataset = PretrainDataset(passages, context=params.context, queries=queries, span_source=params.span_source,
                              span_crop=(params.span_crop_min, params.span_crop_max),
                              mixed_query_probability=params.mixed_query_probability, seed=params.seed)
    dataset.stats.update(query_stats)
    needed = plan.per_device_batch_size * world
    if len(dataset) < needed:
        raise ValueError(f"{len(dataset)} training examples cannot fill one batch of {plan.per_device_batch_size} × "
                         f"{world} processes (batches are full: the contrastive loss needs equal shards)")

    encoder = load_encoder(init_dir)
    if len(tokenizer) > encoder.config.vocab_size:
        raise ValueError(f"{init_dir}: tokenizer has {len(tokenizer)} tokens, the encoder only "
                         f"{encoder.config.vocab_size} embeddings")
    model = build_model(encoder, params)
    # The init's pre-trained MLM head, by hub name or folder alike (a curriculum's stage 2 gets its
    # head from stage 1's heads file below instead).
    mlm_head_from_init = model.mlm_head.load_from_pretrained(init_dir)
    heads_from = None
    if params.init_heads:
        load_heads(model, params.init_heads, required=True)
        heads_from = params.init_heads
    elif Path(init_dir).is_dir() and (Path(init_dir) / HEADS_FILE).is_file():
        if load_heads(model, init_dir, required=False):
            heads_from = str(Path(init_dir) / HEADS_FILE)

    collator = PretrainCollator(
        tokenizer, schema=params.schema, max_len=params.max_len, query_max_len=params.query_max_len,
        mlm_probability=params.mlm_probability, context_mlm_probability=params.context_mlm_probability,
        whole_word_mask=params.whole_word_mask,
    )
    # A head warm-up leaves the encoder without gradients for a while: DDP must expect that.
    training_args = training.trainer_arguments(params, checkpoints, plan, max_steps=params.max_steps,
                                               retention=retention,
                                               ddp_find_unused_parameters=params.head_warmup_steps > 0,
                                               report_to=training.report_destinations(args.report_to),
                                               log_file=args.log)
    # The run's identity: what decides whether existing checkpoints may be resumed. Queries count
    # only where the context reads them; the world size changes the global batch.
    resume = training.plan_run(
        checkpoints, {"pretrain": params.to_dict(), "world_size": world},
        {"passages": args.passages, "queries": args.queries if reads_queries else None,
         "init": args.init, "init_heads": params.init_heads}, training_args)
    meta = _initial_meta(params, args, dataset, plan)
    meta.update(heads_from=heads_from, mlm_head_from_init=bool(mlm_head_from_init),
                inputs=resume.identity.get("inputs"), checkpoints_discarded=resume.discarded)
    json_log = training.JsonLogCallback(args.log, meta, resuming=resume.resume_from is not None)
    # The log records the negatives each contrastive anchor met (the global batch's).
    trainer = training.build_trainer(model, training_args, dataset, collator, json_log,
                                     {"last_negatives": "contrastive_negatives"})
    if params.head_warmup_steps:
        trainer.add_callback(HeadWarmupCallback(model, params.head_warmup_steps))
    log.info("pre-training %s with %s contexts: %d examples, %d steps, global batch %d = %d per device × %d "
             "processes × %d accumulation", params.schema, params.context, len(dataset), params.max_steps,
             plan.global_batch_size, plan.per_device_batch_size, world, plan.gradient_accumulation_steps)
    start = training.run_training(trainer, resume)

    training.save_final_model(trainer, model.encoder, tokenizer, args.out, OUTPUT_RECORD,
                              {**json_log.meta, "started_at_step": start}, checkpoints, retention,
                              extra=lambda folder: save_outputs(model, folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
