"""``scripts/qcpt.py querygen.doc2query``: a tiny docT5query stand-in for the demo (no T5 weights exist offline).

A small ``T5ForConditionalGeneration`` is built from config on the demo encoder's WordPiece
vocabulary and trained to map ``text2query: <positive document>`` to its query, using the training
topics, qrels and collection — the same recipe docT5query used on MS MARCO, at toy scale. The
result is a normal Hugging Face seq2seq folder that the ``hf-seq2seq`` backend samples from with the
``doct5query`` prompt.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.io import InputError, atomic_dir, read_jsonl, read_tsv, require_str, write_json
from ..core.models import load_tokenizer
from ..core.params import ParamsError
from ..training.checkpoints import Retention, finish_checkpoints, plan_resume, run_identity
from .params import parse_params
from .prompts import DOCT5QUERY_PREFIX

log = logging.getLogger(__name__)


@dataclass
class Doc2QueryParams:
    max_steps: int = 300
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_kv: int = 32
    dropout_rate: float = 0.1
    max_source_tokens: int = 160
    max_target_tokens: int = 32
    include_title: bool = False
    min_relevance: int = 1
    logging_steps: int = 10
    save_steps: int = 100
    seed: int = 42

    def validate(self) -> None:
        for name in ("max_steps", "batch_size", "d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                     "d_kv", "max_source_tokens", "max_target_tokens", "min_relevance", "logging_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ParamsError(name, f"must be >= 1, got {getattr(self, name)!r}")
        if self.learning_rate <= 0:
            raise ParamsError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        if self.weight_decay < 0:
            raise ParamsError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")
        for name in ("warmup_ratio", "dropout_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ParamsError(name, f"must be in [0, 1), got {getattr(self, name)!r}")


def read_judged_queries(topics: str, qrels: str, *, min_relevance: int = 1) -> list[tuple[str, str, str]]:
    """``(qid, query, docid)`` for every judgment of at least ``min_relevance`` whose query is in the
    topics, in qrels order."""
    queries = {}
    for lineno, row in read_tsv(topics, ["qid", "query"]):
        if not row["query"].strip():
            raise InputError(topics, lineno, "query", "empty")
        queries[row["qid"]] = row["query"].strip()
    judged: list[tuple[str, str, str]] = []
    with open(qrels, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 4:
                raise InputError(qrels, lineno, None, f"expected 'qid 0 docid relevance', found {len(parts)} fields")
            try:
                rel = int(parts[3])
            except ValueError as err:
                raise InputError(qrels, lineno, "relevance", f"not an integer: {parts[3]!r}") from err
            if rel >= min_relevance and parts[0] in queries:
                judged.append((parts[0], queries[parts[0]], parts[2]))
    return judged


def read_training_pairs(
    collection: str, topics: str, qrels: str, *, min_relevance: int = 1, include_title: bool = False
) -> list[tuple[str, str]]:
    """``(document text, query)`` for every judged-relevant pair whose query and document exist."""
    judged = read_judged_queries(topics, qrels, min_relevance=min_relevance)
    wanted = {docid for _, _, docid in judged}
    docs: dict[str, str] = {}
    for lineno, row in read_jsonl(collection):
        docid = require_str(collection, lineno, row, "docid")
        if docid not in wanted:
            continue
        text = require_str(collection, lineno, row, "text", allow_empty=True)
        title = str(row.get("title") or "").strip()
        body = f"{title}. {text}" if include_title and title else text
        if body.strip():
            docs[docid] = body
    pairs = [(docs[docid], query) for _, query, docid in judged if docid in docs]
    if not pairs:
        raise InputError(qrels, None, None, "no relevant (query, document) pair has both its query in the topics and its document in the collection")
    return pairs


def build_tokenizer(path: str) -> Any:
    """The encoder's WordPiece tokenizer, with an end-of-sequence token for the decoder ([SEP])."""
    tokenizer = load_tokenizer(path)
    if tokenizer.pad_token_id is None:
        raise InputError(path, None, None, "tokenizer has no pad token")
    if tokenizer.eos_token_id is None:
        if tokenizer.sep_token is None:
            raise InputError(path, None, None, "tokenizer has neither an eos nor a sep token to end queries with")
        tokenizer.eos_token = tokenizer.sep_token
    return tokenizer


def build_model(tokenizer: Any, params: Doc2QueryParams) -> Any:
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=params.d_model,
        d_ff=params.d_ff,
        d_kv=params.d_kv,
        num_layers=params.num_layers,
        num_decoder_layers=params.num_decoder_layers,
        num_heads=params.num_heads,
        dropout_rate=params.dropout_rate,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,  # T5's convention: decoding starts from pad
    )
    model = T5ForConditionalGeneration(config)
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.decoder_start_token_id = tokenizer.pad_token_id
    return model


def _loss_module_class():
    import torch

    class T5LossModule(torch.nn.Module):
        """T5 wrapped for the project trainer: returns ``{"loss", "components": {"lm"}}``."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, labels):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            return {"loss": out.loss, "components": {"lm": out.loss.detach()}}

        def state_dict(self, *args, **kwargs):
            # T5 shares one embedding matrix between encoder, decoder (and head); safetensors refuses
            # aliased tensors, so checkpoints store private copies (loading re-ties them).
            sd = super().state_dict(*args, **kwargs)
            seen: set[int] = set()
            for key, value in sd.items():
                ptr = value.data_ptr()
                if ptr in seen:
                    sd[key] = value.clone()
                seen.add(ptr)
            return sd

    return T5LossModule


class PairDataset:
    def __init__(self, features: list[dict[str, list[int]]]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.features[i]


def tokenize_pairs(pairs: list[tuple[str, str]], tokenizer: Any, params: Doc2QueryParams) -> list[dict[str, list[int]]]:
    sources = tokenizer([DOCT5QUERY_PREFIX + doc for doc, _ in pairs], truncation=True,
                        max_length=params.max_source_tokens)["input_ids"]
    targets = tokenizer([q for _, q in pairs], add_special_tokens=False, truncation=True,
                        max_length=params.max_target_tokens - 1)["input_ids"]
    return [{"input_ids": s, "labels": t + [tokenizer.eos_token_id]} for s, t in zip(sources, targets, strict=True)]


def make_collator(pad_id: int):
    import torch

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        src_len = max(len(b["input_ids"]) for b in batch)
        tgt_len = max(len(b["labels"]) for b in batch)
        input_ids = torch.full((len(batch), src_len), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), src_len), dtype=torch.long)
        labels = torch.full((len(batch), tgt_len), -100, dtype=torch.long)  # -100: ignored by the loss
        for i, b in enumerate(batch):
            input_ids[i, :len(b["input_ids"])] = torch.tensor(b["input_ids"])
            attention[i, :len(b["input_ids"])] = 1
            labels[i, :len(b["labels"])] = torch.tensor(b["labels"])
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}

    return collate


def train_doc2query(
    *, collection: str, topics: str, qrels: str, tokenizer_dir: str, out: str, log_path: str,
    params: Doc2QueryParams, checkpoints: str | None = None, retention: Retention | None = None,
) -> dict[str, Any]:
    import torch

    from ..training.trainer import (
        JsonLogCallback,
        LossModuleTrainer,
        run_training,
        training_arguments,
    )

    retention = retention or Retention()

    pairs = read_training_pairs(collection, topics, qrels, min_relevance=params.min_relevance,
                                include_title=params.include_title)
    tokenizer = build_tokenizer(tokenizer_dir)
    features = tokenize_pairs(pairs, tokenizer, params)
    batch_size = params.batch_size
    if len(features) < batch_size:  # the trainer drops incomplete batches
        log.warning("only %d training pairs; batch size lowered from %d", len(features), batch_size)
        batch_size = len(features)
    torch.manual_seed(params.seed)
    model = build_model(tokenizer, params)
    module = _loss_module_class()(model)
    checkpoint_dir = Path(checkpoints) if checkpoints else Path(str(out).rstrip("/") + ".checkpoints")
    args = training_arguments(checkpoint_dir, params, per_device_batch_size=batch_size, max_steps=params.max_steps,
                              retention=retention)
    # The batch size actually used is part of the run (it is lowered for tiny training sets).
    identity = run_identity({"doc2query": asdict(params), "batch_size_used": batch_size},
                            {"collection": collection, "topics": topics, "qrels": qrels, "tokenizer": tokenizer_dir})
    plan = plan_resume(checkpoint_dir, identity)
    meta = {"model": "t5-doc2query", "pairs": len(pairs), "params": asdict(params),
            "inputs": identity.inputs, "checkpoints_discarded": plan.discarded}
    trainer = LossModuleTrainer(
        model=module, args=args, train_dataset=PairDataset(features),
        data_collator=make_collator(tokenizer.pad_token_id),
        callbacks=[JsonLogCallback(log_path, meta, resuming=plan.resume_from is not None)],
    )
    run_training(trainer, plan)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / "qcpt_doc2query.json", {**meta, "tokenizer": str(tokenizer_dir),
                                                       "prefix": DOCT5QUERY_PREFIX})
    finish_checkpoints(checkpoint_dir, retention)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a tiny T5 doc2query model (the demo's docT5query stand-in).")
    parser.add_argument("--collection", required=True, help="collection JSONL {docid, title, text}")
    parser.add_argument("--topics", required=True, help="training topics TSV qid<TAB>query")
    parser.add_argument("--qrels", required=True, help="training qrels (TREC)")
    parser.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer folder (the demo encoder's WordPiece)")
    parser.add_argument("--out", required=True, help="output model folder")
    parser.add_argument("--log", required=True, help="training log JSON")
    parser.add_argument("--checkpoints", help="checkpoint folder for resuming (default: <out>.checkpoints)")
    parser.add_argument("--params", default="{}", help="JSON hyper-parameters (see Doc2QueryParams)")
    parser.add_argument("--retention", help='checkpoint retention {"keep_last": N, "delete_after_final": bool} '
                        "(default: $QCPT_CHECKPOINT_RETENTION, else keep 2, delete once the model is written)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = parse_params(Doc2QueryParams, args.params)
    meta = train_doc2query(collection=args.collection, topics=args.topics, qrels=args.qrels,
                           tokenizer_dir=args.tokenizer, out=args.out, log_path=args.log,
                           params=params, checkpoints=args.checkpoints,
                           retention=Retention.from_cli(args.retention))
    log.info("trained doc2query on %d pairs -> %s", meta["pairs"], args.out)
    return 0
