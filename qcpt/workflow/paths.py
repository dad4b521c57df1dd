"""Where every artifact lives: one template per artifact, under the config's ``results`` folder.

The rules' ``output:`` are these templates (``Paths(R).metrics`` is
``results/eval/{evalset}/{system}/metrics.json``, wildcards in braces), and every reader fills in the
same template (``Paths(R).of("metrics", evalset=..., system=...)``) or parses a path back with
:meth:`Paths.parse`. The wildcard values are the cell names of :mod:`.cells`.
"""

from __future__ import annotations

import os
import re
from typing import Any

TEMPLATES = {
    # pre-training corpus
    "documents": "corpus/{corpus}/documents.jsonl",
    "punkt": "corpus/{corpus}/punkt.pickle",
    "embedded_encoder": "corpus/{corpus}/embedded-encoder",
    "passages": "corpus/{corpus}/passages.jsonl",
    "passage_order": "corpus/{corpus}/passage-order.txt",
    "passages_index": "corpus/{corpus}/bm25-passages",
    # generated queries
    "generator_model": "generators/{gen}/model",
    "query_shard": "corpus/{corpus}/queries/{gen}/shards/shard-{shard}.tsv",
    "query_shard_stats": "corpus/{corpus}/queries/{gen}/shards/shard-{shard}.stats.json",
    "queries": "corpus/{corpus}/queries/{gen}/c{qcount}-n{amount}.tsv",
    "queries_stats": "corpus/{corpus}/queries/{gen}/c{qcount}-n{amount}.stats.json",
    "queries_audit": "corpus/{corpus}/queries/{gen}/c{qcount}-n{amount}.audit.json",
    # pre-training (a training run's folder holds its model, log and checkpoints)
    "pretrain_run": "pretrain/{corpus}/{schema}/{context}",
    "pretrain_model": "pretrain/{corpus}/{schema}/{context}/model",
    "pretrain_log": "pretrain/{corpus}/{schema}/{context}/train_log.json",
    "pretrain_checkpoints": "pretrain/{corpus}/{schema}/{context}/checkpoints",  # not an output
    # external data by ID: the pointer file of an ir_datasets dataset's cache (qcpt.corpus.irds)
    "irds_dataset": "irds/{irdsid}.irds.json",
    # retrieval data and BM25
    "collection": "data/{collection}/collection.jsonl",
    "bm25_index": "data/{collection}/bm25-index",
    "topics": "topics/{topicset}.tsv",
    "qrels": "topics/{topicset}.qrels",
    "bm25_run": "bm25/{topicset}.trec",
    # fine-tuning
    "bm25_negatives": "finetune/{dataset}/bm25-negatives.jsonl",
    "st_hard_negatives": "finetune/{dataset}/st-hard-negatives.jsonl",
    "mined_negatives": "finetune/{dataset}/{encoder}/mined-negatives.jsonl",
    "finetune_run": "finetune/{dataset}/{encoder}/{stage}",
    "finetune_model": "finetune/{dataset}/{encoder}/{stage}/model",
    "finetune_log": "finetune/{dataset}/{encoder}/{stage}/train_log.json",
    "finetune_checkpoints": "finetune/{dataset}/{encoder}/{stage}/checkpoints",  # not an output
    # dense retrieval and evaluation
    "encode_shard": "encode/{collection}/{modelkey}/shard-{shard}-of-{nshards}.npz",
    "dense_run": "eval/{topicset}/{modelkey}/run.trec",
    "metrics": "eval/{evalset}/{system}/metrics.json",
    # reports
    "summary_md": "summary.md",
    "summary_csv": "summary.csv",
    "reproduction_md": "reproduction.md",
    "reproduction_json": "reproduction.json",
    "report_dir": "report",
    "report_index": "report/index.md",
    # a trained model's card beside its model folder, and its publish bundle ({trained}: the run
    # folder, pretrain/<corpus>/<schema>/<context> or finetune/<dataset>/<encoder>/<stage>)
    "trained_model": "{trained}/model",  # the same folder as its pretrain_model / finetune_model
    "trained_log": "{trained}/train_log.json",  # the same file as its pretrain_log / finetune_log
    "model_card": "{trained}/README.md",
    "loss_curve": "{trained}/loss.png",
    "publish_bundle": "publish/{trained}",
}

# Each rule's log, under <results>/logs/.
LOGS = {
    "documents": "corpus/{corpus}/documents.log",
    "train_punkt": "corpus/{corpus}/punkt.log",
    "build_encoder": "corpus/{corpus}/build_encoder.log",
    "passages": "corpus/{corpus}/passages.log",
    "passage_order": "corpus/{corpus}/passage_order.log",
    "prepare_generator": "generators/{gen}.log",
    "generate_queries": "corpus/{corpus}/queries/{gen}/shard-{shard}.log",
    "index_passages": "corpus/{corpus}/index_passages.log",
    "select_queries": "corpus/{corpus}/queries/{gen}/c{qcount}-n{amount}.log",
    "audit_queries": "corpus/{corpus}/queries/{gen}/c{qcount}-n{amount}.audit.log",
    "pretrain": "pretrain/{corpus}/{schema}/{context}.log",
    "irds_cache": "irds/{irdsid}.log",
    "prepare_collection": "data/{collection}/collection.log",
    "prepare_topics": "topics/{topicset}.log",
    "bm25_index": "data/{collection}/bm25_index.log",
    "bm25_search": "bm25/{topicset}.log",
    "bm25_negatives": "finetune/{dataset}/bm25_negatives.log",
    "finetune": "finetune/{dataset}/{encoder}/{stage}.log",
    "mine_negatives": "finetune/{dataset}/{encoder}/mine_negatives.log",
    "st_hard_negatives": "finetune/{dataset}/st_hard_negatives.log",
    "encode": "encode/{collection}/{modelkey}/shard-{shard}-of-{nshards}.log",
    "search": "eval/{topicset}/{modelkey}/search.log",
    "evaluate": "eval/{evalset}/{system}/evaluate.log",
    "evaluate_mean": "eval/{evalset}/{system}/evaluate_mean.log",
    "summary": "summary.log",
    "check_expected": "check_expected.log",
    "report": "report.log",
    "model_card": "cards/{trained}.log",
    "publish": "publish/{trained}.log",
    # not a rule's log: the demo doc2query training log the prepare_generator job writes beside it
    "doc2query_train": "generators/{gen}.train_log.json",
}

_FIELD = re.compile(r"\{(\w+)\}")
MULTI_SEGMENT = ("encoder", "modelkey", "system", "irdsid", "trained")  # cell names that hold "/" (see .cells)


def _pattern(template: str) -> re.Pattern[str]:
    """A template as a regex: a field is one path segment, or several for the cell names that
    hold slashes."""
    parts, last = [], 0
    for m in _FIELD.finditer(template):
        value = ".+" if m[1] in MULTI_SEGMENT else "[^/]+"
        parts += [re.escape(template[last:m.start()]), f"(?P<{m[1]}>{value})"]
        last = m.end()
    return re.compile("^" + "".join(parts) + re.escape(template[last:]) + "$")


class Paths:
    """The templates under one results folder: ``Paths(R).passages`` is the template with its
    wildcards; :meth:`of` fills them in; :meth:`parse` reads them back from a path."""

    def __init__(self, results: str) -> None:
        self.results = str(results)

    def __getattr__(self, name: str) -> str:
        try:
            return f"{self.results}/{TEMPLATES[name]}"
        except KeyError:
            raise AttributeError(f"no artifact {name!r} in qcpt.workflow.paths.TEMPLATES") from None

    def of(self, name: str, **values: Any) -> str:
        return getattr(self, name).format(**values)

    def log(self, rule: str) -> str:
        return f"{self.results}/logs/{LOGS[rule]}"

    def parse(self, name: str, path: str) -> dict[str, str] | None:
        """The wildcard values of ``path`` as an instance of artifact ``name``; None if it is not one."""
        # Compared as normalised paths, as pathlib would: "./results/eval/..." is under "results".
        template = f"{os.path.normpath(self.results)}/{TEMPLATES[name]}"
        m = _pattern(template).match(os.path.normpath(str(path)))
        return m.groupdict() if m else None
