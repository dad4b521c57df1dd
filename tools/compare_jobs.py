"""Compare two dry runs job by job: same rules, same jobs, same files and the same --params.

usage: python tools/compare_jobs.py BEFORE.json AFTER.json [--show N]

Each file is ``{rule: [shell command, ...]}`` of ``snakemake -n -p`` (paths of the working and the
repository folder written as <WD> and <REPO>). Before comparing, what a refactor of the entry points
changes and no job sees is normalised away:

- the 22 per-command scripts (``<REPO>/scripts/evaluate.py``) became one entry point with a command
  table (``<REPO>/scripts/qcpt.py retrieval.evaluate``): old script names are mapped to commands;
- the ``QCPT_CHECKPOINT_RETENTION=...`` prefix of the training jobs moved into the environment the
  Snakefile gives every job (same variable, same value; the shell line no longer shows it).

Then every job's command must be identical: its inputs and outputs (the paths on its command line),
its other arguments, and its ``--params`` JSON (compared as parsed objects, so a difference is named
by key). Exit 0 when all jobs match, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections import Counter

# The scripts/ shims before the command table (scripts/<name>.py) -> the command that replaced them.
SHIMS = {
    "prepare_documents": "corpus:documents", "prepare_collection": "corpus:collection",
    "prepare_topics": "corpus:topics", "train_punkt": "textmodels:punkt",
    "build_encoder": "textmodels:encoder", "make_passages": "passages",
    "passage_order": "querygen.sharding", "train_doc2query": "querygen.doc2query",
    "prepare_gguf_model": "querygen.gguf", "generate_queries": "querygen.driver",
    "index_passages": "querygen.consistency:index", "select_queries": "querygen.selection",
    "pretrain": "pretrain.driver", "make_train_data": "retrieval.train_data",
    "finetune": "retrieval.finetune.driver", "bm25_index": "retrieval.bm25:index",
    "bm25_search": "retrieval.bm25:search", "encode": "retrieval.encode",
    "search": "retrieval.search", "evaluate": "retrieval.evaluate",
    "mean_metrics": "retrieval.evaluate:mean", "summary": "summary", "check_expected": "expected",
    "report": "report.build",
}
SHIM_RE = re.compile(r"<REPO>/scripts/(\w+)\.py(?= |$)")
RETENTION_RE = re.compile(r"QCPT_CHECKPOINT_RETENTION=('[^']*'|\S+) ")


def normalise(command: str) -> str:
    command = SHIM_RE.sub(lambda m: f"<REPO>/scripts/qcpt.py {SHIMS.get(m[1], m[1])}"
                          if m[1] != "qcpt" else m[0], command)
    return RETENTION_RE.sub("", command)


def split_params(command: str) -> tuple[str, list[object]]:
    """The command without its JSON arguments, and those arguments parsed (in order)."""
    words = shlex.split(command.replace(">>", " >> ").replace(">", " > ").replace(";", " ; "))
    rest, blobs = [], []
    for word in words:
        if word[:1] in "{[" and word[-1:] in "}]":
            try:
                blobs.append(json.loads(word))
                rest.append("<JSON>")
                continue
            except json.JSONDecodeError:
                pass
        rest.append(word)
    return " ".join(rest), blobs


def json_diff(a: object, b: object, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{where}.{key}: {'missing before' if key not in a else 'missing after'}")
            else:
                out += json_diff(a[key], b[key], f"{where}.{key}")
        return out
    return [] if a == b else [f"{where or '.'}: {a!r} -> {b!r}"]


def compare(before: dict[str, list[str]], after: dict[str, list[str]], show: int = 5) -> list[str]:
    """Lines naming every difference; empty when the two dry runs run the same jobs."""
    problems: list[str] = []
    for rule in sorted(set(before) | set(after)):
        old = Counter(normalise(c) for c in before.get(rule, []))
        new = Counter(normalise(c) for c in after.get(rule, []))
        if rule not in before or rule not in after:
            problems.append(f"rule {rule}: only {'after' if rule not in before else 'before'}")
            continue
        gone, added = sorted((old - new).elements()), sorted((new - old).elements())
        if not gone and not added:
            continue
        problems.append(f"rule {rule}: {len(gone)} job(s) before only, {len(added)} after only")
        by_shape = {split_params(c)[0]: c for c in added}
        for command in gone[:show]:
            shape, blobs = split_params(command)
            twin = by_shape.get(shape)
            if twin is None:
                problems.append(f"  before only: {command}")
                continue
            for i, (a, b) in enumerate(zip(blobs, split_params(twin)[1], strict=False)):
                problems += [f"  JSON argument {i}{line}" for line in json_diff(a, b)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--show", type=int, default=5, help="differences shown per rule")
    args = parser.parse_args(argv)
    with open(args.before, encoding="utf-8") as handle:
        before = json.load(handle)
    with open(args.after, encoding="utf-8") as handle:
        after = json.load(handle)
    problems = compare(before, after, args.show)
    jobs = sum(len(v) for v in after.values())
    if problems:
        print("\n".join(problems))
        print(f"DIFFERENT: {len(problems)} difference line(s); {jobs} jobs after")
        return 1
    print(f"identical: {len(after)} rules, {jobs} jobs (rule, files, arguments and --params of every job)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
