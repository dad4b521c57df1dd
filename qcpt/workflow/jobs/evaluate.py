"""Jobs of rules/evaluate.smk: encode shards, dense search, metrics (also of mean evalsets)."""

from __future__ import annotations

import shlex
from typing import Any

from .. import cells, grid
from ..defaults import setting
from .base import Job, model, paths
from .finetune import finetune_settings


def encode_job_params(config: dict[str, Any], modelkey: str, collection: str | None = None,
                      topicset: str | None = None) -> dict[str, Any]:
    """The encoding settings of an encode or search job: ``amp`` where ``encoder.amp`` is on,
    :func:`pooling_job_params`, and the eval-time lengths of :func:`length_job_params`."""
    amp = {"amp": True} if setting(config, "encoder", "amp") else {}
    return {**pooling_job_params(config, modelkey), **length_job_params(config, modelkey, collection, topicset), **amp}


def length_job_params(config: dict[str, Any], modelkey: str, collection: str | None,
                      topicset: str | None) -> dict[str, Any]:
    """Eval-time token lengths set per collection (``collections.<c>.max_len``, passages) and per
    evalset (``evalsets.<e>.q_max_len``, queries); they override what the model folder declares (a
    fine-tuned model's training lengths), but not an external encoder's own ``max_len`` /
    ``q_max_len`` (a baseline at the lengths of its published run)."""
    own: dict[str, Any] = {}
    key = cells.parse_model_key(modelkey)
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind == "ext" and key.zeroshot:
        own = config["external_encoders"][encoder.name]
    out: dict[str, Any] = {}
    if collection is None and topicset is not None:
        collection = grid.topic_sets(config)[topicset]["collection"]
    if collection is not None and "max_len" in config["collections"][collection] and "max_len" not in own:
        out["max_len"] = config["collections"][collection]["max_len"]
    evalset = config["evalsets"].get(topicset or "", {})
    if "q_max_len" in evalset and "q_max_len" not in own:
        out["q_max_len"] = evalset["q_max_len"]
    if collection is not None and "title_join" in config["collections"][collection]:
        out["title_join"] = config["collections"][collection]["title_join"]  # how its titles join the text
    return out


def pooling_job_params(config: dict[str, Any], modelkey: str) -> dict[str, Any]:
    """Pooling for external encoders comes from the config; fine-tuned ones carry qcpt_pooling.json.
    Where ``encoder.pooling`` is set, the base and pre-trained encoders at zero-shot are encoded the
    way fine-tuning encodes (that pooling, finetune.params' normalisation and lengths), not as the
    init model folder declares (MiniLM: mean, normalised, 256 tokens): like with like."""
    key = cells.parse_model_key(modelkey)
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind == "ext" and key.zeroshot:
        spec = config["external_encoders"][encoder.name]
        return {k: spec[k] for k in ("pooling", "normalize", "max_len", "q_max_len") if k in spec}
    if key.zeroshot and config["encoder"].get("pooling"):
        def tuned(name: str) -> Any:
            return setting(config, "finetune", "params", name)

        return {"pooling": config["encoder"]["pooling"], "normalize": bool(tuned("normalize")),
                "max_len": int(tuned("p_max_len")), "q_max_len": int(tuned("q_max_len"))}
    return {}


def encode_shard_job_params(config: dict[str, Any], modelkey: str, collection: str | None) -> dict[str, Any]:
    """An encode job's settings: passages only, so no query length."""
    return {k: v for k, v in encode_job_params(config, modelkey, collection=collection).items() if k != "q_max_len"}


def encode(config: dict[str, Any], collection: str, modelkey: str, shard: str, nshards: str) -> Job:
    """One shard of a collection encoded with a model (passages only: no query length)."""
    path, model_input = model(config, modelkey)
    params = encode_shard_job_params(config, modelkey, collection)
    return Job({"collection": paths(config).of("collection", collection=collection), "model": model_input},
               params, {"model": path})


def encode_shards(config: dict[str, Any], collection: str) -> int:
    """Encode jobs per collection; 0: each search job encodes the (small) collection itself."""
    return setting(config, "collections", collection, "encode_shards")


def dense_search_job_params(config: dict[str, Any], topicset: str, modelkey: str) -> dict[str, Any]:
    return {**encode_job_params(config, modelkey, topicset=topicset), "depth": grid.search_depth(config, topicset)}


def search(config: dict[str, Any], topicset: str, modelkey: str) -> Job:
    p = paths(config)
    collection = grid.topic_sets(config)[topicset]["collection"]
    n = encode_shards(config, collection)
    path, model_input = model(config, modelkey)
    inputs = {"shards": [p.of("encode_shard", collection=collection, modelkey=modelkey, shard=i, nshards=n)
                         for i in range(n)],
              "collection": [] if n else [p.of("collection", collection=collection)],
              "topics": p.of("topics", topicset=topicset), "model": model_input}
    if inputs["shards"]:
        source = "--shards " + " ".join(shlex.quote(s) for s in inputs["shards"])
    else:
        source = "--collection " + shlex.quote(inputs["collection"][0])
    return Job(inputs, dense_search_job_params(config, topicset, modelkey), {"model": path, "source": source})





def evaluate_job_params(config: dict[str, Any], evalset: str, system: str | None) -> dict[str, Any]:
    """``system`` None: without the provenance record (``cell``), for validation."""
    spec = config["evalsets"][evalset]
    params: dict[str, Any] = {
        "measures": grid.evalset_measures(config, evalset),
        "relevance_level": setting(config, "evalsets", evalset, "relevance_level"),
        # Evaluation conventions of the benchmark (MS MARCO script recall, BEIR identical ids).
        **{k: spec[k] for k in ("recall", "ignore_identical_ids") if k in spec},
    }
    if system is not None:
        params["cell"] = cell_config(config, evalset, system)
    return params


def evaluate(config: dict[str, Any], evalset: str, system: str) -> Job:
    p = paths(config)
    run = (p.of("bm25_run", topicset=evalset) if system == cells.BM25
           else p.of("dense_run", topicset=evalset, modelkey=system))
    return Job({"run": run, "qrels": p.of("qrels", topicset=evalset)}, evaluate_job_params(config, evalset, system))


def evaluate_mean(config: dict[str, Any], evalset: str, system: str) -> Job:
    """An evalset that is the mean of others (BEIR CQADupStack: 12 sub-forums, each retrieved
    against its own corpus): the members' metrics for the same system, averaged."""
    members = grid.evalset_members(config, evalset)
    files = [paths(config).of("metrics", evalset=m, system=system) for m in members]
    flags = " ".join("--member " + shlex.quote(f"{m}={path}") for m, path in zip(members, files, strict=True))
    params = {"measures": grid.evalset_measures(config, evalset), "cell": cell_config(config, evalset, system)}
    return Job({"members": files}, params, {"members": flags})


def cell_config(config: dict[str, Any], evalset: str, system: str) -> dict[str, Any]:
    """Everything in the config that shaped one metrics file: the evaluation set, and for a dense
    model its pre-training cell (schema settings, context, generator) and fine-tuning settings.
    Recorded in the metrics JSON's provenance, so a number can be traced without the config."""
    cell: dict[str, Any] = {"evalset": evalset, "evalset_spec": config["evalsets"][evalset], "system": system}
    members = grid.evalset_members(config, evalset)
    collections = [config["evalsets"][m]["collection"] for m in members] or [config["evalsets"][evalset]["collection"]]
    if system == cells.BM25:
        bm25 = [config["collections"][c].get("bm25", {}) for c in collections]
        cell["bm25"] = bm25[0] if len(bm25) == 1 else dict(zip(collections, bm25, strict=True))
        return cell
    cell.update(model_cell(config, system))
    return cell


def model_cell(config: dict[str, Any], system: str) -> dict[str, Any]:
    """The config that shaped a dense system's model (:func:`cell_config` without the evaluation
    set): encoder, stage, fine-tuning settings and pre-training cell (model cards state it too)."""
    key = cells.parse_model_key(system)
    cell: dict[str, Any] = {"encoder": key.encoder, "stage": key.stage or cells.ZEROSHOT}
    if not key.zeroshot:
        cell["finetune"] = {
            "dataset": key.dataset,
            "spec": config["finetune"]["datasets"][key.dataset],
            "params": finetune_settings(config, key.dataset, key.stage),
            "negatives": config["finetune"].get("negatives", {}),
        }
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind == "base":
        cell["init"] = config["encoder"]
    elif encoder.kind == "ext":
        cell["external"] = config["external_encoders"][encoder.name]
    else:
        ctx = cells.parse_context(encoder.context)
        cell["pretrain"] = {
            "corpus": config["corpus"],
            "schema": encoder.schema,
            "context": encoder.context,
            "params": config["pretrain"].get("schemas", {}).get(encoder.schema, {}),
            "passages": config.get("passages", {}),
            "encoder": config["encoder"],
        }
        if ctx.generator:
            cell["pretrain"]["generator"] = config["generators"][ctx.generator]
    return cell
