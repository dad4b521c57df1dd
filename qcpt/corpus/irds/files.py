"""The files of ir_datasets' cache a dataset reads, and their checksums.

:func:`cache_files` walks a dataset's handlers down to its downloads (or the derived files built
from them); :func:`verify` checks a file against qcpt/data/external.yaml (sha256 of the file or of
an archive's members), else against the md5 ir_datasets records for the download.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.io import write_json
from .dataset import IrdsError, home, load, raw_docs, registry

# --------------------------------------------------------------------------- what a dataset needs


@dataclass(frozen=True)
class CacheFile:
    """A file of ir_datasets' cache that a dataset part reads."""

    path: Path
    url: str | None  # None: a file ir_datasets derives from a download (a Cache)
    md5: str | None  # what ir_datasets records for the download
    size: int | None  # ir_datasets' size hint (bytes)

    @property
    def relative(self) -> str:
        try:
            return str(self.path.relative_to(home()))
        except ValueError:
            return str(self.path)


def _walk(obj: Any, seen: set[int], out: list[CacheFile]) -> None:
    """The cache files below a dataset's handler: a derived (Cached) file that exists stands for
    what it was made from; otherwise the downloads it is made from."""
    from ir_datasets.util import Cache
    from ir_datasets.util.download import Download, LocalDownload

    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Cache):
        if Path(obj._path).exists():
            out.append(CacheFile(Path(obj._path), None, None, None))
            return
        below: list[CacheFile] = []
        _walk(obj._streamer, seen, below)
        for f in below:
            # ir_datasets keeps no copy of a small download it extracts into a Cache file (it looks
            # in downloads/<md5> only for files of 5 MB and more): that Cache file is what to seed.
            if f.path.parent == home() / "downloads" and (f.size or 0) < 5_000_000:
                f = CacheFile(Path(obj._path), f.url, None, f.size)
            out.append(f)
        return
    if isinstance(obj, Download):
        url = next((m.url for m in obj.mirrors if not isinstance(m, LocalDownload) and getattr(m, "url", None)), None)
        path = Path(obj._cache_path) if obj._cache_path else home() / "downloads" / (obj.expected_md5 or "unknown")
        out.append(CacheFile(path, url, obj.expected_md5, obj._size_hint))
        return
    if isinstance(obj, (list, tuple, set)):
        for item in obj:
            _walk(item, seen, out)
    elif isinstance(obj, dict):
        for item in obj.values():
            _walk(item, seen, out)
    elif type(obj).__module__.startswith("ir_datasets") and hasattr(obj, "__dict__"):
        for item in vars(obj).values():
            _walk(item, seen, out)


def cache_files(did: str, parts: tuple[str, ...]) -> list[CacheFile]:
    """The files of ir_datasets' cache that reading ``parts`` of ``did`` needs, each once."""
    dataset = load(did)
    handlers = {"docs": "docs_handler", "queries": "queries_handler", "qrels": "qrels_handler"}
    out: list[CacheFile] = []
    seen: set[int] = set()
    for part in parts:
        if part == "raw":
            spec = raw_docs(did)
            found = [f for f in cache_files(did, ("docs",)) if f.relative == spec["download"]]
            out += found or [CacheFile(home() / spec["download"], None, None, None)]
            continue
        _walk(getattr(dataset, handlers[part])(), seen, out)
    unique: dict[Path, CacheFile] = {}
    for f in out:
        unique.setdefault(f.path, f)
    return list(unique.values())


STAMPS = ".qcpt-verified"  # under $IR_DATASETS_HOME: a checksum per file, size and mtime


def _digest(path: Path, algo: str) -> str:
    """The file's checksum, remembered beside the cache (per size and mtime, best effort: a read-only
    cache is hashed each time): a 5 GB zip shared by 12 datasets is hashed once, not 24 times."""
    st = path.stat()
    key = f"{algo}:{st.st_size}:{st.st_mtime_ns}"
    try:
        stamp = home() / STAMPS / (str(path.relative_to(home())) + ".json")
    except ValueError:
        stamp = None
    if stamp is not None:
        try:
            known_digests = json.loads(stamp.read_text(encoding="utf-8"))
            if key in known_digests:
                return known_digests[key]
        except (OSError, ValueError):
            known_digests = {}
    h = hashlib.new(algo)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            h.update(block)
    digest = h.hexdigest()
    if stamp is not None:
        try:
            write_json(stamp, {k: v for k, v in known_digests.items() if not k.startswith(f"{algo}:")} | {key: digest})
        except OSError:
            pass
    return digest


def _zip_member_digest(path: Path, member: str) -> str | None:
    with zipfile.ZipFile(path) as archive:
        try:
            handle = archive.open(member)
        except KeyError:
            return None
        h = hashlib.sha256()
        with handle:
            while block := handle.read(1 << 20):
                h.update(block)
        return h.hexdigest()


@dataclass(frozen=True)
class Verdict:
    state: str  # present | verified | missing | wrong checksum
    detail: str = ""


def verify(f: CacheFile) -> Verdict:
    """A cache file against what qcpt/data/external.yaml records for it (sha256 of the file, or of
    the members of an archive), else the md5 ir_datasets records for the download."""
    if not f.path.is_file():
        return Verdict("missing")
    recorded = registry().get("irds_files", {}).get(f.relative, {})
    if recorded.get("sha256"):
        actual = _digest(f.path, "sha256")
        if actual != recorded["sha256"]:
            return Verdict("wrong checksum", f"sha256 expected {recorded['sha256']}, actual {actual}")
        return Verdict("verified", "sha256")
    if f.md5:
        actual = _digest(f.path, "md5")
        if actual == f.md5:
            return Verdict("verified", "md5 (ir_datasets)")
        if not recorded.get("members"):
            return Verdict("wrong checksum", f"md5 expected {f.md5}, actual {actual}")
    if recorded.get("members"):
        # A copy rebuilt elsewhere (another zip of the same files) is right when its members are.
        for member, expected in recorded["members"].items():
            actual = _zip_member_digest(f.path, member)
            if actual != expected:
                return Verdict("wrong checksum", f"{member}: sha256 expected {expected}, actual {actual or 'absent'}")
        return Verdict("verified", f"sha256 of {len(recorded['members'])} members")
    return Verdict("present", "no checksum recorded")


# --------------------------------------------------------------------------- the cache job


def parts_of(uses: list[str]) -> tuple[str, ...]:
    """Dataset parts read for config uses: ``docs``/``raw`` (a corpus or collection), ``topics``
    (queries and qrels, which select them)."""
    parts: list[str] = []
    for use in uses:
        parts += {"docs": ["docs"], "raw": ["raw"], "topics": ["queries", "qrels"]}[use]
    return tuple(dict.fromkeys(parts))


def check_files(did: str, files: list[CacheFile]) -> list[dict[str, Any]]:
    """Every cache file verified; a wrong one is an IrdsError naming it, expected and actual."""
    report = []
    for f in files:
        verdict = verify(f)
        if verdict.state == "wrong checksum":
            raise IrdsError(f"irds:{did}: {f.path}: wrong checksum: {verdict.detail} "
                            "(delete it and run `python -m qcpt data --fetch`, or replace it with a good copy)")
        report.append({"file": f.relative, "state": verdict.state, "checksum": verdict.detail})
    return report

