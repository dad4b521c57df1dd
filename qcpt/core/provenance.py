"""Provenance of an artifact: which cell, which code, which software, which inputs.

:func:`collect` is called once per evaluation job, so it stays cheap: package versions come from
installed metadata (nothing heavy is imported), the git commit is asked once per process, and inputs
larger than :data:`BIG_INPUT_BYTES` are identified by size and modification time instead of a
checksum (hashing an 8.8M-passage index would cost minutes).
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from .io import sha256_tree

BIG_INPUT_BYTES = 1 << 30  # 1 GiB

# distribution names per package (the first one installed wins: faiss ships under several names)
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "transformers": ("transformers",),
    "snakemake": ("snakemake",),
    "pyserini": ("pyserini",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11", "faiss"),
    "ir-measures": ("ir-measures", "ir_measures"),
    "nltk": ("nltk",),
    "qcpt": ("qcpt",),
}

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    """Installed versions (None when absent); qcpt run from a checkout reports its ``__version__``."""
    versions: dict[str, str | None] = {}
    for package, dists in PACKAGES.items():
        versions[package] = None
        for dist in dists:
            try:
                versions[package] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    if versions["qcpt"] is None:
        from .. import __version__

        versions["qcpt"] = __version__
    return versions


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the workflow's checkout, ``(None, None)`` outside a git repository.
    Dirty counts tracked files only (results and caches are untracked)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def _size_and_mtime(path: Path) -> tuple[int, float]:
    if path.is_file():
        st = path.stat()
        return st.st_size, st.st_mtime
    size, mtime = 0, path.stat().st_mtime
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            size += st.st_size
            mtime = max(mtime, st.st_mtime)
    return size, mtime


def describe_input(path: str | os.PathLike) -> dict[str, Any]:
    """sha256 of a file or folder (qcpt.core.io.sha256_tree), or size + mtime above 1 GiB."""
    p = Path(path)
    if not p.exists():
        return {"missing": True}
    size, mtime = _size_and_mtime(p)
    out: dict[str, Any] = {"size": size, "kind": "file" if p.is_file() else "directory"}
    if size > BIG_INPUT_BYTES:
        out.update(
            sha256=None,
            mtime=_dt.datetime.fromtimestamp(mtime, _dt.UTC).isoformat(timespec="seconds"),
            note="larger than 1 GiB: identified by size and mtime instead of sha256",
        )
    else:
        out["sha256"] = sha256_tree(p)
    return out


def collect(cell: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """Provenance of one artifact: the cell's config, software versions, the workflow's git commit,
    Python, host, time, and a checksum (or size + mtime) per input path."""
    commit, dirty = git_state()
    return {
        "cell": cell,
        "versions": dict(package_versions()),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        # Where this job ran from: information, not identity (a job's params never carry paths).
        "interpreter": sys.executable,
        "checkout": str(Path(__file__).resolve().parents[2]),
        "hostname": socket.gethostname(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inputs": {str(p): describe_input(p) for p in inputs},
    }
