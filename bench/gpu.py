"""GPU throughput at BERT-base size: pre-training samples/s and MFU per schema, fine-tuning and
encoding throughput, one JSON per GPU (bench/results/<gpu>.json) that ``python -m qcpt plan`` reads.

    python bench/gpu.py [--out FILE] [--steps N] [--tests-log FILE --tests-status N]
    python bench/gpu.py --dry --out FILE     # the same code path at tiny size on a CPU (a test runs it)

bench/gpu.sh runs the ``gpu`` test group first and then this, in under 8 minutes on one GPU.

The model is a BERT-base (``BertConfig()``: 12 layers, hidden 768, vocabulary 30,522) initialised at
random, with the project's tiny tokenizer (every id it makes is a valid row of the vocabulary): no
download. Passages are exactly ``max_len`` tokens, so every sample costs the same. Rates are the
median of the per-step rates the training log records, the first two steps (warm-up, compilation)
left out; MFU is 6 x non-embedding parameters x tokens per sample (bench/stages.py
``training_flops_per_sample``) x samples/s over the GPU's dense bf16 peak (``peak_flops``);
encoding counts 2 x parameters x tokens (forward only) against the same peak.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stages import _count_parameters, peak_flops, training_flops_per_sample  # noqa: E402
from qcpt.core.io import write_json  # noqa: E402
from qcpt.pretrain.schemas import registry as schema_registry  # noqa: E402

log = logging.getLogger("bench.gpu")

SCHEMAS = schema_registry.names()  # every registered schema, a plug-in's too
# size -> model shape and work per measurement; "full" is what a GPU runs, "dry" the CPU check
SIZES: dict[str, dict[str, Any]] = {
    "full": {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "vocab": 30522, "max_len": 144,
             "steps": 25, "batch": 128, "batch_by_schema": {"cotmae": 64}, "grad_cache_chunk": 64,
             "passages": 4096, "ft_batch": 8, "ft_passages": 16, "ft_queries": 400, "encode": 20000,
             "encode_batch": 256},
    "dry": {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "vocab": 0, "max_len": 24,
            "steps": 4, "batch": 4, "batch_by_schema": {}, "grad_cache_chunk": 2,
            "passages": 64, "ft_batch": 2, "ft_passages": 3, "ft_queries": 16, "encode": 64, "encode_batch": 16},
}


def device_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "count": torch.cuda.device_count()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(name=torch.cuda.get_device_name(0), memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported())
    else:
        info["name"] = "cpu"
    return info


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def build_model(folder: Path, size: dict[str, Any]) -> Path:
    """A random BERT of ``size`` with the tiny tokenizer, saved like any model folder."""
    import torch
    from transformers import BertConfig, BertModel

    from qcpt.pretrain.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=max(size["vocab"], len(tokenizer)), hidden_size=size["hidden"],
                        num_hidden_layers=size["layers"], num_attention_heads=size["heads"],
                        intermediate_size=size["intermediate"], max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _words(rng, n: int) -> str:
    from qcpt.pretrain.tiny import WORDS

    return " ".join(rng.choice(WORDS, size=n))


def write_corpus(folder: Path, size: dict[str, Any]) -> dict[str, Path]:
    """Passages of exactly ``max_len`` tokens ([CLS] and [SEP] included; one word is one token of
    the tiny vocabulary), two per document (a span context is a sibling passage), a query each, a
    collection and a fine-tuning file of 1 positive and ``ft_passages - 1`` negatives per query."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, words = size["passages"], size["max_len"] - 2
    texts = [_words(rng, words) for _ in range(n)]
    paths = {"passages": folder / "passages.jsonl", "queries": folder / "queries.tsv",
             "collection": folder / "collection.jsonl", "train": folder / "train.jsonl"}
    with open(paths["passages"], "w") as p, open(paths["queries"], "w") as q, open(paths["collection"], "w") as c:
        for i, text in enumerate(texts):
            p.write(json.dumps({"id": f"P{i}", "doc_id": f"D{i // 2}", "title": "", "text": text, "n_tokens": words}) + "\n")
            q.write(f"P{i}\t{_words(rng, 8)}\n")
            c.write(json.dumps({"docid": f"P{i}", "title": "", "text": text}) + "\n")
    with open(paths["train"], "w") as t:
        for i in range(size["ft_queries"]):
            negatives = [f"P{int(j)}" for j in rng.choice(n, size=size["ft_passages"] * 2, replace=False) if j != i]
            t.write(json.dumps({"query_id": f"Q{i}", "query": _words(rng, 30), "positive_document_ids": [f"P{i}"],
                                "negative_document_ids": negatives[: size["ft_passages"] - 1]}) + "\n")
    return paths


def _rate(log_path: Path) -> tuple[float | None, list[float]]:
    history = json.loads(log_path.read_text())["history"]
    rates = [h["samples_per_second"] for h in history if "samples_per_second" in h and h["step"] > 2]
    return (statistics.median(rates) if rates else None), rates


def bench_pretrain(work: Path, model: Path, data: dict[str, Path], size: dict[str, Any], peak: float | None) -> dict:
    from qcpt.pretrain.driver import main

    out: dict[str, Any] = {}
    for schema in SCHEMAS:
        run = work / f"pretrain-{schema}"
        declared = schema_registry.get(schema)
        # "batch" for every schema (a plug-in's too), "batch_by_schema" where one needs less memory
        # (CoT-MAE: half, for its decoder over the whole passage on the same GPU)
        batch = size["batch_by_schema"].get(schema, size["batch"])
        params: dict[str, Any] = {"schema": schema, "context": "span", "batch_size": batch,
                                  "max_steps": size["steps"], "save_steps": 10 * size["steps"], "logging_steps": 1,
                                  "warmup_ratio": 0.0}
        if declared.gradient_caching:
            params["grad_cache_chunk"] = size["grad_cache_chunk"]
        t0 = time.perf_counter()
        main(["--passages", str(data["passages"]), "--init", str(model), "--out", str(run / "model"),
              "--checkpoints", str(run / "ckpt"), "--log", str(run / "log.json"), "--params", json.dumps(params)])
        sps, rates = _rate(run / "log.json")
        counts = _count_parameters(run / "model")
        flops = training_flops_per_sample(schema, counts, size["max_len"]) * (sps or 0)
        out[schema] = {"samples_per_second": sps, "per_step_samples_per_second": rates, "batch_size": params["batch_size"],
                       "steps": size["steps"], "tokens_per_sample": size["max_len"], "parameters": counts,
                       "achieved_flops_per_second": round(flops), "mfu": round(flops / peak, 4) if peak and flops else None,
                       "process_seconds": round(time.perf_counter() - t0, 2)}
        log.info("pretrain %s: %s samples/s, MFU %s", schema, sps, out[schema]["mfu"])
    return out


def bench_finetune(work: Path, model: Path, data: dict[str, Path], size: dict[str, Any], peak: float | None) -> dict:
    from qcpt.retrieval.finetune import driver as ft

    params = {"max_steps": size["steps"], "per_device_batch_size": size["ft_batch"], "train_n_passages": size["ft_passages"],
              "q_max_len": 32, "p_max_len": size["max_len"], "save_steps": 10 * size["steps"], "logging_steps": 1}
    t0 = time.perf_counter()
    ft.main(["--train", str(data["train"]), "--collection", str(data["collection"]), "--init", str(model),
             "--out", str(work / "ft"), "--checkpoints", str(work / "ft-ckpt"), "--log", str(work / "ft.json"),
             "--params", json.dumps(params)])
    qps, rates = _rate(work / "ft.json")
    tokens = 32 + size["ft_passages"] * size["max_len"]
    counts = _count_parameters(work / "ft")
    flops = 6.0 * (counts["encoder"] - counts["encoder_embeddings"]) * tokens * (qps or 0)
    return {"queries_per_second": qps, "per_step_queries_per_second": rates, "tokens_per_query": tokens,
            "tokens_per_second": round(qps * tokens, 1) if qps else None, "per_device_batch_size": size["ft_batch"],
            "train_n_passages": size["ft_passages"], "mfu": round(flops / peak, 4) if peak and flops else None,
            "process_seconds": round(time.perf_counter() - t0, 2)}


def bench_encode(model_dir: Path, size: dict[str, Any], peak: float | None) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModel, BertTokenizerFast

    from qcpt.retrieval.vectors import encode_texts

    rng = np.random.default_rng(1)
    texts = [_words(rng, size["max_len"] - 2) for _ in range(size["encode"])]
    model = AutoModel.from_pretrained(model_dir).eval()
    tok = BertTokenizerFast.from_pretrained(model_dir)
    amp = torch.cuda.is_available()
    kwargs = {"max_len": size["max_len"], "batch_size": size["encode_batch"], "pooling": "cls", "amp": amp, "progress": False}
    encode_texts(model, tok, texts[: size["encode_batch"]], **kwargs)  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    vectors = encode_texts(model, tok, texts, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    dense = sum(p.numel() for n, p in model.named_parameters() if "embeddings." not in n)
    pps = len(texts) / seconds
    flops = 2.0 * dense * size["max_len"] * pps
    return {"passages_per_second": round(pps, 1), "passages": len(texts), "max_len": size["max_len"],
            "amp": "float16" if amp else "off", "dim": int(vectors.shape[1]), "seconds": round(seconds, 3),
            "mfu": round(flops / peak, 4) if peak else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/<gpu name>.json)")
    parser.add_argument("--dry", action="store_true", help="tiny sizes on whatever device: checks the code path")
    parser.add_argument("--steps", type=int, default=None, help="training steps per measurement")
    parser.add_argument("--tests-log", default=None, help="the gpu test group's output (bench/gpu.sh)")
    parser.add_argument("--tests-status", type=int, default=None, help="its exit status")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    if not args.dry and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here; `--dry` runs the same code at tiny size on the CPU", file=sys.stderr)
        return 2
    size = dict(SIZES["dry" if args.dry else "full"])
    if args.steps:
        size["steps"] = args.steps
    device = device_info()
    peak, peak_source = peak_flops(device["name"] if device["name"] != "cpu" else None)
    out_path = Path(args.out) if args.out else ROOT / "bench" / "results" / f"{slug(device['name'])}.json"
    result: dict[str, Any] = {"kind": "cpu-dry" if args.dry else "gpu", "device": device, "size": size,
                              "peak_flops": peak, "peak_source": peak_source,
                              "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if args.tests_log:
        text = Path(args.tests_log).read_text(errors="replace") if Path(args.tests_log).is_file() else ""
        result["tests"] = {"status": args.tests_status, "summary": text.strip().splitlines()[-12:]}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qcpt-gpu-bench-") as tmp:
        work = Path(tmp)
        model = build_model(work / "bert", size)
        data = write_corpus(work / "data", size)
        for name, run in (("pretrain", lambda: bench_pretrain(work, model, data, size, peak)),
                          ("finetune", lambda: bench_finetune(work, model, data, size, peak)),
                          ("encode", lambda: bench_encode(model, size, peak))):
            try:
                result[name] = run()
            except Exception as err:  # noqa: BLE001 - recorded; the other measurements still run
                log.exception("%s failed", name)
                result[name] = {"status": "error", "error": f"{type(err).__name__}: {err}"[-2000:]}
            result["seconds"] = round(time.perf_counter() - t0, 1)
            write_json(out_path, result)  # rewritten after each part: a killed run keeps what it measured
    print(f"wrote {out_path}")
    return 0 if all("status" not in result[k] for k in ("pretrain", "finetune", "encode")) else 1


if __name__ == "__main__":
    sys.exit(main())
