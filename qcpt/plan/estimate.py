"""What one job of the DAG costs: GPU-hours, CPU-hours, wall time and disk, from a throughput whose
source is named.

Throughputs (:class:`Rates`) come, in order, from the training logs of cells already built (the
``samples_per_second`` the trainer logged, divided by the job's processes), from the bench JSON of
the GPU a family asks for (``bench/results/*.json`` whose ``device.name`` contains the family's
``gpu_model``, written by bench/gpu.sh), from the papers' own statements (rates.yaml), and last from
the stated assumptions of rates.yaml. GPU-hours of a job are its work over the per-GPU rate (so they
do not depend on how many GPUs share it); its wall time is that over its GPUs, and the SLURM
submissions it takes are its wall time over the family's ``runtime`` (a job killed at the limit
resumes from its checkpoints on the next submission). Jobs without a GPU get the CPU-hours bound
``runtime x cpus_per_task`` (marked ≤): no rate is recorded for them.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..pretrain import jobs as pretrain_jobs
from ..querygen import jobs as querygen_jobs
from ..retrieval.jobs import evaluate as evaluate_jobs
from ..retrieval.jobs import finetune as finetune_jobs
from ..workflow import grid as wgrid
from ..workflow.defaults import resource
from .dryrun import DagJob

GB = 1e9
MODEL_BYTES = 0.44 * GB  # BERT-base in fp32 safetensors (110M parameters)
CHECKPOINT_BYTES = 3 * MODEL_BYTES  # weights + AdamW's two moments
VECTOR_BYTES = 768 * 4 + 16  # one fp32 BERT-base vector and its id
RUN_LINE_BYTES = 40  # one line of a TREC run
QUERY_LINE_BYTES = 60  # one generated query with its passage id

# rule -> its family in `resources:` (rules/*.smk); finetune and generate_queries choose per job
RULE_FAMILY = {
    "bm25_index": "bm25", "bm25_search": "bm25", "encode": "encode", "search": "encode", "pretrain": "pretrain",
    "prepare_generator": "generate",
}
GPU_RULES = ("pretrain", "finetune", "finetune_beir", "encode", "search", "generate_queries")


@dataclass(frozen=True)
class Rate:
    value: float  # per second per GPU (or per core for FLOP rates)
    unit: str
    source: str


def load_rate_data() -> dict[str, Any]:
    return yaml.safe_load(resources.files("qcpt").joinpath("plan/rates.yaml").read_text(encoding="utf-8"))


def _median_rate(logs: list[Path], key: str = "samples_per_second") -> tuple[float, int] | None:
    """Per-GPU rate over training logs: the median of the trainer's logged rates (global, so divided
    by ``world_size``); the first logged step is left out (warm-up)."""
    rates = []
    for path in logs:
        try:
            log = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        world = max(int(log.get("world_size") or 1), 1)
        values = [h[key] / world for h in log.get("history", []) if isinstance(h.get(key), int | float)
                  and h.get("step", 0) > 1]
        if values:
            rates.append(statistics.median(values))
    return (statistics.median(rates), len(rates)) if rates else None


class Rates:
    """Throughputs for one config and results folder, looked up in the order above."""

    def __init__(self, config: dict[str, Any], bench_dir: str | Path | None = None, data: dict[str, Any] | None = None):
        self.config = config
        self.results = Path(config["results"])
        self.bench_dir = Path(bench_dir) if bench_dir is not None else Path(__file__).resolve().parents[2] / "bench" / "results"
        self.data = data if data is not None else load_rate_data()
        self.used: dict[str, Rate] = {}  # key -> the rate a job used (the plan lists them)

    @cached_property
    def benches(self) -> list[tuple[str, dict[str, Any], str]]:
        """``(device name, JSON, file)`` of the GPU bench JSONs."""
        out = []
        for path in sorted(self.bench_dir.glob("*.json")) if self.bench_dir.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            name = (data.get("device") or {}).get("name") if isinstance(data.get("device"), dict) else None
            if name and data.get("kind") == "gpu":
                out.append((str(name), data, path.name))
        return out

    def _bench(self, gpu: str | None) -> tuple[dict[str, Any], str] | None:
        for name, data, file in self.benches:
            if gpu is None or gpu.lower() in name.lower():
                return data, f"bench/results/{file} ({name})"
        return None

    def _remember(self, key: str, rate: Rate | None) -> Rate | None:
        if rate is not None:
            self.used[key] = rate
        return rate

    def pretrain(self, schema: str, gpu: str | None) -> Rate | None:
        key = f"pretrain {schema} ({gpu or 'any GPU'})"
        if key in self.used:
            return self.used[key]
        logs = sorted(self.results.glob(f"pretrain/*/{schema}/*/train_log.json"))
        measured = _median_rate(logs)
        if measured:
            return self._remember(key, Rate(measured[0], "samples/s/GPU",
                                            f"training logs of {measured[1]} built {schema} cells"))
        bench = self._bench(gpu)
        if bench and (bench[0].get("pretrain", {}).get(schema) or {}).get("samples_per_second"):
            return self._remember(key, Rate(float(bench[0]["pretrain"][schema]["samples_per_second"]), "samples/s/GPU",
                                            f"{bench[1]}, BERT-base {schema}"))
        statements = [s for s in self.data["pretrain"] if s["schema"] == schema]
        statements.sort(key=lambda s: s["gpu"] != (gpu or "").lower())  # the family's GPU first
        if statements:
            s = statements[0]
            value = s["steps"] * s["global_batch"] / (s["gpus"] * s["hours"] * 3600)
            note = "" if gpu is None or s["gpu"] == gpu.lower() else f" ({s['gpu'].upper()} rate; the family asks {gpu})"
            return self._remember(key, Rate(value, "samples/s/GPU", s["source"] + note))
        return None

    def training_tokens(self, gpu: str | None) -> Rate | None:
        """BERT-base training tokens/s per GPU: a bench's fine-tuning figure, else the pre-training rate
        of rates.yaml's ``token_rate`` schema times its tokens per sample."""
        bench = self._bench(gpu)
        if bench and (bench[0].get("finetune") or {}).get("tokens_per_second"):
            return Rate(float(bench[0]["finetune"]["tokens_per_second"]), "tokens/s/GPU", f"{bench[1]}, fine-tuning")
        spec = self.data["token_rate"]
        base = self.pretrain(spec["schema"], gpu)
        if base is None:
            return None
        return Rate(base.value * spec["tokens_per_sample"], "tokens/s/GPU",
                    f"{spec['tokens_per_sample']} tokens per {spec['schema']} sample x ({base.source})")

    def finetune(self, dataset: str, tokens_per_query: int, gpu: str | None) -> Rate | None:
        key = f"finetune {dataset} ({tokens_per_query} tokens/query, {gpu or 'any GPU'})"
        if key in self.used:
            return self.used[key]
        logs = sorted((self.results / "finetune" / dataset).rglob("train_log.json"))
        measured = _median_rate(logs)
        if measured:
            return self._remember(key, Rate(measured[0], "queries/s/GPU",
                                            f"training logs of {measured[1]} built {dataset} fine-tunings"))
        tokens = self.training_tokens(gpu)
        if tokens is None:
            return None
        return self._remember(key, Rate(tokens.value / tokens_per_query, "queries/s/GPU",
                                        f"{tokens_per_query} tokens per query at {tokens.value:,.0f} tokens/s ({tokens.source})"))

    def encode(self, max_len: int, gpu: str | None) -> Rate | None:
        key = f"encode ({max_len} tokens, {gpu or 'any GPU'})"
        if key in self.used:
            return self.used[key]
        bench = self._bench(gpu)
        if bench and (bench[0].get("encode") or {}).get("passages_per_second"):
            spec = bench[0]["encode"]
            value = float(spec["passages_per_second"]) * float(spec.get("max_len", max_len)) / max_len
            return self._remember(key, Rate(value, "passages/s/GPU", f"{bench[1]}, encoding"))
        tokens = self.training_tokens(gpu)
        if tokens is None:
            return None
        share = self.data["token_rate"]["forward_share"]
        return self._remember(key, Rate(tokens.value / share / max_len, "passages/s/GPU",
                                        f"forward only ({share:g} of a training step) at {max_len} tokens ({tokens.source})"))

    def generate(self, model: str) -> Rate | None:
        key = f"generate {model}"
        for spec in self.data.get("generate", []):
            if spec["model"] == model:
                return self._remember(key, Rate(float(spec["passages_per_s"]), "passages/s/GPU", spec["source"]))
        return None

    def faiss(self) -> Rate:
        value = float(self.data["faiss_cpu_flops_per_core"])
        return self._remember("search (flat FAISS, CPU)", Rate(value, "FLOP/s/core",
                                                                "assumption (rates.yaml faiss_cpu_flops_per_core)"))  # type: ignore[return-value]


# --------------------------------------------------------------------------- sizes


def _count_lines(path: Path) -> int | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


class Sizes:
    """Passages per collection and queries per topic set: counted where the data is present, else the
    public sizes of rates.yaml (BEIR's CQADupStack forums: a twelfth of its total each)."""

    def __init__(self, config: dict[str, Any], data: dict[str, Any]):
        self.config, self.data = config, data
        self._cache: dict[tuple[str, str], int | None] = {}

    def collection(self, name: str) -> int | None:
        if ("c", name) not in self._cache:
            spec = self.config["collections"].get(name, {})
            n = None
            if spec.get("format") == "tsv":
                n = _count_lines(Path(spec["source"]))
            elif spec.get("format") == "beir":
                n = _count_lines(Path(spec["source"]) / "corpus.jsonl")
            if n is None:
                known = self.data["collections"]
                n = known.get(name)
                if n is None and name.startswith("beir-cqadupstack-"):
                    n = known["beir-cqadupstack"] // 12
            self._cache[("c", name)] = n
        return self._cache[("c", name)]

    def topics(self, topicset: str) -> int | None:
        if ("t", topicset) not in self._cache:
            from ..report.power import evalset_queries, judged_queries

            if wgrid.training_dataset(self.config, topicset) is not None:
                spec = wgrid.topic_sets(self.config)[topicset]
                n = judged_queries(spec["qrels"]) or int(self.data["train_queries"])
            else:
                n = evalset_queries(self.config, topicset)[0]
                if n is None and topicset.startswith("beir-cqadupstack-"):
                    n = (evalset_queries(self.config, "beir-cqadupstack")[0] or 0) // 12 or None
            self._cache[("t", topicset)] = n
        return self._cache[("t", topicset)]

    def train_queries(self, dataset: str) -> int:
        spec = self.config["finetune"]["datasets"][dataset]
        from ..report.power import judged_queries

        return judged_queries(spec["qrels"]) or int(self.data["train_queries"])


# --------------------------------------------------------------------------- one job


@dataclass
class Cost:
    family: str
    gpus: int
    gpu_hours: float | None  # None: no rate (GPU job) or no GPU
    cpu_hours: float
    cpu_bound: bool  # cpu_hours is runtime x cpus (no rate)
    wall_minutes: float | None
    runtime: int  # the family's SLURM limit, minutes
    mem_mb: int
    disk_bytes: float | None
    rate_key: str | None

    @property
    def submissions(self) -> int:
        if self.wall_minutes is None:
            return 1
        return max(1, math.ceil(self.wall_minutes / max(self.runtime, 1)))


# rule -> the `resources:` row of one of its jobs, where the rule chooses it per job (as
# rules/querygen.smk and rules/finetune.smk pass these functions to family_resources)
PER_JOB_FAMILIES: dict[str, Callable[..., str]] = {
    "generate_queries": querygen_jobs.generator_family,
    "finetune": finetune_jobs.finetune_family,
}


def family_of(config: dict[str, Any], job: DagJob) -> str:
    rule = "finetune" if job.rule == "finetune_beir" else job.rule  # `use rule finetune as finetune_beir`
    if rule in PER_JOB_FAMILIES:
        return PER_JOB_FAMILIES[rule](config, **job.wildcards)
    return RULE_FAMILY.get(job.rule, "default")


def _params(config: dict[str, Any], job: DagJob) -> dict[str, Any]:
    """The ``--params`` of a pre-training, fine-tuning or encode job (as its rule passes them)."""
    wc = job.wildcards
    if job.rule == "pretrain":
        return pretrain_jobs.cell_job_params(config, wc["schema"], wc["context"])
    if job.rule in ("finetune", "finetune_beir"):
        return finetune_jobs.finetune_job_params(config, wc["dataset"], wc["encoder"], wc["stage"])
    if job.rule == "encode":
        return evaluate_jobs.encode_shard_job_params(config, wc["modelkey"], wc["collection"])
    raise ValueError(f"no --params of rule {job.rule} here")


def _measured_disk(job: DagJob) -> float | None:
    """Bytes of a built job's outputs."""
    total, found = 0, False
    for out in job.outputs:
        path = Path(out)
        if path.is_file():
            total += path.stat().st_size
            found = True
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            found = True
    return float(total) if found else None


class Estimator:
    def __init__(self, config: dict[str, Any], rates: Rates):
        self.config, self.rates = config, rates
        self.sizes = Sizes(config, rates.data)
        retention = config.get("checkpoints", {})
        self.kept_checkpoints = 0 if retention.get("delete_after_final", True) else retention.get("keep_last", 2)

    def _gpu_work(self, job: DagJob, family: str) -> tuple[float | None, float | None, str | None]:
        """``(GPU-seconds, disk bytes, rate key)`` of a GPU rule's job."""
        gpu = resource(self.config, family, "gpu_model", None)
        r = self.rates
        if job.rule == "pretrain":
            from ..pretrain.arguments import parse_params

            p = parse_params(_params(self.config, job))
            rate = r.pretrain(job.wildcards["schema"], gpu)
            disk = MODEL_BYTES * 1.1 + CHECKPOINT_BYTES * self.kept_checkpoints
            return (p.max_steps * p.global_batch_size / rate.value if rate else None), disk, f"pretrain {job.wildcards['schema']}"
        if job.rule in ("finetune", "finetune_beir"):
            p = _params(self.config, job)
            dataset = job.wildcards["dataset"]
            tokens = int(p.get("q_max_len", 32)) + int(p.get("train_n_passages", 16)) * int(p.get("p_max_len", 144))
            rate = r.finetune(dataset, tokens, gpu)
            work = float(p.get("num_train_epochs", 3)) * self.sizes.train_queries(dataset)
            disk = MODEL_BYTES + CHECKPOINT_BYTES * self.kept_checkpoints
            return (work / rate.value if rate else None), disk, f"finetune {dataset} ({tokens} tokens/query)"
        if job.rule == "encode":
            p = _params(self.config, job)
            n = self.sizes.collection(job.wildcards["collection"])
            max_len = int(p.get("p_max_len", 144))
            rate = r.encode(max_len, gpu)
            items = None if n is None else n / int(job.wildcards["nshards"])
            seconds = None if items is None or rate is None else items / rate.value
            return seconds, (None if items is None else items * VECTOR_BYTES), f"encode ({max_len} tokens)"
        if job.rule == "search":
            return self._search(job, gpu)
        if job.rule == "generate_queries":
            spec = self.config["generators"][job.wildcards["gen"]]
            rate = r.generate(spec["model"])
            passages = int(self.config["querygen"]["shard_size"])
            total = int(self.config["corpus"]["num_passages"])
            passages = min(passages, max(total - int(job.wildcards["shard"]) * passages, 0))
            disk = passages * int(spec.get("pool_size", 10)) * QUERY_LINE_BYTES
            return (passages / rate.value if rate else None), disk, f"generate {spec['model']}"
        return None, None, None

    def _search(self, job: DagJob, gpu: str | None) -> tuple[float | None, float | None, str | None]:
        """A search job on its one GPU: the queries (and a small collection without encode jobs) are
        encoded there; the flat FAISS search runs on its cores (faiss-cpu)."""
        topicset = job.wildcards["topicset"]
        spec = wgrid.topic_sets(self.config)[topicset]
        queries = self.sizes.topics(topicset)
        passages = self.sizes.collection(spec["collection"])
        if queries is None or passages is None:
            return None, None, "search (flat FAISS, CPU)"
        encode = self.rates.encode(144, gpu)
        shards = evaluate_jobs.encode_shards(self.config, spec["collection"])
        encoded = queries * 32 / 144 + (0 if shards else passages)
        gpu_seconds = encoded / encode.value if encode else None
        faiss = self.rates.faiss()
        cpus = int(job.resources.get("cpus_per_task") or 1)
        faiss_seconds = 2.0 * queries * passages * 768 / (faiss.value * cpus)
        depth = wgrid.search_depth(self.config, topicset)
        return (None if gpu_seconds is None else gpu_seconds + faiss_seconds), queries * depth * RUN_LINE_BYTES, \
            "search (flat FAISS, CPU)"

    def cost(self, job: DagJob) -> Cost:
        family = family_of(self.config, job)
        res = job.resources
        gpus = int(res.get("gpu") or 0)
        cpus = int(res.get("cpus_per_task") or job.threads or 1)
        runtime = int(res.get("runtime") or 60)
        mem = int(res.get("mem_mb") or 0)
        disk = _measured_disk(job) if not job.needs_run else None
        if gpus and job.rule in GPU_RULES:
            seconds, model_disk, key = self._gpu_work(job, family)
            disk = disk if disk is not None else model_disk
            if seconds is None:
                return Cost(family, gpus, None, runtime / 60 * cpus, True, None, runtime, mem, disk, key)
            # search: its seconds are wall time on its one GPU; training/encoding: GPU-seconds over GPUs
            wall = seconds / 60 if job.rule == "search" else seconds / gpus / 60
            return Cost(family, gpus, wall * gpus / 60, wall / 60 * cpus, False, wall, runtime, mem, disk, key)
        return Cost(family, gpus, None, runtime / 60 * cpus, True, None, runtime, mem, disk, None)
