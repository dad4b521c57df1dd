"""Where a store lives, what it was built from, and the lock its builders share.

A store's folder holds, per stem, the built files and a JSON meta whose ``key`` says what they were
built from (:func:`source_key`: the source's path, size, mtime and inode); a reader whose key
differs rebuilds. :func:`locked` is an exclusive ``flock`` on ``<folder>/lock``: the ranks of one
run start together, the first builds and the others then find the meta written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...core.io import atomic_path


def source_key(path: str | os.PathLike) -> dict[str, Any]:
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def store_dir(path: str | os.PathLike) -> Path:
    """Where the store of ``path`` lives: ``<path>.qcpt-store/`` beside it, or, when that folder
    cannot be written (an input inside a read-only install or share), a folder named after the
    input's resolved path under ``$QCPT_STORE_CACHE`` (default ``~/.cache/qcpt/stores``)."""
    source = Path(path)
    beside = source.parent / f"{source.name}.qcpt-store"
    try:
        beside.mkdir(exist_ok=True)
        if os.access(beside, os.W_OK):
            return beside
    except OSError:
        pass
    root = Path(os.environ.get("QCPT_STORE_CACHE") or Path.home() / ".cache" / "qcpt" / "stores")
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    return root / f"{source.name}-{digest}.qcpt-store"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

