"""``scripts/qcpt.py retrieval.train_data``: a run + topics + qrels → Tevatron training JSONL (hard negatives).

    scripts/qcpt.py retrieval.train_data --run R --topics T --qrels Q --out train.jsonl --params '{...}'

For each topic (in topic-file order) with at least one positive (judgment ≥ ``min_relevance``):
the candidates are the run's top ``depth`` documents (re-sorted by score, ties by docid) minus the
positives; ``keep`` of them are kept (``null``: all), chosen by ``selection``:

- ``"top"``: the ``keep`` best-ranked candidates;
- ``"random"``: ``keep`` candidates drawn uniformly without replacement, seeded by ``seed`` and the
  query id (so a query's draw does not depend on the others' or on file order). This is the QAC
  authors' ``build_train_hn.py`` (``load_ranking``): ``negatives[:depth]``, shuffled,
  ``[:n_sample]`` with depth 200 and n_sample 128 — ranks 129-200 get used too. Two differences:
  their ``negatives`` already exclude the positives, so they take the first 200 *non-positive*
  documents of a depth-1000 run where we take the top 200 and then drop the positives; and their
  shuffle is one global ``random`` stream over the queries in run order, ours is per query, so it
  survives reordering and sharding (docs/fidelity.md, row 3).

This serves both recipes:

- BM25 negatives for retriever 1: a BM25 run, ``{"depth": 200, "keep": null}``;
- mined negatives for retriever 2: retriever 1's run, ``{"depth": 200, "keep": 128, "selection":
  "random"}`` (the papers' presets; ``"top"`` is the switch for the first 128 by rank); with
  ``merge_with`` (another training JSONL, e.g. the BM25 one) that file's negatives for the same query
  are appended after them, without duplicates or positives ("BM25 + mined").

Topics without a positive are skipped, and so are topics left with no negative; both are counted in
the log.

The format's reader is here too: :func:`read_train_groups` (what fine-tuning trains on) and
:func:`restrict_to_collection` (its docids checked against the collection).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.io import InputError, read_jsonl, require_str, write_jsonl
from ..core.params import ParamsError
from .data import load_qrels, load_topics
from .params import parse_params, setup_logging
from .runs import RunNotGrouped, iter_run, ranked_docids, read_run

log = logging.getLogger(__name__)


@dataclass
class TrainDataParams:
    depth: int = 200
    keep: int | None = None
    min_relevance: int = 1
    merge_with: str | None = None
    selection: str = "top"       # "top" (first `keep` by rank) or "random" (seeded sample of `keep`)
    seed: int = 42
    depth_counts: str = "hits"   # "hits": the run's top `depth` minus positives; "negatives": the first
    #                              `depth` non-positive hits (build_train_hn.py load_ranking; needs a deeper run)

    def validate(self) -> None:
        if self.depth_counts not in ("hits", "negatives"):
            raise ParamsError("depth_counts", f"must be 'hits' or 'negatives', got {self.depth_counts!r}")
        if self.selection not in ("top", "random"):
            raise ParamsError("selection", f"must be 'top' or 'random', got {self.selection!r}")
        if self.depth < 1:
            raise ParamsError("depth", f"must be ≥ 1, got {self.depth!r}")
        if self.keep is not None and self.keep < 1:
            raise ParamsError("keep", f"must be ≥ 1 or null, got {self.keep!r}")
        if self.min_relevance < 1:
            raise ParamsError("min_relevance", f"must be ≥ 1, got {self.min_relevance!r}")


def read_negatives(path: str | os.PathLike) -> dict[str, list[str]]:
    """``{query_id: negative_document_ids}`` of a training JSONL (for ``merge_with``)."""
    out: dict[str, list[str]] = {}
    for lineno, obj in read_jsonl(path):
        qid = require_str(path, lineno, obj, "query_id")
        negatives = obj.get("negative_document_ids")
        if not isinstance(negatives, list):
            raise InputError(path, lineno, "negative_document_ids", "expected a list of document ids")
        out[qid] = [str(d) for d in negatives]
    return out


def query_rng(seed: int, query_id: str) -> np.random.Generator:
    """A generator of its own per query: seeded by the run seed and a stable digest of the query id."""
    digest = int.from_bytes(hashlib.sha256(query_id.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


def select_negatives(candidates: list[str], keep: int | None, selection: str, seed: int, query_id: str) -> list[str]:
    """``keep`` of ``candidates`` (already without positives): the first ones, or a seeded random
    sample in the order drawn."""
    if keep is None:
        return list(candidates)
    if selection == "top":
        return candidates[:keep]
    order = query_rng(seed, query_id).permutation(len(candidates))
    return [candidates[i] for i in order[:keep]]


def ranked_by_query(run_path: str | os.PathLike, wanted: set[str], depth: int | None) -> dict[str, list[str]]:
    """The first ``depth`` ranked docids of each wanted query: the run streamed a query at a time
    (memory per kept docid, not per line), or read whole where its queries are not grouped."""
    try:
        return {qid: ranked_docids(entries)[:depth] for qid, entries in iter_run(run_path) if qid in wanted}
    except RunNotGrouped:
        return {qid: ranked_docids(entries)[:depth] for qid, entries in read_run(run_path).items() if qid in wanted}


def negatives_from_triples(path: str | os.PathLike, wanted: set[str]) -> dict[str, list[str]]:
    """``{query_id: negative ids}`` of MS MARCO's official training triples, in file order without
    repeats: ``qid<TAB>pos_pid<TAB>neg_pid`` lines (``qidpidtriples.train.full.2.tsv``, a query's
    lines consecutive), or the QAC authors' grouped form ``qid<TAB>pid,pid,...`` (get_data.sh's
    ``train.negatives.tsv``). Only ``wanted`` queries are kept in memory."""
    out: dict[str, list[str]] = {}
    finished: set[str] = set()
    current: str | None = None
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            parts = line.rstrip("\r\n").split("\t")
            if parts == [""]:
                continue
            if len(parts) == 3:
                qid, negatives = parts[0], [parts[2]]
            elif len(parts) == 2:
                qid, negatives = parts[0], parts[1].split(",")
            else:
                raise InputError(path, lineno, None, f"expected qid<TAB>pos<TAB>neg or qid<TAB>pid,pid,..., "
                                 f"found {len(parts)} columns")
            if qid != current:
                if qid in finished:
                    raise InputError(path, lineno, None, f"query {qid!r} appears again after other queries: "
                                     "a query's lines must be consecutive (as in qidpidtriples.train.full.2.tsv)")
                if current is not None:
                    finished.add(current)
                current = qid
            if qid in wanted:
                out.setdefault(qid, []).extend(n for n in negatives if n)
    return {qid: list(dict.fromkeys(negs)) for qid, negs in out.items()}


def build_train_data(run_path, topics_path, qrels_path, params: TrainDataParams,
                     triples: bool = False) -> tuple[list[dict], dict[str, int]]:
    """``triples``: ``run_path`` is MS MARCO's official training triples (the QAC authors'
    retriever-1 negatives, get_data.sh + build_train.py), not a ranked run; ``depth`` does not apply."""
    topics = load_topics(topics_path)
    qrels = load_qrels(qrels_path)
    # depth_counts "negatives" cuts after the positives are gone, so the whole run is read first
    cut = None if triples or params.depth_counts == "negatives" else params.depth
    run = negatives_from_triples(run_path, set(topics)) if triples else ranked_by_query(run_path, set(topics), cut)
    merged = read_negatives(params.merge_with) if params.merge_with else {}
    rows: list[dict] = []
    stats = {"topics": len(topics), "written": 0, "skipped_no_positive": 0, "skipped_no_negative": 0,
             "topics_not_in_run": 0, "merged_negatives_added": 0}
    for qid, query in topics.items():
        positives = [d for d, rel in qrels.get(qid, {}).items() if rel >= params.min_relevance]
        if not positives:
            stats["skipped_no_positive"] += 1
            continue
        if qid not in run:
            stats["topics_not_in_run"] += 1
        pos = set(positives)
        candidates = [d for d in run.get(qid, []) if d not in pos]
        if params.depth_counts == "negatives" and not triples:
            candidates = candidates[:params.depth]
        negatives = select_negatives(candidates, params.keep, params.selection, params.seed, qid)
        if qid in merged:
            present = set(negatives)
            extra = [d for d in dict.fromkeys(merged[qid]) if d not in present and d not in pos]
            negatives += extra
            stats["merged_negatives_added"] += len(extra)
        if not negatives:
            stats["skipped_no_negative"] += 1
            continue
        rows.append({"query_id": qid, "query": query, "positive_document_ids": positives,
                     "negative_document_ids": negatives})
    stats["written"] = len(rows)
    if not rows:
        raise InputError(run_path, None, None, f"no training query could be built from it ({stats})")
    return rows, stats


@dataclass
class HardNegativesParams:
    """sentence-transformers' ``msmarco-hard-negatives.jsonl.gz`` → training JSONL, as BEIR's
    ``train_msmarco_v3.py`` (which the QAC authors point to for their BEIR retriever) reads it."""

    ce_score_margin: float = 3.0     # a negative scoring above (lowest positive ce-score - margin) is dropped
    negatives_per_system: int = 5    # first N kept negatives of each mining system, without repeats

    def validate(self) -> None:
        if self.negatives_per_system < 1:
            raise ValueError(f"negatives_per_system must be ≥ 1, got {self.negatives_per_system}")


def read_hard_negatives(path: str | os.PathLike, topics_path: str | os.PathLike,
                        params: HardNegativesParams) -> tuple[list[dict], dict[str, int]]:
    """Per line ``{"qid", "pos": [{"pid", "ce-score"}], "neg": {system: [{"pid", "ce-score"}]}}``:
    positives are ``pos``; negatives, per system in file order, those whose cross-encoder score is
    at most the lowest positive's minus the margin, up to ``negatives_per_system`` new ones each.
    Queries without a positive or a negative, or absent from the topics, are skipped (counted)."""
    topics = load_topics(topics_path)
    rows: list[dict] = []
    stats = {"lines": 0, "written": 0, "skipped_no_negative": 0, "skipped_not_in_topics": 0,
             "negatives_above_margin": 0}
    for lineno, obj in read_jsonl(path):
        stats["lines"] += 1
        qid = str(obj.get("qid", ""))
        try:
            pos = obj["pos"]
            negs_by_system = obj["neg"]
            positives = [str(item["pid"]) for item in pos]
            threshold = min(float(item["ce-score"]) for item in pos) - params.ce_score_margin
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(path, lineno, "pos/neg", f"not a sentence-transformers hard-negatives line ({err})") from None
        if not positives or not qid:
            raise InputError(path, lineno, "qid/pos", "a line needs a qid and at least one positive")
        if qid not in topics:
            stats["skipped_not_in_topics"] += 1
            continue
        chosen: list[str] = []
        seen = set(positives)
        for items in negs_by_system.values():
            added = 0
            for item in items:
                if float(item["ce-score"]) > threshold:
                    stats["negatives_above_margin"] += 1
                    continue
                pid = str(item["pid"])
                if pid in seen:
                    continue
                seen.add(pid)
                chosen.append(pid)
                added += 1
                if added >= params.negatives_per_system:
                    break
        if not chosen:
            stats["skipped_no_negative"] += 1
            continue
        rows.append({"query_id": qid, "query": topics[qid], "positive_document_ids": positives,
                     "negative_document_ids": chosen})
    stats["written"] = len(rows)
    if not rows:
        raise InputError(path, None, None, f"no training query could be built from it ({stats})")
    return rows, stats


# --------------------------------------------------------------------------- reading (fine-tuning)
#
# What finetune reads back of the files written above: the groups, checked and cleaned.


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run + qrels → Tevatron training JSONL.")
    parser.add_argument("--run", help="TREC run (BM25 or retriever 1)")
    parser.add_argument("--triples", help="instead of --run: MS MARCO's training triples qid/pos/neg TSV "
                        "(or qid<TAB>pid,pid,...); every listed negative is a candidate")
    parser.add_argument("--hard-negatives", help="instead of --run/--qrels: sentence-transformers' "
                        "msmarco-hard-negatives.jsonl(.gz); --params then takes ce_score_margin, negatives_per_system")
    parser.add_argument("--topics", required=True, help="topics TSV qid<TAB>query")
    parser.add_argument("--qrels", help="TREC qrels (with --run)")
    parser.add_argument("--out", required=True, help="training JSONL")
    parser.add_argument("--params", default="{}", help="JSON: depth, keep, selection, seed, min_relevance, merge_with")
    args = parser.parse_args(argv)
    setup_logging()
    if sum(map(bool, (args.hard_negatives, args.run, args.triples))) != 1 or ((args.run or args.triples) and not args.qrels):
        parser.error("give --run or --triples with --qrels, or --hard-negatives")
    try:
        if args.hard_negatives:
            rows, stats = read_hard_negatives(args.hard_negatives, args.topics,
                                              parse_params(HardNegativesParams, args.params))
        else:
            rows, stats = build_train_data(args.run or args.triples, args.topics, args.qrels,
                                           parse_params(TrainDataParams, args.params), triples=bool(args.triples))
    except InputError as err:
        log.error("%s", err)
        return 2
    write_jsonl(args.out, rows)
    negs = [len(r["negative_document_ids"]) for r in rows]
    log.info("wrote %d training queries to %s (negatives per query: min %d, mean %.1f, max %d); %s",
             len(rows), args.out, min(negs), sum(negs) / len(negs), max(negs), stats)
    return 0
