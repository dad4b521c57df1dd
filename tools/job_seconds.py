"""Per-rule job-seconds of a workflow run, from Snakemake's own records (.snakemake/metadata).

Snakemake keeps one JSON record per output file with the rule, the job's hash and its start and
end times; a job with several outputs has several records with one hash. This tool counts each job
once and sums its seconds per rule, so a run can be timed after the fact without benchmark files:

    python tools/job_seconds.py [--workdir .] [--since 2026-12-02T06:00] [--prefix results/] [--markdown]

``--since`` keeps the jobs that started at or after that moment (UTC; a later partial rerun leaves
the older jobs' records in place); ``--prefix`` keeps outputs under that path. The last line is the
wall time from the first job's start to the last job's end, and the sum of all job-seconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Job:
    rule: str
    start: float
    end: float


def read_jobs(workdir: Path, since: float | None = None, prefix: str | None = None) -> list[Job]:
    """One :class:`Job` per job hash among the records of ``workdir/.snakemake/metadata``."""
    folder = workdir / ".snakemake" / "metadata"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no Snakemake metadata (run the workflow in {workdir} first)")
    jobs: dict[tuple[str, int], Job] = {}
    for record in sorted(folder.iterdir()):
        try:
            output = base64.b64decode(record.name.replace("@", "/")).decode("utf-8")
        except ValueError:
            output = record.name
        if prefix and not output.startswith(prefix):
            continue
        data = json.loads(record.read_text(encoding="utf-8"))
        start, end = data.get("starttime"), data.get("endtime")
        if start is None or end is None or data.get("incomplete"):
            continue
        if since is not None and start < since:
            continue
        key = (data["rule"], data.get("job_hash", hash(output)))
        jobs[key] = Job(data["rule"], float(start), float(end))
    return list(jobs.values())


def per_rule(jobs: list[Job]) -> list[tuple[str, int, float]]:
    """``(rule, jobs, job-seconds)``, most seconds first."""
    count: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for job in jobs:
        count[job.rule] += 1
        seconds[job.rule] += job.end - job.start
    return sorted(((r, count[r], seconds[r]) for r in count), key=lambda row: -row[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--since", help="UTC moment, ISO format: keep jobs that started then or later")
    parser.add_argument("--prefix", help="keep outputs under this path (e.g. results/)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table instead of aligned text")
    args = parser.parse_args(argv)
    since = None
    if args.since:
        moment = datetime.fromisoformat(args.since)
        since = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    jobs = read_jobs(args.workdir, since, args.prefix)
    if not jobs:
        print("no finished jobs match", file=sys.stderr)
        return 1
    rows = per_rule(jobs)
    if args.markdown:
        print("| rule | jobs | job-seconds |\n|---|---:|---:|")
        for rule, n, secs in rows:
            print(f"| {rule} | {n} | {secs:.0f} |")
    else:
        for rule, n, secs in rows:
            print(f"{rule:<20} {n:>4} {secs:>8.1f}")
    wall = max(j.end for j in jobs) - min(j.start for j in jobs)
    total = sum(secs for _, _, secs in rows)
    print(f"{len(jobs)} jobs, {total:.0f} job-seconds, wall {wall:.0f} s ({wall / 60:.1f} min) first start to last end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
