"""``scripts/qcpt.py retrieval.evaluate``: score a TREC run against qrels → metrics JSON (docs/artifacts.md).

Measures are named as in the papers (``MRR@10``, ``R@50``, ``R@1000``, ``nDCG@10``) or in any
ir-measures syntax (``P@10``, ``AP``, ``RR(rel=2)@10`` ...). ``relevance_level`` is the minimum grade
that counts as relevant for *binary* measures (RR, R, P, AP ...), like ``trec_eval -l``: 2 for TREC DL
passage. nDCG always uses the graded judgments.

Computation goes through ir-measures with the pytrec_eval backend (pytrec-eval-terrier, i.e.
trec_eval's code). trec_eval has no RR cutoff, so ``RR@k`` is trec_eval's ``recip_rank`` on the run
truncated to its top k per query (the definition of MS MARCO's MRR@10). A measure pytrec_eval cannot
compute falls back to ir-measures' default providers; the provenance records which was used.

Ties: before scoring, each query's results are re-sorted by ``(-score, docid)`` and handed to the
evaluator with strictly decreasing scores, so ties are broken by docid ascending whatever tool wrote
the run (trec_eval itself would break them by docid descending).

Recall: ``recall="trec"`` (default) is trec_eval's recall, the fraction of a query's relevant
documents in the top k. ``recall="msmarco"`` is what the MS MARCO evaluation script the QAC
authors run (``msmarco/msmarco_eval.py``, ``compute_metrics``) calls ``recall@50`` / ``recall@all``:
1 if *any* relevant passage is in the top k, else 0 (ir-measures' ``Success@k``); the metrics keep
the paper's names (``R@50``, ``R@1000``) and the provenance records the measure computed.

Identical ids: ``ignore_identical_ids`` drops a hit whose docid equals its query id before scoring,
as BEIR's ``EvaluateRetrieval.evaluate`` does; the presets turn it on for the BEIR sets whose
queries are also corpus documents (ArguAna, Quora), where such a hit is the query itself.

Queries: per-query values cover the queries that have judgments. A judged query missing from the
run scores 0 on every measure (``missing_as_zero``, like ``trec_eval -c``); run queries without
judgments are ignored. Both counts are logged and recorded.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import ir_measures

from ..core.io import InputError, read_metrics, sha256_file, write_json
from ..core.params import ParamsError
from .data import load_qrels
from .params import parse_params, setup_logging
from .runs import RunEntry, RunNotGrouped, iter_run, ranked_docids, read_run

log = logging.getLogger(__name__)

ALIASES = {"MRR": "RR"}  # paper names → ir-measures names


@dataclass
class EvaluateParams:
    measures: list[str] = field(default_factory=lambda: ["MRR@10", "R@50", "R@1000", "nDCG@10"])
    relevance_level: int = 1
    missing_as_zero: bool = True
    recall: str = "trec"                # "trec" (fraction of relevant) | "msmarco" (any relevant: Success@k)
    ignore_identical_ids: bool = False  # drop hits with docid == query id (BEIR: ArguAna, Quora)
    cell: dict[str, Any] | None = None  # free-form: which cell of the grid this is (provenance only)

    def validate(self) -> None:
        if self.recall not in ("trec", "msmarco"):
            raise ParamsError("recall", f"must be 'trec' or 'msmarco', got {self.recall!r}")
        if not self.measures or not all(isinstance(m, str) and m.strip() for m in self.measures):
            raise ParamsError("measures", "must be a non-empty list of measure names")
        if len(set(self.measures)) != len(self.measures):
            raise ParamsError("measures", f"measures are listed twice: {self.measures}")
        if not isinstance(self.relevance_level, int) or self.relevance_level < 1:
            raise ParamsError("relevance_level", f"must be an integer ≥ 1, got {self.relevance_level!r}")
        for name in self.measures:  # the names ir-measures understands, before a run is scored
            try:
                to_ir_measure(name, self.relevance_level)
            except ValueError as err:
                raise ParamsError("measures", str(err)) from None


def to_ir_measure(name: str, relevance_level: int = 1, recall: str = "trec"):
    """``"MRR@10"`` → ``RR@10`` (``RR(rel=2)@10`` at relevance level 2); nDCG keeps graded gains.
    With ``recall="msmarco"``, ``R@k`` is the MS MARCO script's recall, ``Success@k``."""
    text = name.strip()
    if recall == "msmarco" and text.startswith(("R@", "R(")):
        text = "Success" + text[1:]
    for alias, real in ALIASES.items():
        if text == alias or text.startswith((alias + "@", alias + "(")):
            text = real + text[len(alias):]
    try:
        measure = ir_measures.parse_measure(text)
    except (ValueError, NameError, SyntaxError) as err:
        raise ValueError(f"unknown measure {name!r} ({err})") from err
    if relevance_level != 1 and "rel" in measure.SUPPORTED_PARAMS and "rel" not in measure.params:
        measure = measure(rel=relevance_level)
    return measure


def _truncate(run: Mapping[str, Mapping[str, float]], depth: int) -> dict[str, dict[str, float]]:
    return {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:depth]) for q, docs in run.items()}


def _without_cutoff(measure):
    """The same measure with no cutoff, or None when it has none."""
    if "cutoff" not in measure.params:
        return None
    rest = {k: v for k, v in measure.params.items() if k != "cutoff"}
    base = ir_measures.parse_measure(measure.NAME)
    return base(**rest) if rest else base


def compute_per_query(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                      measures: Sequence) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """``({str(measure): {qid: value}}, {str(measure): how it was computed})`` for the queries that
    are both judged and in ``run`` (whose scores must already encode the intended order)."""
    backend = ir_measures.pytrec_eval
    values: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    how: dict[str, str] = {}
    direct = [m for m in measures if backend.supports(m)]
    if direct:
        for metric in backend.evaluator(direct, qrels).iter_calc(run):
            values[str(metric.measure)][metric.query_id] = float(metric.value)
        how.update({str(m): "pytrec_eval" for m in direct})
    for m in measures:
        if m in direct:
            continue
        whole = _without_cutoff(m)
        if m.NAME == "RR" and whole is not None and backend.supports(whole):
            for metric in backend.evaluator([whole], qrels).iter_calc(_truncate(run, m["cutoff"])):
                values[str(m)][metric.query_id] = float(metric.value)
            how[str(m)] = f"pytrec_eval {whole} on the run truncated to depth {m['cutoff']}"
        else:
            for metric in ir_measures.iter_calc([m], qrels, run):
                values[str(m)][metric.query_id] = float(metric.value)
            how[str(m)] = "ir_measures default providers"
    return values, how


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


EVALUATE_CHUNK_QUERIES = 256  # queries scored together: per-query measures need no other query


def evaluate(run_path: str | os.PathLike, qrels_path: str | os.PathLike, params: EvaluateParams) -> dict[str, Any]:
    """The metrics document of docs/artifacts.md. The run is streamed query by query and scored in
    chunks of queries (memory per chunk, not per run); a run whose queries are not grouped is read
    whole instead, with the same result."""
    try:
        return _evaluate(iter_run(run_path), run_path, qrels_path, params)
    except RunNotGrouped as err:
        log.info("%s; reading the run whole", err)
        return _evaluate(iter(read_run(run_path).items()), run_path, qrels_path, params)


def _evaluate(groups: Iterator[tuple[str, list[RunEntry]]], run_path: str | os.PathLike,
              qrels_path: str | os.PathLike, params: EvaluateParams) -> dict[str, Any]:
    measures = [to_ir_measure(name, params.relevance_level, params.recall) for name in params.measures]
    first = next(groups)  # the run's first errors before the qrels' (as when the run was read first)
    qrels = load_qrels(qrels_path)
    identical_dropped = 0
    run_qids: set[str] = set()
    values: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    how: dict[str, str] = {}
    chunk: dict[str, dict[str, float]] = {}

    def score_chunk() -> None:
        chunk_values, chunk_how = compute_per_query(chunk, {q: qrels[q] for q in chunk}, measures)
        for name, per_q in chunk_values.items():
            values[name].update(per_q)
        how.update(chunk_how)
        chunk.clear()

    for qid, entries in itertools.chain([first], groups):
        if params.ignore_identical_ids:
            kept = [e for e in entries if e.docid != qid]
            identical_dropped += len(entries) - len(kept)
            entries = kept
        run_qids.add(qid)
        if qid not in qrels:
            continue
        # Our tie-breaking, made explicit to the evaluator: strictly decreasing scores in our order.
        chunk[qid] = {docid: float(len(entries) - i) for i, docid in enumerate(ranked_docids(entries))}
        if len(chunk) >= EVALUATE_CHUNK_QUERIES:
            score_chunk()
    run = run_qids
    judged = [q for q in qrels]
    in_both = [q for q in judged if q in run]
    missing = [q for q in judged if q not in run]
    unjudged = sum(1 for q in run if q not in qrels)
    if not in_both:
        raise InputError(run_path, None, None, f"has no query in common with the qrels {qrels_path}")
    if chunk:
        score_chunk()
    if missing:
        log.warning("%d judged queries are missing from the run%s", len(missing),
                    " (they score 0)" if params.missing_as_zero else " (ignored)")
    if unjudged:
        log.info("%d run queries have no judgments and are ignored", unjudged)
    counted = in_both + (missing if params.missing_as_zero else [])
    per_query: dict[str, dict[str, float]] = {}
    summary: dict[str, float] = {}
    for name, measure in zip(params.measures, measures, strict=True):
        computed = values[str(measure)]
        per_q = {q: computed.get(q, 0.0) for q in counted}
        if any(math.isnan(v) for v in per_q.values()):
            raise RuntimeError(f"{name}: NaN per-query values (a judged query with no relevant document?)")
        per_query[name] = per_q
        summary[name] = sum(per_q.values()) / len(per_q)
    return {
        "measures": summary,
        "per_query": per_query,
        "num_queries": len(counted),
        "run": str(run_path),
        "qrels": str(qrels_path),
        "provenance": {
            "run_sha256": sha256_file(run_path),
            "qrels_sha256": sha256_file(qrels_path),
            "params": asdict(params),
            "ir_measures": {name: str(m) for name, m in zip(params.measures, measures, strict=True)},
            "computed_with": {name: how[str(m)] for name, m in zip(params.measures, measures, strict=True)},
            "tie_breaking": "per query by score descending, then docid ascending",
            "identical_id_hits_dropped": identical_dropped if params.ignore_identical_ids else None,
            "judged_queries": len(judged),
            "judged_queries_missing_from_run": len(missing),
            "run_queries_without_judgments": unjudged,
            "versions": {p: _package_version(p) for p in ("ir-measures", "pytrec-eval-terrier")},
        },
    }


def mean_of_metrics(members: Mapping[str, str | os.PathLike], measures: Sequence[str],
                    cell: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metrics document of an evalset that is the mean of others (``{member: metrics path}``):
    each measure is the unweighted mean of the members' scores — BEIR's CQADupStack number is the
    mean over its 12 sub-forums, each retrieved against its own corpus, not a mean over the pooled
    queries. ``per_query`` pools the members' queries as ``<member>/<qid>`` (for paired tests)."""
    docs = {}
    for member, path in members.items():
        doc = read_metrics(path)
        absent = [m for m in measures if m not in doc["measures"]]
        if absent:
            raise InputError(path, None, "measures", f"lacks {', '.join(absent)} needed for the mean")
        docs[member] = doc
    return {
        "measures": {m: sum(d["measures"][m] for d in docs.values()) / len(docs) for m in measures},
        "per_query": {m: {f"{member}/{q}": v for member, d in docs.items() for q, v in d["per_query"][m].items()}
                      for m in measures},
        "num_queries": sum(d["num_queries"] for d in docs.values()),
        "run": None,
        "qrels": None,
        "provenance": {
            "mean_of": {member: {"metrics": str(members[member]), "measures": d["measures"],
                                 "num_queries": d["num_queries"]} for member, d in docs.items()},
            "aggregation": "unweighted mean of the members' measures (per_query pools their queries)",
            "params": {"measures": list(measures), "cell": cell},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a TREC run → metrics JSON.")
    parser.add_argument("--run", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--out", required=True, help="metrics JSON")
    parser.add_argument("--params", default="{}",
                        help='JSON: measures (e.g. ["MRR@10","nDCG@10"]), relevance_level, missing_as_zero, cell')
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(EvaluateParams, args.params)
    try:
        metrics = evaluate(args.run, args.qrels, params)
    except InputError as err:
        log.error("%s", err)
        return 2
    write_json(args.out, metrics)
    log.info("%s over %d queries: %s", args.run, metrics["num_queries"],
             ", ".join(f"{k}={v:.4f}" for k, v in metrics["measures"].items()))
    return 0


def main_mean(argv: list[str] | None = None) -> int:
    """``scripts/qcpt.py retrieval.evaluate:mean --member NAME=metrics.json ... --out metrics.json --params '{"measures": [...]}'``."""
    parser = argparse.ArgumentParser(description="Mean of several metrics JSONs.")
    parser.add_argument("--member", action="append", required=True, help="NAME=path of a member's metrics JSON")
    parser.add_argument("--out", required=True, help="metrics JSON")
    parser.add_argument("--params", default="{}", help='JSON: measures, cell')
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(EvaluateParams, args.params)
    members = {}
    for item in args.member:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--member {item!r}: expected NAME=path")
        members[name] = path
    try:
        metrics = mean_of_metrics(members, params.measures, params.cell)
    except InputError as err:
        log.error("%s", err)
        return 2
    write_json(args.out, metrics)
    log.info("mean of %d evalsets: %s", len(members), ", ".join(f"{k}={v:.4f}" for k, v in metrics["measures"].items()))
    return 0
