"""``python -m qcpt why [snakemake arguments]``: per rule, how many jobs a run would start and why,
read before a cluster run.

It runs ``snakemake -n`` with the arguments given and sums the reason Snakemake prints for each job:
a new cell (output missing), a parameter changed from a to b (the job's ``--params`` JSON compared key
by key), a command version bumped (``name@1`` -> ``name@2``, qcpt/cli.py VERSIONS), an input rebuilt
upstream or changed, the rule's code changed, forced.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

VERSIONED = re.compile(r"([\w.:]+)@(\d+)")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
# Snakemake: "Params have changed since last execution: Union of exclusive params before and now
# across all output: before: <values> now: <values>"
PARAMS = re.compile(r"Params have changed since last execution.*?before: (.*?) now: (.*?)\s*$")


def _values(text: str) -> list[str]:
    """The param values Snakemake printed (space-separated; JSON objects kept whole)."""
    values, depth, current = [], 0, ""
    text = text.replace("<nothing exclusive>", "")
    for ch in text.strip():
        if ch == " " and depth == 0:
            if current:
                values.append(current)
            current = ""
            continue
        depth += ch in "{[" and 1 or 0
        depth -= ch in "}]" and 1 or 0
        current += ch
    if current:
        values.append(current)
    return [v.strip("'\"") for v in values]


def describe_params_change(before: str, now: str) -> list[str]:
    """What changed between two sets of printed param values, one phrase per change."""
    old, new = _values(before), _values(now)
    phrases = []
    old_versions = {m.group(1): m.group(2) for v in old if (m := VERSIONED.fullmatch(v.split()[-1]))}
    new_versions = {m.group(1): m.group(2) for v in new if (m := VERSIONED.fullmatch(v.split()[-1]))}
    for name in sorted(set(old_versions) | set(new_versions)):
        if name not in old_versions:  # planned by a qcpt from before command versions
            phrases.append(f"command version recorded: {name}@{new_versions[name]}")
        elif name not in new_versions:
            phrases.append(f"command version dropped: {name}@{old_versions[name]}")
        elif old_versions[name] != new_versions[name]:
            phrases.append(f"command version bumped: {name}@{old_versions[name]} -> @{new_versions[name]}")
    old_json = [json.loads(v) for v in old if v.startswith("{") and _is_json(v)]
    new_json = [json.loads(v) for v in new if v.startswith("{") and _is_json(v)]
    for a, b in zip(old_json, new_json, strict=False):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                phrases.append(f"parameter {key} changed from {a.get(key, '(unset)')} to {b.get(key, '(unset)')}")
    rest_old = [v for v in old if not VERSIONED.fullmatch(v.split()[-1]) and not v.startswith("{")]
    rest_new = [v for v in new if not VERSIONED.fullmatch(v.split()[-1]) and not v.startswith("{")]
    if rest_old or rest_new:
        phrases.append(f"parameter changed from {' '.join(rest_old) or '(none)'} to {' '.join(rest_new) or '(none)'}")
    return phrases or ["parameters changed"]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def classify(reason: str) -> list[str]:
    if m := PARAMS.search(reason):
        return describe_params_change(m.group(1), m.group(2))
    table = [
        ("Missing output files", "new (output missing)"),
        ("Input files updated by another job", "an input is rebuilt upstream"),
        ("Updated input files", "an input file changed"),
        ("Set of input files has changed", "its set of inputs changed"),
        ("Code has changed", "the rule's code changed"),
        ("Forced execution", "forced"),
        ("Software environment", "its software environment changed"),
        ("Incomplete output", "incomplete output of an interrupted run"),
    ]
    return [label for key, label in table if key.lower() in reason.lower()] or [reason.strip()]


def summarise(dry_run_output: str) -> dict[str, Counter]:
    """Rule -> Counter of reasons (a job counts once per reason it has)."""
    out: dict[str, Counter] = defaultdict(Counter)
    rule = None
    for line in dry_run_output.splitlines():
        if m := RULE.match(line.strip()):
            rule = m.group(1)
        elif rule and line.strip().startswith("reason:"):
            out[rule]["jobs"] += 1
            for label in classify(line.strip()[len("reason:"):]):
                out[rule][label] += 1
            rule = None
    return dict(out)


def render(summary: dict[str, Counter]) -> str:
    if not summary:
        return "Nothing to be done: every job is up to date."
    lines = []
    for rule, counts in sorted(summary.items(), key=lambda kv: (-kv[1]["jobs"], kv[0])):
        lines.append(f"{rule}: {counts['jobs']} job{'s' if counts['jobs'] != 1 else ''}")
        for label, n in counts.most_common():
            if label != "jobs":
                lines.append(f"    {n:>5}  {label}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    snakefile = Path(__file__).resolve().parents[1] / "Snakefile"
    given = any(a == "--snakefile" or a.startswith("--snakefile=") or a == "-s" for a in argv)
    cmd = [sys.executable, "-m", "snakemake", "-n", *([] if given else ["--snakefile", str(snakefile)]), *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:] + proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    print(render(summarise(proc.stdout + proc.stderr)))
    return 0
