"""Benchmark the workflow's stages and write one JSON per run (bench/README.md explains the fields).

    python bench/run.py [--out bench/results/NAME.json] [--stages passages querygen ...] [--quick]
                        [--threads N] [--keep WORKDIR]

Every stage runs in isolation: one that fails records its error and traceback, and the others still
run. The JSON is written atomically once all stages are done (and rewritten after each stage, so a
killed bench keeps what it measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stages import STAGES, Workspace  # noqa: E402
from qcpt.core.io import write_json  # noqa: E402

log = logging.getLogger("bench")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads_used": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "memory_gib": _memory_gib(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cuda_device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    from importlib import metadata

    for name in ("faiss-cpu", "faiss-gpu", "pyserini", "snakemake", "tokenizers", "accelerate"):
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return info


# Stages that time the workflow against the raw library call on the same work (``overhead_ratio``).
OVERHEAD_STAGES = ("faiss", "bm25", "encode")


def overhead_ratios(stages: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """``{stage: overhead_ratio}`` of the stages that measure one (workflow seconds / raw library
    seconds); None for such a stage not run in this bench or failed."""
    return {name: stages.get(name, {}).get("overhead_ratio") for name in OVERHEAD_STAGES}


def run_stage(name: str, ws: Workspace) -> dict[str, Any]:
    log.info("stage %s ...", name)
    t0 = time.perf_counter()
    try:
        result: dict[str, Any] = {"status": "ok", **STAGES[name](ws)}
    except Exception as err:  # noqa: BLE001 - one stage's failure must not stop the others
        result = {"status": "error", "error": f"{type(err).__name__}: {err}"[:4000],
                  "traceback": traceback.format_exc()[-4000:]}
    result["stage_seconds"] = round(time.perf_counter() - t0, 3)
    log.info("stage %s: %s in %.1fs", name, result["status"], result["stage_seconds"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the workflow's stages; writes one JSON.")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"), help="result JSON")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES), help="stages to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: the whole bench in under two minutes on 2 cores")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per stage (default: the CPUs available)")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    # Before torch loads: every library in this process (and the subprocesses) keeps to the budget.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    # OpenMP threads that spin while waiting make torch on a shared CPU many times slower (another
    # process's threads take the cores they spin on: 4 vs 55 samples/s measured for pre-training
    # on 2 busy cores); passive waiting costs little on an idle machine. Set it in the environment
    # to measure another policy.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qcpt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root=workdir, quick=args.quick, threads=threads)
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "sizes": ws.sizes,
        "machine": machine_info(threads),
        "stages": {},
    }
    t0 = time.perf_counter()
    try:
        for name in args.stages:
            report["stages"][name] = run_stage(name, ws)
            report["overhead_ratios"] = overhead_ratios(report["stages"])
            report["total_seconds"] = round(time.perf_counter() - t0, 3)
            if hasattr(os, "getloadavg"):  # other work on the machine slows every stage: say so
                report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
            write_json(args.out, report)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = [n for n, r in report["stages"].items() if r["status"] == "error"]
    log.info("wrote %s in %.1fs; %d stage(s) failed%s", args.out, report["total_seconds"], len(failed),
             f": {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
