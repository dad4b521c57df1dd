# Helpers for the rule files (config, path builders, job parameters); no rules are defined here.
# Rules only wire files; the logic lives in the qcpt package (imported from the repository root).

import hashlib
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from qcpt import config as qconfig  # noqa: E402
from qcpt import expected as qexpected  # noqa: E402
from qcpt import report as qreport  # noqa: E402

try:
    qconfig.validate(config)
except qconfig.ConfigError as err:
    raise WorkflowError(str(err)) from None

R = config["results"]
CORPUS = config["corpus"]["name"]
METRICS_TARGETS = qconfig.metrics_targets(config)
EXPECTED = qexpected.expected_scores(config)
EXPECTED_TARGETS = [f"{R}/reproduction.md"] if EXPECTED else []
PY = "python"
# Scripts are found next to the Snakefile, so `--directory` can point anywhere; quoted for paths
# with spaces.
S = shlex.quote(str(Path(workflow.basedir) / "scripts"))


def checkpoint_dir(run_dir, params_json):
    """Where a training job keeps resumable checkpoints: keyed by its parameters, so a rerun with the
    same parameters resumes and a rerun with changed ones starts afresh (never mixes the two)."""
    digest = hashlib.sha256(params_json.encode()).hexdigest()[:12]
    return f"{run_dir}/checkpoints/{digest}"


def as_json(obj):
    """Parameters travel to scripts as one JSON object; Snakemake reruns a job when they change."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def repo_path(p):
    """Config paths are relative to the working directory, or absolute."""
    return str(p)


def res(family, key, default):
    """Resources per family of rules from config['resources'] (cluster profiles set these): the
    family's own row, else the `default` row, else ``default``."""
    table = config.get("resources", {})
    return table.get(family, {}).get(key, table.get("default", {}).get(key, default))


def family_resources(family, mem_mb=4000, runtime=60, gpu=0):
    """Resources of a rule family from config['resources'], with local defaults. ``family`` may be a
    function of the wildcards (generation jobs take the vLLM family's GPUs when their backend is vllm).

    GPU options exist only where the family asks for GPUs, and unset string options are absent:
    the SLURM plugin sends `--qos=''` / `-C ''` for an empty string and `--gpus=<model>:1` for a
    gpu_model without a count. For a fixed family an unset key is left out of the rule (the
    profile's default-resources then apply); for a family chosen per job the key is a function that
    returns None where the job's family and the `default` row leave it unset, and Snakemake drops
    None-valued resources from the job."""
    # String options the plugin turns into sbatch flags: gpu_model -> --gpus=<model>:<n>,
    # slurm_partition -> -p, qos -> --qos, constraint -> -C.
    optional_keys = ("gpu_model", "slurm_partition", "qos", "constraint")
    table = config.get("resources", {})

    def pick(wc):
        return family(wc) if callable(family) else family

    def gpus_of(fam):
        return res(fam, "gpu", gpu)

    def option(fam, key):
        if key == "gpu_model" and not gpus_of(fam):
            return None
        return res(fam, key, None) or None

    out = {}
    if callable(family):
        out["gpu"] = lambda wc: gpus_of(pick(wc)) or None
        for key in optional_keys:
            if any(key in spec for spec in table.values()):
                out[key] = lambda wc, key=key: option(pick(wc), key)
    else:
        if gpus_of(family):
            out["gpu"] = gpus_of(family)
        for key in optional_keys:
            if option(family, key) is not None:
                out[key] = option(family, key)
    # A retry (the profile's `retries`) gets more memory; the runtime stays, since the long GPU jobs
    # resume from their last checkpoint.
    out["mem_mb"] = lambda wc, attempt: res(pick(wc), "mem_mb", mem_mb) * attempt
    out["runtime"] = lambda wc: res(pick(wc), "runtime", runtime)
    out["cpus_per_task"] = lambda wc, threads: res(pick(wc), "cpus_per_task", threads)
    return out


def script(name, python=PY):
    """The command that runs one of scripts/ (rules pass it as a param, so provenance sees it)."""
    return f"{python} {S}/{name}.py"


def launcher(family, name):
    """`python script`, or `torchrun` with one process per GPU for multi-GPU jobs.

    The process count is the job's own `gpu` resource, i.e. the number the SLURM plugin puts into
    `--gpus` (and the jobstep into `srun --gpus`), after `--set-resources` overrides and local
    `--resources gpu=N` limits; ``family`` names the resource row the rule draws that count from
    (see family_resources). It is a param, so a changed GPU count (which changes the global batch:
    batch sizes are per device) reruns the job."""

    def launch(wildcards, resources):
        gpus = resources.get("gpu", 0) or 0
        if gpus > 1:
            return f"torchrun --standalone --nproc_per_node={gpus} -- {S}/{name}.py"
        return script(name)

    launch.__name__ = f"launch_{family}"
    return launch


def encoder_init_path():
    init = config["encoder"]["init"]
    if init == "embedded":
        return f"{R}/corpus/{CORPUS}/embedded-encoder"
    return init


def encoder_init_input():
    """The initial encoder as an input when the workflow builds it, else nothing."""
    return [encoder_init_path()] if config["encoder"]["init"] == "embedded" else []


def encoder_model_dir(tag):
    """The folder (or model spec) of an encoder tag."""
    if tag == "base":
        return encoder_init_path()
    if tag.startswith("ext/"):
        return config["external_encoders"][tag[4:]]["model"]
    _, corpus, schema, context = tag.split("/")
    return f"{R}/pretrain/{corpus}/{schema}/{context}/model"


def encoder_model_input(tag):
    path = encoder_model_dir(tag)
    return [path] if tag != "base" and not tag.startswith("ext/") else encoder_init_input()


def model_dir(modelkey):
    dataset, encoder, stage = qconfig.parse_model_key(modelkey)
    if dataset == "zeroshot":
        return encoder_model_dir(encoder)
    return f"{R}/finetune/{dataset}/{encoder}/{stage}/model"


def model_input(modelkey):
    dataset, encoder, _ = qconfig.parse_model_key(modelkey)
    return encoder_model_input(encoder) if dataset == "zeroshot" else [model_dir(modelkey)]


def encode_params(modelkey, max_len=None):
    """Pooling for external encoders comes from config; fine-tuned ones carry qcpt_pooling.json.
    Where `encoder.pooling` is set, the base and pre-trained encoders at zero-shot are encoded the
    way fine-tuning encodes (that pooling, finetune.params' normalisation and lengths), not as the
    init model folder declares (MiniLM: mean, normalised, 256 tokens): like with like."""
    dataset, encoder, _ = qconfig.parse_model_key(modelkey)
    params = {}
    if encoder.startswith("ext/") and dataset == "zeroshot":
        spec = config["external_encoders"][encoder[4:]]
        params = {k: spec[k] for k in ("pooling", "normalize", "max_len") if k in spec}
    elif dataset == "zeroshot" and config["encoder"].get("pooling"):
        tuned = config["finetune"].get("params", {})
        params = {"pooling": config["encoder"]["pooling"], "normalize": bool(tuned.get("normalize", False)),
                  "max_len": int(tuned.get("p_max_len", 144)), "q_max_len": int(tuned.get("q_max_len", 32))}
    return params


def passage_encode_params(modelkey):
    """encode.py's share of :func:`encode_params` (it encodes passages only: no query length)."""
    return {k: v for k, v in encode_params(modelkey).items() if k != "q_max_len"}


TOPIC_SETS = qconfig.topic_sets(config)


# ---- bm25 ----


def bm25_search_params(wc):
    spec = TOPIC_SETS[wc.topicset]
    bm25 = config["collections"][spec["collection"]].get("bm25", {})
    train = wc.topicset.startswith("train-")
    depth = config["finetune"].get("negatives", {}).get("bm25_depth", 200) if train else spec.get("depth", 1000)
    return as_json({**bm25, "depth": depth, "threads": 2, "tag": "bm25"})

# ---- evaluate ----


def collection_of_topicset(topicset):
    return TOPIC_SETS[topicset]["collection"]


def encode_shard_paths(collection, modelkey):
    """The encoded shards a search over ``collection`` reads; none where the collection has
    ``encode_shards: 0`` (each search job encodes the small collection itself)."""
    n = config["collections"][collection].get("encode_shards", 1)
    return [f"{R}/encode/{collection}/{modelkey}/shard-{i}-of-{n}.npz" for i in range(n)]


def search_source(wc, input):
    """search.py's passage source: the encoded shards, or the collection to encode in the job."""
    if input.shards:
        return "--shards " + " ".join(shlex.quote(s) for s in input.shards)
    return "--collection " + shlex.quote(input.collection[0])


def search_collection_input(wc):
    collection = collection_of_topicset(wc.topicset)
    if config["collections"][collection].get("encode_shards", 1):
        return []
    return [f"{R}/data/{collection}/collection.jsonl"]


def search_depth(topicset):
    if topicset.startswith("train-"):
        return config["finetune"].get("negatives", {}).get("mined_depth", 200)
    return TOPIC_SETS[topicset].get("depth", 1000)


def evaluate_run(wc):
    if wc.system == "bm25":
        return f"{R}/bm25/{wc.evalset}.trec"
    return f"{R}/eval/{wc.evalset}/{wc.system}/run.trec"


def evaluate_params(wc):
    spec = config["evalsets"][wc.evalset]
    return as_json(
        {
            "measures": qconfig.evalset_measures(config, wc.evalset),
            "relevance_level": spec.get("relevance_level", 1),
            "cell": qconfig.cell_config(config, wc.evalset, wc.system),
        }
    )


# ---- finetune ----


def finetune_params():
    return as_json({"seed": config.get("seed", 42), **config["finetune"].get("params", {})})


def finetune_collection(wc):
    return f"{R}/data/{config['finetune']['datasets'][wc.dataset]['collection']}/collection.jsonl"


def finetune_train_data(wc):
    if wc.stage == "retriever1":
        return f"{R}/finetune/{wc.dataset}/bm25-negatives.jsonl"
    return f"{R}/finetune/{wc.dataset}/{wc.encoder}/mined-negatives.jsonl"

# ---- pretrain ----


def schema_init(schema):
    """A schema may start from its own encoder (coCondenser starts from Condenser, not BERT)."""
    return config["pretrain"].get("schemas", {}).get(schema, {}).get("init")


def pretrain_context(wc):
    return qconfig.parse_context(wc.context)


def pretrain_inputs(wc):
    ctx = pretrain_context(wc)
    inputs = {"passages": f"{R}/corpus/{wc.corpus}/passages.jsonl"}
    if ctx.kind in ("query", "mixed", "curriculum"):
        inputs["queries"] = f"{R}/corpus/{wc.corpus}/queries/{ctx.generator}/c{ctx.count}-n{ctx.amount}.tsv"
    if ctx.kind == "curriculum":
        inputs["init"] = f"{R}/pretrain/{wc.corpus}/{wc.schema}/stage1-f{ctx.fraction:g}/model"
    else:
        inputs["init"] = [] if schema_init(wc.schema) else encoder_init_input()
    return inputs


def pretrain_params(wc):
    ctx = pretrain_context(wc)
    params = dict(config["pretrain"].get("schemas", {}).get(wc.schema, {}))
    params.pop("init", None)
    params.setdefault("seed", config.get("seed", 42))
    params["schema"] = wc.schema
    total = params.get("max_steps")
    if ctx.kind in ("stage1", "curriculum") and not total:
        raise WorkflowError(f"pretrain.schemas.{wc.schema}.max_steps is needed for curriculum cells")
    if ctx.kind == "stage1":
        params.update(context="span", max_steps=round(total * ctx.fraction), lr_scheduler="cosine")
    elif ctx.kind == "curriculum":
        params.update(
            context="query", max_steps=total - round(total * ctx.fraction),
            lr_scheduler="constant", warmup_ratio=0.0,
        )
    else:
        params["context"] = ctx.kind
    return as_json(params)


def pretrain_init(wc, input):
    if pretrain_context(wc).kind == "curriculum":
        return input.init
    return schema_init(wc.schema) or encoder_init_path()

# ---- querygen ----




def generator_spec(gen):
    # Workflow-level keys (interpreter, demo training, sharding) are not generation settings.
    spec = {k: v for k, v in config["generators"][gen].items() if k not in ("python", "train", "shard_size", "resource_family")}
    spec["name"] = gen
    spec["model"] = generator_model_path(gen)
    spec.setdefault("seed", config.get("seed", 42))
    return spec


def generator_env(wc):
    backend = config["generators"][wc.gen]["backend"]
    return "../envs/vllm.yaml" if backend == "vllm" else "../envs/train.yaml"


def generator_family(wc):
    """A generator's row of `resources:`: its own `resource_family` (e.g. a 13B model with tensor
    parallelism over 2 GPUs), else by backend."""
    spec = config["generators"][wc.gen]
    if spec["backend"] == "precomputed":  # reads a file: no accelerator, no model in memory
        return spec.get("resource_family") or "default"
    return spec.get("resource_family") or ("generate_vllm" if spec["backend"] == "vllm" else "generate")


def generator_model_path(gen):
    model = config["generators"][gen]["model"]
    if model == "embedded-doc2query" or model.startswith("gguf:"):
        return f"{R}/generators/{gen}/model"
    return model


def generator_model_input(wc):
    spec = config["generators"][wc.gen]
    model = spec["model"]
    if spec["backend"] == "precomputed":  # the expansions file: a changed file regenerates the shards
        return [repo_path(model)] if not model.startswith("package:") else []
    return [generator_model_path(wc.gen)] if model == "embedded-doc2query" or model.startswith("gguf:") else []


def doc2query_inputs(gen):
    if config["generators"][gen]["model"] != "embedded-doc2query":
        return {}
    ds_name = next(iter(config["finetune"]["datasets"]))
    ds = config["finetune"]["datasets"][ds_name]
    return dict(
        collection=f"{R}/data/{ds['collection']}/collection.jsonl",
        topics=f"{R}/topics/train-{ds_name}.tsv",
        qrels=f"{R}/topics/train-{ds_name}.qrels",
        tokenizer=encoder_init_input(),
    )


def generator_prepare_command(gen, input, output):
    spec = config["generators"][gen]
    q = shlex.quote
    if spec["model"] == "embedded-doc2query":
        train_log = f"{R}/logs/generators/{gen}.train_log.json"
        return (
            f"{PY} {S}/train_doc2query.py --collection {q(input.collection)} --topics {q(input.topics)}"
            f" --qrels {q(input.qrels)} --tokenizer {q(encoder_init_path())} --out {q(output[0])}"
            f" --log {q(train_log)} --params {q(as_json(spec.get('train', {})))}"
        )
    return f"{PY} {S}/prepare_gguf_model.py --source {q(spec['model'][5:])} --out {q(output[0])}"


# Round-trip consistency@k of every selected query file (InPars/Promptagator's filter, here a
# measure in the stats JSON); on by default, `querygen.consistency: {enabled: false}` turns it off.
CONSISTENCY = {"enabled": True, **config["querygen"].get("consistency", {})}


def consistency_index_input(wc):
    return [f"{R}/corpus/{wc.corpus}/bm25-passages"] if CONSISTENCY["enabled"] else []


def consistency_args(input):
    if not CONSISTENCY["enabled"]:
        return ""
    params = {k: v for k, v in CONSISTENCY.items() if k != "enabled"}
    return f" --consistency-index {shlex.quote(input.index[0])} --consistency {shlex.quote(as_json(params))}"


def query_shards(wc):
    n = qconfig.shards_for_amount(config, wc.gen, wc.amount)
    return [f"{R}/corpus/{wc.corpus}/queries/{wc.gen}/shards/shard-{i:05d}.tsv" for i in range(n)]


# ---- report ----

# The files the report writes are known when the DAG is built (config report.tables, default: the
# demo set); its inputs are the metrics files its tables need that this config also builds, so every
# input has a producer. Cells outside the grid show as missing in the tables, they never fail the job.
REPORT_DIR = f"{R}/report"
REPORT_ENTRIES = qreport.report_entries(config)
REPORT_INPUTS = qreport.metrics_inputs(config)
REPORT_TARGETS = [f"{REPORT_DIR}/{e['file']}" for e in REPORT_ENTRIES] + [f"{REPORT_DIR}/index.md"]


def report_output(entry):
    """CSV tables and PNG figures go into `snakemake --report report.html`, one category per paper."""
    path = f"{REPORT_DIR}/{entry['file']}"
    if not entry["file"].endswith((".csv", ".png")):
        return path
    return report(
        path,
        caption=f"../qcpt/report/captions/{entry['kind']}.rst",
        category=entry["paper"],
        subcategory=entry["title"],
        labels={"artifact": entry["artifact"], "file": entry["file"]},
    )
