"""Per-rank memory of pre-training data under torchrun: passages + query pools in the mmapped store.

Builds synthetic inputs (``--passages`` passages of ~60 words, documents of 1-8 passages, pools of
``--queries-per-passage`` queries), builds the store once (a separate process, timed), then starts
``--ranks`` processes together with torchrun's environment (RANK / LOCAL_RANK / WORLD_SIZE). Each
loads the data as the pre-training driver does (``load_passages`` / ``load_queries`` /
``PretrainDataset(context="query")``), draws one epoch (``dataset[i]`` for every ``i``) and reports
its peak RSS (VmHWM), ``/proc/self/smaps_rollup`` at the end of the epoch, its RSS after imports and
before any data (the baseline), and wall times. One JSON to ``--out``.

Mapped store pages count in RSS once a rank has touched them, but they are page cache shared by all
ranks (``Shared_Clean``; PSS divides them between the ranks); what each rank owns is ``Private_*``
/ ``Anonymous``.

    python bench/pretrain_ranks.py --passages 100000
    python bench/pretrain_ranks.py --passages 1000000 --out bench/results/pretrain-ranks-1m.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


SMAPS_FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                "Private_Dirty", "Anonymous")


def _smaps_rollup_mib() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "kB" and parts[0].rstrip(":") in SMAPS_FIELDS:
            out[parts[0].rstrip(":")] = round(int(parts[1]) / 1024, 1)
    return out


def make_inputs(folder: Path, passages: int, queries_per_passage: int, seed: int) -> tuple[Path, Path]:
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{k}" for k in range(20_000)])
    passages_path, queries_path = folder / "passages.jsonl", folder / "queries.tsv"
    doc = written = 0
    with open(passages_path, "w") as p_out, open(queries_path, "w") as q_out:
        while written < passages:
            size = min(int(rng.integers(1, 9)), passages - written)
            words = vocab[rng.integers(len(vocab), size=(size, 60))]
            qwords = vocab[rng.integers(len(vocab), size=(size, queries_per_passage, 8))]
            for k in range(size):
                pid = f"p{written}"
                p_out.write(json.dumps({"id": pid, "doc_id": f"d{doc}", "title": "",
                                        "text": " ".join(words[k])}) + "\n")
                q_out.write("".join(f"{pid}\t{' '.join(q)}\n" for q in qwords[k]))
                written += 1
            doc += 1
    return passages_path, queries_path


def worker(args: argparse.Namespace) -> None:
    """One rank: imports (baseline), load, dataset, one epoch; a JSON line on stdout."""
    started = time.perf_counter()
    from qcpt.pretrain.data import PretrainDataset, load_passages, load_queries

    import_s = time.perf_counter() - started
    baseline = {"rss_mib": round(_status_kib("VmRSS") / 1024, 1), "smaps_rollup_mib": _smaps_rollup_mib()}
    t0 = time.perf_counter()
    passages = load_passages(args.passages_file)
    queries, _ = load_queries(args.queries_file, passages)
    dataset = PretrainDataset(passages, context="query", queries=queries, seed=42)
    load_s = time.perf_counter() - t0
    after_load_rss = round(_status_kib("VmRSS") / 1024, 1)
    t0 = time.perf_counter()
    checksum = 0
    for i in range(len(dataset)):
        item = dataset[i]
        checksum = (checksum + len(item["passage"]) + len(item["context"])) % 1_000_003
    epoch_s = time.perf_counter() - t0
    end = _smaps_rollup_mib()
    peak = round(_status_kib("VmHWM") / 1024, 1)
    print(json.dumps({
        "rank": int(os.environ["RANK"]), "examples": len(dataset), "checksum": checksum,
        "baseline": baseline, "rss_after_load_mib": after_load_rss, "peak_rss_mib": peak,
        "peak_rss_beyond_baseline_mib": round(peak - baseline["rss_mib"], 1),
        "end_of_epoch_smaps_rollup_mib": end,
        "private_beyond_baseline_mib": round(
            end.get("Private_Clean", 0) + end.get("Private_Dirty", 0)
            - baseline["smaps_rollup_mib"].get("Private_Clean", 0)
            - baseline["smaps_rollup_mib"].get("Private_Dirty", 0), 1),
        "import_s": round(import_s, 3), "load_s": round(load_s, 3), "epoch_s": round(epoch_s, 3),
        "examples_per_s": round(len(dataset) / epoch_s, 1),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries-per-passage", type=int, default=20)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench/results/pretrain-ranks.json"))
    parser.add_argument("--work", help="folder for the inputs and the store (default: a temporary one, removed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--passages-file", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from qcpt.io import write_json

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pretrain-ranks-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "WORLD_SIZE": str(args.ranks), "OMP_NUM_THREADS": "1"}
    try:
        t0 = time.perf_counter()
        passages_path, queries_path = make_inputs(work, args.passages, args.queries_per_passage, args.seed)
        inputs_s = time.perf_counter() - t0
        worker_cmd = [sys.executable, __file__, "--worker", "--passages-file", str(passages_path),
                      "--queries-file", str(queries_path)]
        # The store is built once (the first rank to arrive builds it under the lock; timed apart here).
        t0 = time.perf_counter()
        build = subprocess.run(
            [sys.executable, "-c",
             "import json,resource,sys,time\nfrom qcpt.pretrain.data import load_passages, load_queries\n"
             "t=time.perf_counter(); p=load_passages(sys.argv[1]); load_queries(sys.argv[2], p)\n"
             "print(json.dumps({'build_s': round(time.perf_counter()-t, 3),"
             " 'peak_rss_mib': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, 1)}))",
             str(passages_path), str(queries_path)],
            env=env, check=True, capture_output=True, text=True)
        build_record = json.loads(build.stdout.strip().splitlines()[-1])
        build_record["wall_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        procs = [subprocess.Popen(worker_cmd, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                                  stdout=subprocess.PIPE, text=True) for r in range(args.ranks)]
        ranks = []
        for proc in procs:
            stdout, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"a rank failed with exit status {proc.returncode}")
            ranks.append(json.loads(stdout.strip().splitlines()[-1]))
        store_bytes = sum(f.stat().st_size for f in (work / "passages.jsonl.qcpt-store").iterdir()) + sum(
            f.stat().st_size for f in (work / "queries.tsv.qcpt-store").iterdir())
        record = {
            "bench": "pretrain_ranks", "passages": args.passages, "queries_per_passage": args.queries_per_passage,
            "ranks": args.ranks, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                             "load_average_at_start": os.getloadavg()},
            "input_mib": {"passages_jsonl": round(passages_path.stat().st_size / 2**20, 1),
                          "queries_tsv": round(queries_path.stat().st_size / 2**20, 1),
                          "store": round(store_bytes / 2**20, 1)},
            "make_inputs_s": round(inputs_s, 3), "build": build_record,
            "ranks_wall_s": round(time.perf_counter() - t0, 3), "per_rank": ranks,
            "max_peak_rss_beyond_baseline_mib": max(r["peak_rss_beyond_baseline_mib"] for r in ranks),
            "max_private_beyond_baseline_mib": max(r["private_beyond_baseline_mib"] for r in ranks),
        }
        record["machine"]["load_average_at_end"] = os.getloadavg()
        write_json(args.out, record)
        print(json.dumps(record, indent=2))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
