"""One measured process of the scale bench (bench/scale.py starts it; not a command of its own).

    python bench/scale_child.py '<job JSON>'

The job JSON says what to run (``kind``) and where to write this process's own record
(``result``): the seconds inside the measured call (imports excluded), its peak RSS (``VmHWM``)
and, where asked, ``/proc/self/smaps_rollup``. The parent measures the whole process from outside
as well (wall time, ``os.wait4``'s ``ru_maxrss``). Only the standard library is imported before
the job runs, so the measured process holds nothing the workflow's job would not.

Kinds:

- ``cli``: ``scripts/qcpt.py <argv>`` in this process (``qcpt.cli.main``), what a rule's shell runs;
- ``pretrain_data``: one torchrun-like rank loading passages + queries the way the pre-training
  driver does and drawing its share of one epoch (``role: rank``), or a process that only imports
  them (``role: baseline``); every process of the group waits for the others at a file barrier
  before reading smaps_rollup, so shared pages are counted while they are shared;
- ``faiss``: the dense search of ``qcpt.retrieval.search.main`` over encoded shards (load_shards,
  build_index, rank_exact, write_ranked_run) with query vectors read from a ``.npy`` file instead of
  encoded by a model (the bench has no BERT-base: the vectors are random, dim 768).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024


def proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def smaps_rollup_mib() -> dict[str, float] | None:
    """Rss, Pss, shared and private memory of this process (MiB), from /proc/self/smaps_rollup."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return None
    kib: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            kib[parts[0][:-1]] = int(parts[1])

    def mib(*names: str) -> float:
        return round(sum(kib.get(n, 0) for n in names) / 1024, 1)

    return {"rss": mib("Rss"), "pss": mib("Pss"), "shared": mib("Shared_Clean", "Shared_Dirty"),
            "private": mib("Private_Clean", "Private_Dirty"), "anonymous": mib("Anonymous")}


def barrier(folder: Path, name: str, step: str, members: list[str], timeout: float = 3600.0) -> None:
    """Announce ``name`` at ``step`` and wait until every member has."""
    (folder / f"{step}-{name}").write_text("")
    deadline = time.monotonic() + timeout
    while not all((folder / f"{step}-{m}").exists() for m in members):
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {step}: waited {timeout:.0f} s for {members}")
        time.sleep(0.05)


def run_cli(job: dict) -> dict:
    from qcpt.cli import main

    t0 = time.perf_counter()
    status = main(job["argv"])
    seconds = time.perf_counter() - t0
    if status:
        raise SystemExit(f"scripts/qcpt.py {job['argv'][0]} exited {status}")
    return {"seconds_in_call": seconds}


def run_pretrain_data(job: dict) -> dict:
    """Only the public loaders and the dataset (another engineer may move their storage)."""
    from qcpt.pretrain.data import PretrainDataset, load_passages, load_queries

    folder, name, members = Path(job["barrier"]), job["name"], job["members"]
    barrier(folder, name, "started", members)  # imports done everywhere: the ranks load together
    record: dict = {}
    if job["role"] == "rank":
        t0 = time.perf_counter()
        passages = load_passages(job["passages"])
        loaded = load_queries(job["queries"], passages)
        queries = loaded[0] if isinstance(loaded, tuple) else loaded
        dataset = PretrainDataset(passages, context="query", queries=queries, seed=42)
        record["load_seconds"] = time.perf_counter() - t0
        world, rank = int(job["world"]), int(job["rank"])
        t1 = time.perf_counter()
        # torchrun's DistributedSampler: rank r reads r, r + world, ... of the epoch.
        drawn = characters = 0
        for i in range(rank, len(dataset), world):
            example = dataset[i]
            characters += len(example["passage"]) + len(example["context"])
            drawn += 1
        record.update(draw_seconds=time.perf_counter() - t1, examples=len(dataset), drawn=drawn,
                      mean_characters=round(characters / max(drawn, 1), 1))
        record["seconds_in_call"] = time.perf_counter() - t0
    barrier(folder, name, "finished", members)  # everyone alive: shared pages are shared now
    record["smaps_rollup_mib"] = smaps_rollup_mib()
    barrier(folder, name, "measured", members)
    return record


def run_faiss(job: dict) -> dict:
    import numpy as np

    from qcpt.retrieval.search import build_index, docid_ranks, load_shards, rank_exact
    from qcpt.retrieval.runs import write_ranked_run

    t0 = time.perf_counter()
    ids, embeddings = load_shards(job["shards"])
    loaded = time.perf_counter()
    queries = np.load(job["queries"])
    qids = [f"q{i}" for i in range(len(queries))]
    index = build_index(embeddings)
    added = time.perf_counter()
    ranked = rank_exact(index, queries, docid_ranks(ids), job["depth"])
    searched = time.perf_counter()
    lines = write_ranked_run(job["out"], qids, ids, ranked, "dense")
    done = time.perf_counter()
    return {"seconds_in_call": done - t0, "load_shards_seconds": loaded - t0, "index_add_seconds": added - loaded,
            "search_seconds": searched - added, "write_run_seconds": done - searched, "lines": lines,
            "vectors": len(ids), "dim": int(embeddings.shape[1]), "queries": len(qids),
            "seconds_per_query": (searched - added) / max(len(qids), 1)}


KINDS = {"cli": run_cli, "pretrain_data": run_pretrain_data, "faiss": run_faiss}


def main() -> int:
    job = json.loads(sys.argv[1])
    record = KINDS[job["kind"]](job)
    hwm = proc_status_kib("VmHWM")
    record["vmhwm_mib"] = round(hwm / 1024, 1) if hwm is not None else None
    if job.get("smaps") and "smaps_rollup_mib" not in record:
        record["smaps_rollup_mib"] = smaps_rollup_mib()
    tmp = Path(job["result"] + ".part")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, job["result"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
