# Helpers for the rule files (config, path builders, job parameters); no rules are defined here.
# Rules only wire files; the logic lives in the qcpt package (imported from the repository root).

import json
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from qcpt import config as qconfig  # noqa: E402
from qcpt import expected as qexpected  # noqa: E402
from qcpt import report as qreport  # noqa: E402
from qcpt.cli import job_python  # noqa: E402

try:
    qconfig.validate(config)
except qconfig.ConfigError as err:
    raise WorkflowError(str(err)) from None

R = config["results"]
CORPUS = config["corpus"]["name"]
METRICS_TARGETS = qconfig.metrics_targets(config)
EXPECTED = qexpected.expected_scores(config)
EXPECTED_TARGETS = [f"{R}/reproduction.md"] if EXPECTED else []
# The interpreter of local jobs: the one running Snakemake, so `.venv/bin/snakemake` works without
# activating the venv; under --software-deployment-method conda each rule's environment puts its own
# `python` first on PATH. A generator's `python:` key overrides both.
PY = job_python(workflow.deployment_settings)
# The entry point is found next to the Snakefile, so `--directory` can point anywhere; quoted for
# paths with spaces.
ENTRY = shlex.quote(str(Path(workflow.basedir) / "scripts" / "qcpt.py"))
# Config `checkpoints:` (retention) for the training jobs, as an environment variable in their shell
# commands rather than a param: what is kept of checkpoints never changes a result, so changing it
# must not rerun the jobs (Snakemake reruns on changed params, not on a global's value).
CHECKPOINT_RETENTION = "QCPT_CHECKPOINT_RETENTION=" + shlex.quote(
    json.dumps(config.get("checkpoints", {}), sort_keys=True, separators=(",", ":"))
)


def checkpoint_dir(run_dir):
    """Where a training job keeps resumable checkpoints. One folder per job output: the job records
    its run's identity there (parameters and input checksums, qcpt/checkpoints.py) and resumes only
    checkpoints of the same run; anything else it discards, saying what changed."""
    return f"{run_dir}/checkpoints"


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


def command(name, python=PY):
    """The command line that runs command ``name`` of the table in qcpt/cli.py (rules pass it as a
    param, so provenance sees it)."""
    return f"{python} {ENTRY} {name}"


def launcher(family, name):
    """`python script`, or torchrun (`python -m torch.distributed.run`, the same interpreter) with one
    process per GPU for multi-GPU jobs.

    The process count is the job's own `gpu` resource, i.e. the number the SLURM plugin puts into
    `--gpus` (and the jobstep into `srun --gpus`), after `--set-resources` overrides and local
    `--resources gpu=N` limits; ``family`` names the resource row the rule draws that count from
    (see family_resources). It is a param, so a changed GPU count (which changes the global batch:
    batch sizes are per device) reruns the job."""

    def launch(wildcards, resources):
        gpus = resources.get("gpu", 0) or 0
        if gpus > 1:
            return f"{PY} -m torch.distributed.run --standalone --nproc_per_node={gpus} -- {ENTRY} {name}"
        return command(name)

    launch.__name__ = f"launch_{getattr(family, '__name__', family)}"
    return launch


def job_devices(resources):
    """Processes a training job runs with: its `gpu` resource (what `launcher` gives torchrun), 1 on CPU."""
    return max(int(resources.get("gpu", 0) or 0), 1)


def describe_batch(plan):
    return (f"global batch {plan.global_batch_size} = {plan.per_device_batch_size} per device x "
            f"{plan.devices} devices x {plan.gradient_accumulation_steps} accumulation")


def pretrain_batch(wc, resources):
    """The pre-training job's effective global batch on the GPUs it gets; a stated global batch the
    devices cannot make stops the DAG, naming the key (the driver checks again at run time)."""
    from qcpt.batching import BatchPlanError
    from qcpt.pretrain.arguments import parse_params as parse_pretrain_params

    try:
        return describe_batch(parse_pretrain_params(pretrain_params(wc)).batch_plan(job_devices(resources)))
    except BatchPlanError as err:
        raise WorkflowError(f"pretrain {wc.schema}/{wc.context}: {err}") from None
    except ValueError as err:
        raise WorkflowError(f"pretrain.schemas.{wc.schema}: {err}") from None


def finetune_batch(wc, resources):
    """The fine-tuning job's effective global batch (queries) on the GPUs it gets (see pretrain_batch)."""
    from qcpt.batching import BatchPlanError
    from qcpt.retrieval.params import FinetuneParams, parse_params

    params = parse_params(FinetuneParams, qconfig.finetune_job_params(config, wc.dataset))  # validated with the config
    try:
        plan = params.batch_plan(job_devices(resources))
    except BatchPlanError as err:
        key = "finetune.params" if "global_batch_size" not in config["finetune"]["datasets"][wc.dataset].get(
            "params", {}) else f"finetune.datasets.{wc.dataset}.params"
        message = str(err).replace("finetune.params", key, 1)
        raise WorkflowError(f"finetune {wc.dataset}/{wc.encoder}/{wc.stage}: {message}") from None
    return describe_batch(plan)


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


def encode_params(modelkey):
    return qconfig.encode_job_params(config, modelkey)


def passage_encode_params(modelkey):
    """encode.py's share of :func:`encode_params` (it encodes passages only: no query length)."""
    return {k: v for k, v in encode_params(modelkey).items() if k != "q_max_len"}


TOPIC_SETS = qconfig.topic_sets(config)


# ---- bm25 ----


# Job parameters are built by qcpt.config (which validates every one before the first job).


def bm25_search_params(wc):
    return as_json(qconfig.bm25_search_job_params(config, wc.topicset))

# ---- evaluate ----


def collection_of_topicset(topicset):
    return TOPIC_SETS[topicset]["collection"]


def encode_shard_paths(collection, modelkey):
    """The encoded shards a search over ``collection`` reads; none where the collection has
    ``encode_shards: 0`` (each search job encodes the small collection itself)."""
    n = config["collections"][collection].get("encode_shards", 1)
    return [f"{R}/encode/{collection}/{modelkey}/shard-{i}-of-{n}.npz" for i in range(n)]


def dense_search_params(wc):
    return as_json(qconfig.dense_search_job_params(config, wc.topicset, wc.modelkey))


# Evalsets scored on a run vs means of other evalsets (`mean_of`): the two evaluate rules' patterns.
_MEAN_EVALSETS = [name for name, spec in config["evalsets"].items() if "mean_of" in spec]
MEAN_EVALSET_RE = "|".join(re.escape(n) for n in _MEAN_EVALSETS) or r"(?!x)x"  # (?!x)x: matches nothing
# (Inside the path pattern the evalset is followed by "/", hence the lookahead's "/".)
SCORED_EVALSET_RE = (rf"(?!(?:{MEAN_EVALSET_RE})/)[^/]+" if _MEAN_EVALSETS else r"[^/]+")


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


def evaluate_run(wc):
    if wc.system == "bm25":
        return f"{R}/bm25/{wc.evalset}.trec"
    return f"{R}/eval/{wc.evalset}/{wc.system}/run.trec"


def evaluate_params(wc):
    return as_json(qconfig.evaluate_job_params(config, wc.evalset, wc.system))


# ---- finetune ----


def finetune_params(dataset):
    return as_json(qconfig.finetune_job_params(config, dataset))


def finetune_family(wc):
    """A dataset's row of `resources:` (its own `resource_family`, e.g. a one-GPU recipe), else finetune."""
    return config["finetune"]["datasets"][wc.dataset].get("resource_family", "finetune")


def finetune_collection(wc):
    return f"{R}/data/{config['finetune']['datasets'][wc.dataset]['collection']}/collection.jsonl"


def finetune_train_data(wc):
    if wc.stage == "retriever1":
        if config["finetune"]["datasets"][wc.dataset].get("hard_negatives"):
            return f"{R}/finetune/{wc.dataset}/st-hard-negatives.jsonl"
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
    return as_json(qconfig.pretrain_job_params(config, wc.schema, pretrain_context(wc)))


def pretrain_init(wc, input):
    if pretrain_context(wc).kind == "curriculum":
        return input.init
    return schema_init(wc.schema) or encoder_init_path()

# ---- querygen ----




def generator_spec(gen):
    return qconfig.generator_job_spec(config, gen, generator_model_path(gen))


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
            f"{command('querygen.doc2query')} --collection {q(input.collection)} --topics {q(input.topics)}"
            f" --qrels {q(input.qrels)} --tokenizer {q(encoder_init_path())} --out {q(output[0])}"
            f" --log {q(train_log)} --params {q(as_json(spec.get('train', {})))}"
        )
    return f"{command('querygen.gguf')} --source {q(spec['model'][5:])} --out {q(output[0])}"


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
