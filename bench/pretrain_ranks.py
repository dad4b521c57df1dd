"""Memory of pre-training data per rank: synthetic passages and query pools, loaded by several
processes at once the way the pre-training driver loads them under torchrun.

    python bench/pretrain_ranks.py [--passages 100000] [--queries-per-passage 20] [--ranks 2]
                                   [--loader store|lists] [--order shuffled|sequential]
                                   [--out bench/results/pretrain-ranks.json] [--keep WORKDIR]

Steps: write ``passages.jsonl`` (N passages of ~60 words, documents of 1-8 passages) and
``queries.tsv`` (a pool of ``--queries-per-passage`` queries per passage, in passage order as the
query generator writes them); build the memory-mapped store in one process (timed, its peak RSS
recorded); then start ``--ranks`` processes together with torchrun's environment (RANK,
LOCAL_RANK, WORLD_SIZE), each of which imports what the driver imports, records its baseline
memory, loads passages and queries with ``qcpt.pretrain.data.load_passages`` / ``load_queries``,
builds ``PretrainDataset(context="query")`` and draws one epoch (``dataset[i]`` for every i, in a
random order as the Trainer's sampler draws them unless ``--order sequential``).

Per rank: ``baseline`` (after the imports, before any data), ``after_load`` and ``after_epoch``
memory from ``/proc/self/smaps_rollup`` (``rss``, ``pss``, ``shared`` = shared clean + dirty,
``private`` = private clean + dirty, ``anonymous``), ``peak_rss`` (VmHWM), the same minus the
baseline (``beyond_baseline``), and wall times for loading and for the epoch. Memory is in MiB.

The store's pages are the page cache's, mapped read-only and shared by every rank (the machine
holds them once): ``pss`` splits them among the ranks, ``anonymous`` is what each rank costs alone.
RSS counts the store's pages a rank has mapped since the store last trimmed its mappings (when
they grew by ``QCPT_STORE_RSS_BUDGET_MB``, default 256; ``QCPT_STORE_RSS_BUDGET_MB=0`` shows RSS
without trimming: the whole store after one epoch). ``--loader lists`` loads the same files into Python lists in each rank, as the
pre-training data did before the store, for comparison (the examples are not drawn through
PretrainDataset then: only the memory of holding the data is measured, plus one pass over it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.pretrain_ranks")

MIB = 2**20


# --- memory --------------------------------------------------------------------------------------

def smaps_rollup() -> dict[str, float]:
    """This process's memory (MiB) from /proc/self/smaps_rollup (Linux)."""
    fields: dict[str, int] = {}
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    kib = 1024 / MIB
    return {
        "rss": round(fields.get("Rss", 0) * kib, 1),
        "pss": round(fields.get("Pss", 0) * kib, 1),
        "shared": round((fields.get("Shared_Clean", 0) + fields.get("Shared_Dirty", 0)) * kib, 1),
        "private": round((fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) * kib, 1),
        "anonymous": round(fields.get("Anonymous", 0) * kib, 1),
    }


def peak_rss_mib() -> float:
    """VmHWM (the peak resident set) of this process, MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(a[k] - b[k], 1) for k in a}


# --- synthetic inputs ----------------------------------------------------------------------------

def write_inputs(folder: Path, passages: int, queries_per_passage: int, seed: int) -> dict[str, Any]:
    """passages.jsonl and queries.tsv of ``passages`` rows; returns their sizes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    # Words of 2-12 letters, drawn Zipf-like so texts look like text to the code that reads them.
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, size=int(n))) for n in rng.integers(2, 13, size=30_000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    vocab_arr = np.array(vocab, dtype=object)

    def words(count: int) -> list[str]:
        return list(vocab_arr[rng.choice(len(vocab), size=count, p=weights)])

    passages_path, queries_path = folder / "passages.jsonl", folder / "queries.tsv"
    block = 10_000
    written = doc = left = 0  # left: passages still to give the current document
    with open(passages_path, "w") as p_out, open(queries_path, "w") as q_out:
        while written < passages:
            n = min(block, passages - written)
            lengths = rng.integers(45, 76, size=n)  # ~60 words a passage
            text_words = words(int(lengths.sum()))
            q_lengths = rng.integers(3, 10, size=n * queries_per_passage)
            q_words = words(int(q_lengths.sum()))
            t = q = 0
            for i in range(n):
                pid = f"p{written + i}"
                if left == 0:
                    doc += 1
                    left = int(rng.integers(1, 9))  # documents of 1-8 passages
                left -= 1
                text = " ".join(text_words[t:t + lengths[i]])
                t += lengths[i]
                p_out.write(json.dumps({"id": pid, "doc_id": f"d{doc}", "title": "", "text": text}) + "\n")
                for k in range(queries_per_passage):
                    length = q_lengths[i * queries_per_passage + k]
                    q_out.write(f"{pid}\t{' '.join(q_words[q:q + length])}\n")
                    q += length
            written += n
    return {"passages_bytes": passages_path.stat().st_size, "queries_bytes": queries_path.stat().st_size,
            "documents": doc}


# --- the two kinds of process ----------------------------------------------------------------

def _import_like_the_driver() -> None:
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import qcpt.pretrain.data  # noqa: F401
    import qcpt.pretrain.driver  # noqa: F401


def build_main(folder: Path) -> dict[str, Any]:
    """Child process: build the store (what the first rank does on a fresh input)."""
    from qcpt.pretrain.data import load_passages, load_queries

    start = time.perf_counter()
    passages = load_passages(folder / "passages.jsonl")
    passages_seconds = time.perf_counter() - start
    start = time.perf_counter()
    load_queries(folder / "queries.tsv", passages)
    queries_seconds = time.perf_counter() - start
    store_bytes = sum(f.stat().st_size for f in (folder / "passages.jsonl.qcpt-store").iterdir())
    store_bytes += sum(f.stat().st_size for f in (folder / "queries.tsv.qcpt-store").iterdir())
    return {"passages_seconds": round(passages_seconds, 2), "queries_seconds": round(queries_seconds, 2),
            "peak_rss": peak_rss_mib(), "store_bytes": store_bytes}


def _load_as_lists(folder: Path) -> tuple[int, int]:
    """The former in-memory form (parallel lists, by_doc dict, list-of-lists pools), for comparison."""
    from qcpt.core.io import read_jsonl, read_tsv

    ids: list[str] = []
    doc_ids: list[str] = []
    texts: list[str] = []
    by_doc: dict[str, list[int]] = {}
    for _, row in read_jsonl(folder / "passages.jsonl"):
        by_doc.setdefault(row["doc_id"], []).append(len(ids))
        ids.append(row["id"])
        doc_ids.append(row["doc_id"])
        texts.append(row["text"])
    index = {pid: i for i, pid in enumerate(ids)}
    pools: list[list[str]] = [[] for _ in ids]
    for _, row in read_tsv(folder / "queries.tsv", ["passage_id", "query"], header=False):
        pools[index[row["passage_id"].strip()]].append(row["query"].strip())
    _load_as_lists.keep = (ids, doc_ids, texts, by_doc, index, pools)  # type: ignore[attr-defined]
    return len(ids), sum(len(p) for p in pools)


def _barrier(folder: Path, name: str, timeout: float = 3600.0) -> None:
    """Wait until every rank has reached ``name`` (one marker file per rank in the work folder)."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    (folder / f"barrier-{name}-{rank}").touch()
    deadline = time.monotonic() + timeout
    while not all((folder / f"barrier-{name}-{r}").exists() for r in range(world)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {name!r}: not every rank arrived within {timeout:.0f} s")
        time.sleep(0.05)


def rank_main(folder: Path, loader: str, shuffled: bool) -> dict[str, Any]:
    """Child process: one rank. Prints its measurements as one JSON line."""
    start = time.perf_counter()
    _import_like_the_driver()
    import_seconds = time.perf_counter() - start
    baseline = smaps_rollup()
    baseline_peak = peak_rss_mib()

    _barrier(folder, "imported")  # ranks load together, as under torchrun
    start = time.perf_counter()
    if loader == "store":
        from qcpt.pretrain.data import PretrainDataset, load_passages, load_queries
        from qcpt.pretrain.store import resident_budget

        passages = load_passages(folder / "passages.jsonl")
        pools, _ = load_queries(folder / "queries.tsv", passages)
        dataset = PretrainDataset(passages, context="query", queries=pools, seed=1)
    else:
        _load_as_lists(folder)
    load_seconds = time.perf_counter() - start
    after_load = smaps_rollup()

    start = time.perf_counter()
    examples = chars = 0
    if loader == "store":
        import numpy as np

        dataset.set_epoch(0)
        # The Trainer's sampler draws an epoch in a random order: the worst case for page reuse.
        order = np.random.default_rng(0).permutation(len(dataset)) if shuffled else range(len(dataset))
        for i in order:
            example = dataset[int(i)]
            chars += len(example["passage"]) + len(example["context"])
            examples += 1
    else:
        ids, _, texts, _, _, pools = _load_as_lists.keep  # type: ignore[attr-defined]
        for i in range(len(ids)):
            chars += len(texts[i]) + len(pools[i][i % len(pools[i])])
            examples += 1
    epoch_seconds = time.perf_counter() - start
    # Measured while every rank still maps the store: a page is "shared" only while another
    # process maps it, so a rank measured after the others exited would see it all as private.
    _barrier(folder, "epoch-done")
    after_epoch = smaps_rollup()
    peak = peak_rss_mib()
    _barrier(folder, "measured")
    trims = resident_budget().trims if loader == "store" else None
    return {
        "rank": int(os.environ.get("RANK", 0)),
        "store_trims": trims,
        "pid": os.getpid(),
        "import_seconds": round(import_seconds, 2),
        "load_seconds": round(load_seconds, 3),
        "epoch_seconds": round(epoch_seconds, 2),
        "examples": examples,
        "examples_per_second": round(examples / epoch_seconds, 1) if epoch_seconds else None,
        "characters_drawn": chars,
        "baseline": {**baseline, "peak_rss": baseline_peak},
        "after_load": after_load,
        "after_epoch": after_epoch,
        "peak_rss": peak,
        "beyond_baseline": {
            "after_load": _minus(after_load, baseline),
            "after_epoch": _minus(after_epoch, baseline),
            "peak_rss": round(peak - baseline_peak, 1),
        },
    }


# --- the parent ----------------------------------------------------------------------------------

def _child(role: str, args: argparse.Namespace, folder: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, __file__, "--_child", role, "--_folder", str(folder), "--loader", args.loader,
               "--order", args.order]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen, what: str) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} exited with status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def _drop_store(folder: Path) -> None:
    for name in ("passages.jsonl.qcpt-store", "queries.tsv.qcpt-store"):
        shutil.rmtree(folder / name, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from qcpt.core.io import write_json

    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()
    result: dict[str, Any] = {
        "started_at": started,
        "sizes": {"passages": args.passages, "queries_per_passage": args.queries_per_passage, "ranks": args.ranks},
        "loader": args.loader,
        "order": args.order,
        # The lists loader maps no store: no budget applies.
        "store_rss_budget_mb": (os.environ.get("QCPT_STORE_RSS_BUDGET_MB", "256 (default)")
                                if args.loader == "store" else None),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in load_start]},
        "units": "memory in MiB (2**20 bytes), times in seconds",
    }
    inputs_ok = (folder / "passages.jsonl").is_file() and (folder / "queries.tsv").is_file()
    meta_path = folder / "inputs.json"
    meta = json.loads(meta_path.read_text()) if inputs_ok and meta_path.is_file() else None
    wanted = {"passages": args.passages, "queries_per_passage": args.queries_per_passage, "seed": args.seed}
    if meta is None or meta.get("wanted") != wanted:
        start = time.perf_counter()
        sizes = write_inputs(folder, args.passages, args.queries_per_passage, args.seed)
        meta = {"wanted": wanted, "sizes": sizes, "seconds": round(time.perf_counter() - start, 1)}
        meta_path.write_text(json.dumps(meta))
        log.info("inputs written in %.0f s", meta["seconds"])
    result["inputs"] = {**meta["sizes"], "write_seconds": meta["seconds"]}

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if args.loader == "store":
        _drop_store(folder)  # the build is part of what is measured
        result["build"] = _result(_child("build", args, folder, env), "the store build")
        log.info("store built: %s", result["build"])
    for marker in folder.glob("barrier-*"):
        marker.unlink()
    ranks = []
    for rank in range(args.ranks):
        rank_env = {**env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(args.ranks),
                    "LOCAL_WORLD_SIZE": str(args.ranks), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"}
        ranks.append(_child("rank", args, folder, rank_env))
    # A rank that fails would leave the others waiting at a barrier: stop them.
    while any(proc.poll() is None for proc in ranks):
        if any(proc.returncode not in (None, 0) for proc in ranks):
            for proc in ranks:
                if proc.poll() is None:
                    proc.terminate()
            break
        time.sleep(0.2)
    result["ranks"] = [_result(proc, f"rank {i}") for i, proc in enumerate(ranks)]
    result["summary"] = {
        "max_peak_rss_beyond_baseline": max(r["beyond_baseline"]["peak_rss"] for r in result["ranks"]),
        "max_pss_beyond_baseline": max(r["beyond_baseline"]["after_epoch"]["pss"] for r in result["ranks"]),
        "max_private_beyond_baseline": max(r["beyond_baseline"]["after_epoch"]["private"] for r in result["ranks"]),
        "max_anonymous_beyond_baseline": max(r["beyond_baseline"]["after_epoch"]["anonymous"]
                                             for r in result["ranks"]),
        "store_mib": round(result["build"]["store_bytes"] / MIB, 1) if "build" in result else None,
        "max_load_seconds": max(r["load_seconds"] for r in result["ranks"]),
        "max_epoch_seconds": max(r["epoch_seconds"] for r in result["ranks"]),
    }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries-per-passage", type=int, default=20)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--loader", choices=["store", "lists"], default="store")
    parser.add_argument("--order", choices=["shuffled", "sequential"], default="shuffled",
                        help="order the epoch's examples are drawn in (default: shuffled, as the Trainer's sampler)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pretrain-ranks.json"))
    parser.add_argument("--keep", help="work folder to keep (the inputs are reused when their sizes match)")
    parser.add_argument("--_child", choices=["build", "rank"], help=argparse.SUPPRESS)
    parser.add_argument("--_folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        folder = Path(args._folder)
        out = build_main(folder) if args._child == "build" else rank_main(folder, args.loader, args.order == "shuffled")
        print(json.dumps(out), flush=True)
        return 0
    if args.passages < 1 or args.queries_per_passage < 1 or args.ranks < 1:
        parser.error("--passages, --queries-per-passage and --ranks must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
        result = run(args, folder)
    else:
        with tempfile.TemporaryDirectory(prefix="qcpt-ranks-") as tmp:
            result = run(args, Path(tmp))
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
