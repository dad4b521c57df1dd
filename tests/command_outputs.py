"""What each command of qcpt/cli.py wrote in a built grid, reduced to digests that two runs of the
same code on the same inputs share: the record tests/test_job_identity.py holds the code to.

A job's command and version come from its Snakemake record (`.snakemake/metadata`: the rule's params
carry ``name@version``). Digests drop what never describes the output itself (provenance, times,
hosts, paths of the run) and round numbers to 6 significant digits; model weights are digested per
tensor. Record anew after a version bump:

    QCPT_RECORD_COMMAND_OUTPUTS=1 python -m pytest -q tests/test_job_identity.py
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import urlsafe_b64decode
from pathlib import Path
from typing import Any

RECORD = Path(__file__).resolve().parent / "data" / "command-outputs.json"
COMMAND_PARAM = re.compile(r"(?:^|\s)([\w.:]+)@(\d+)$")
# keys whose values describe the run, not the output
VOLATILE_KEYS = {
    "provenance", "created", "hostname", "git_commit", "git_dirty", "interpreter", "checkout", "versions",
    "python", "seconds", "wall_seconds", "train_runtime", "samples_per_second", "train_samples_per_second",
    "train_steps_per_second", "steps_per_second", "peak_rss_mb", "peak_rss_bytes", "mtime", "path", "elapsed",
    "started", "finished", "timestamp", "time", "build_seconds", "rss", "inputs",
}
TEXT_SUFFIXES = {".tsv", ".jsonl", ".trec", ".txt", ".qrels", ".csv", ".md", ".vocab", ".json"}
NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def _round(value: float) -> float:
    return float(f"{value:.6g}")


VOLATILE_PARTS = ("second", "time", "rss", "created", "date", "host", "elapsed", "duration", "runtime", "mtime")
# absolute paths (temporary folders, the checkout), commit ids, dates and clock times in text
VOLATILE_TEXT = re.compile(r"(?<![\w.])/(?:tmp|var|root|home|work|private)/\S*|\b[0-9a-f]{12,40}\b"
                           r"|\d{4}-\d{2}-\d{2}[ T]?[\d:.]*(?:\+\d\d:\d\d|Z)?")


def _volatile(key: str) -> bool:
    return key in VOLATILE_KEYS or any(part in key.lower() for part in VOLATILE_PARTS)


def _normal(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _normal(v) for k, v in sorted(obj.items()) if not _volatile(str(k))}
    if isinstance(obj, list):
        return [_normal(v) for v in obj]
    if isinstance(obj, float):
        return _round(obj)
    if isinstance(obj, str):
        return VOLATILE_TEXT.sub("<volatile>", obj)
    return obj


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def digest_file(path: Path, workdir: Path) -> str | None:
    """A file's digest, or None where only its existence is checked (Lucene segments, images)."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        tensors = load_file(str(path))
        return _sha(json.dumps({name: [list(t.shape), _round(float(t.astype("float64").sum()))]
                                for name, t in sorted(tensors.items())}))
    if path.suffix in (".npy", ".npz"):
        import numpy as np

        arrays = np.load(path)
        items = arrays.items() if hasattr(arrays, "items") else [("", arrays)]
        return _sha(json.dumps({k: [list(a.shape), _round(float(np.asarray(a, dtype="float64").sum()))]
                                if a.dtype.kind == "f" else _sha(a.tobytes()) for k, a in items}))
    if path.suffix not in TEXT_SUFFIXES:
        return None
    text = path.read_text(encoding="utf-8", errors="replace").replace(str(workdir), "<workdir>")
    if path.suffix == ".md":  # cards and reports: the lines that say when and how long are the run's
        text = "\n".join(line for line in text.splitlines()
                         if not re.search(r"(?i)second|minute|wall|time|\bs\b|date|commit", line))
    if path.suffix == ".json":
        try:
            return _sha(json.dumps(_normal(json.loads(text)), sort_keys=True))
        except json.JSONDecodeError:
            pass
    text = VOLATILE_TEXT.sub("<volatile>", text)
    return _sha(NUMBER.sub(lambda m: repr(_round(float(m.group()))), text))


def digest(path: Path, workdir: Path) -> dict[str, str | None]:
    if path.is_dir():
        return {str(f.relative_to(path)): digest_file(f, workdir) for f in sorted(path.rglob("*"))
                if f.is_file() and "checkpoint" not in str(f.relative_to(path))}
    return {"": digest_file(path, workdir)}


def _records(workdir: Path) -> dict[str, dict[str, Any]]:
    """Output path -> its Snakemake record."""
    out = {}
    root = workdir / ".snakemake" / "metadata"
    for file in root.rglob("*"):
        if file.is_file():
            parts = file.relative_to(root).parts
            encoded = "".join(p[1:] if p.startswith("@") else p for p in parts)
            try:
                out[urlsafe_b64decode(encoded).decode()] = json.loads(file.read_text())
            except (ValueError, json.JSONDecodeError):
                continue
    return out


def command_of(params: list[Any]) -> tuple[str, int] | None:
    for value in params or []:
        m = COMMAND_PARAM.search(str(value).strip("'\""))
        if m:
            return m.group(1), int(m.group(2))
    return None


def collect(workdir: Path) -> dict[str, dict[str, Any]]:
    """Output path -> {command, version, params, inputs (their digests), digest} for every job output
    of a command in ``workdir``'s built grid."""
    records = _records(workdir)
    out = {}
    for output, record in sorted(records.items()):
        found = command_of(record.get("params") or [])
        path = workdir / output
        if found is None or not path.exists() or output.endswith(".log"):
            continue
        inputs = {}
        for name in sorted(record.get("input") or []):
            p = workdir / name
            if p.exists():
                inputs[name] = _sha(json.dumps(digest(p, workdir), sort_keys=True))
        out[output] = {"command": found[0], "version": found[1], "rule": record.get("rule"),
                       "params": _sha(json.dumps(record.get("params"), sort_keys=True)),
                       "inputs": inputs, "digest": digest(path, workdir)}
    return out
