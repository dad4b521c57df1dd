"""What rules/evaluate.smk's jobs read and get beyond their templates: the model a model key encodes
with, the encoded shards (or the collection) a search reads, the run a metrics file scores, the
members of a mean evalset, and each job's settings."""

from __future__ import annotations

from typing import Any

from ...workflow import cells, grid
from ...workflow.defaults import setting
from ...workflow.jobs import model, paths
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


def model_path(config: dict[str, Any], modelkey: str) -> str:
    """The folder (or model name) a model key encodes with."""
    return model(config, modelkey)[0]


def model_inputs(config: dict[str, Any], modelkey: str) -> list[str]:
    """That folder as an input, where the workflow builds it."""
    return model(config, modelkey)[1]


def encode_shards(config: dict[str, Any], collection: str) -> int:
    """Encode jobs per collection; 0: each search job encodes the (small) collection itself."""
    return setting(config, "collections", collection, "encode_shards")


def dense_search_job_params(config: dict[str, Any], topicset: str, modelkey: str) -> dict[str, Any]:
    return {**encode_job_params(config, modelkey, topicset=topicset), "depth": grid.search_depth(config, topicset)}


def encoded_shards(config: dict[str, Any], topicset: str, modelkey: str) -> list[str]:
    """The encode jobs' shards of the collection a topic set searches; none where the collection
    has ``encode_shards: 0``."""
    collection = grid.topic_sets(config)[topicset]["collection"]
    n = encode_shards(config, collection)
    return [paths(config).of("encode_shard", collection=collection, modelkey=modelkey, shard=i, nshards=n)
            for i in range(n)]


def unsharded_collection(config: dict[str, Any], topicset: str) -> list[str]:
    """The collection a topic set searches where the search job encodes it (``encode_shards: 0``)."""
    collection = grid.topic_sets(config)[topicset]["collection"]
    return [] if encode_shards(config, collection) else [paths(config).of("collection", collection=collection)]


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


def scored_run(config: dict[str, Any], evalset: str, system: str) -> str:
    """The run a metrics file scores: the BM25 run, or the dense run of a model key."""
    p = paths(config)
    if system == cells.BM25:
        return p.of("bm25_run", topicset=evalset)
    return p.of("dense_run", topicset=evalset, modelkey=system)


def member_metrics(config: dict[str, Any], evalset: str, system: str) -> dict[str, str]:
    """An evalset that is the mean of others (BEIR CQADupStack: 12 sub-forums, each retrieved
    against its own corpus): each member's metrics file for the same system."""
    return {m: paths(config).of("metrics", evalset=m, system=system) for m in grid.evalset_members(config, evalset)}


def mean_job_params(config: dict[str, Any], evalset: str, system: str) -> dict[str, Any]:
    return {"measures": grid.evalset_measures(config, evalset), "cell": cell_config(config, evalset, system)}


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
