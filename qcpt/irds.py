"""Data by ID: ``irds:<dataset-id>`` sources read through ir_datasets (https://ir-datasets.com).

A config may name a corpus, collection, topics, qrels or training pairs as ``irds:<id>``
(``irds:beir/scifact/test``, ``irds:msmarco-passage/trec-dl-2019/judged``) instead of a file. The
workflow then runs one ``irds_cache`` job per dataset ID (rules/data.smk): it has ir_datasets
download and build its cache under ``$IR_DATASETS_HOME`` (default ``~/.ir_datasets``), checks every
file it relies on against the checksum recorded for it (qcpt/data/external.yaml, else the md5
ir_datasets records), and writes a small pointer file, ``<results>/irds/<id>.irds.json``. The jobs
that read the data (documents, prepare_collection, prepare_topics) get the pointer as their input,
and qcpt/corpus.py's readers read the rows from the cache, so they never download or build: jobs
of the same dataset never race on ir_datasets' cache, and the jobs of one download group (IDs that
share a cache folder, e.g. beir/scifact/train and beir/scifact/test) run one after the other.

Rows are checked by the same readers as file lines (qcpt/corpus.py); a bad row is an
:class:`~qcpt.io.InputError` naming the ID, the part (docs, queries, qrels), the 1-based row and the
field.

``format: raw`` on an ``irds:`` collection or corpus reads the file ir_datasets downloaded as it
is, not ir_datasets' text: MS MARCO passage's ``collection.tsv`` (ir_datasets repairs its
double-encoded UTF-8; pyserini and Tevatron index the raw file, docs/fidelity.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .io import InputError, write_json
from .params import setup_logging

log = logging.getLogger(__name__)

PREFIX = "irds:"
POINTER_SUFFIX = ".irds.json"
PARTS = ("docs", "queries", "qrels")
IRDS_VERSION = "0.6.3"  # pyproject's pin; the registry's md5 and member checksums are this version's


class IrdsError(RuntimeError):
    """An ir_datasets dataset that cannot be used here (unknown ID, not cached and not downloadable,
    a cached file with a wrong checksum); the message names the ID."""


# --------------------------------------------------------------------------- IDs and groups


def is_irds(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def dataset_id(source: str) -> str:
    return source[len(PREFIX):]


def group(did: str) -> str:
    """The cache folder an ID shares with others (its download group): ``beir/<set>`` for BEIR (the
    12 CQADupStack forums share one zip), else the first component (``msmarco-passage``)."""
    parts = did.split("/")
    return "/".join(parts[:2]) if parts[0] == "beir" and len(parts) > 1 else parts[0]


def home() -> Path:
    return Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))


def _ir_datasets():
    # Imported late: it reads IR_DATASETS_HOME once, when it is imported.
    import ir_datasets

    return ir_datasets


def known(did: str) -> bool:
    return did in _ir_datasets().registry


def load(did: str):
    if not known(did):
        raise IrdsError(f"irds:{did}: not a dataset ID of ir_datasets {IRDS_VERSION} (https://ir-datasets.com lists them)")
    return _ir_datasets().load(did)


def pointer_id(source: str | os.PathLike) -> str | None:
    """The dataset ID of ``irds:<id>`` or of a pointer file the irds_cache job wrote, else None."""
    text = str(source)
    if is_irds(text):
        return dataset_id(text)
    if text.endswith(POINTER_SUFFIX):
        try:
            pointer = json.loads(Path(text).read_text(encoding="utf-8"))
            did = pointer["id"]
        except (OSError, ValueError, KeyError) as err:
            raise InputError(text, None, "id", f"not an irds pointer file ({err})") from err
        _use_home(pointer.get("home"), did)
        return did
    return None


def _use_home(built_in: str | None, did: str) -> None:
    """Read the cache the irds_cache job built: its IR_DATASETS_HOME, also where a job's environment
    lacks the variable (ir_datasets reads it once, when imported)."""
    if not built_in or Path(built_in) == home():
        return
    import sys

    if "ir_datasets" in sys.modules:
        raise IrdsError(f"irds:{did}: its cache was built in {built_in}, but IR_DATASETS_HOME is {home()} here")
    os.environ["IR_DATASETS_HOME"] = built_in


def label(did: str, part: str) -> str:
    return f"{PREFIX}{did} {part}"


# --------------------------------------------------------------------------- rows


def _field(obj: Any, *names: str) -> Any:
    return next((getattr(obj, n) for n in names if getattr(obj, n, None) is not None), None)


def _text(where: str, row: int, field: str, value: Any) -> str:
    if value is None:
        raise InputError(where, row, field, "missing", unit="row")
    if not isinstance(value, str):
        raise InputError(where, row, field, f"expected a string, got {type(value).__name__}", unit="row")
    return value


def doc_rows(did: str) -> Iterator[tuple[int, str, str, str]]:
    """``(row, doc_id, title, text)`` of a dataset's documents; the text is ``text`` (``body`` for
    MS MARCO documents), the title empty where the dataset has none."""
    dataset, where = load(did), label(did, "docs")
    if not dataset.has_docs():
        raise InputError(where, None, None, "this dataset has no documents")
    for row, doc in enumerate(dataset.docs_iter(), start=1):
        doc_id = _text(where, row, "doc_id", doc.doc_id)
        title = _text(where, row, "title", doc.title) if "title" in doc._fields else ""
        text = _text(where, row, "text", _field(doc, "text", "body"))
        yield row, doc_id, title, text


def query_rows(did: str) -> Iterator[tuple[int, str, str]]:
    dataset, where = load(did), label(did, "queries")
    if not dataset.has_queries():
        raise InputError(where, None, None, "this dataset has no queries")
    for row, query in enumerate(dataset.queries_iter(), start=1):
        yield row, _text(where, row, "query_id", query.query_id), _text(where, row, "text", query.text)


def qrel_rows(did: str) -> Iterator[tuple[int, str, str, Any]]:
    dataset, where = load(did), label(did, "qrels")
    if not dataset.has_qrels():
        raise InputError(where, None, None, "this dataset has no qrels")
    for row, qrel in enumerate(dataset.qrels_iter(), start=1):
        yield (row, _text(where, row, "query_id", qrel.query_id), _text(where, row, "doc_id", qrel.doc_id),
               qrel.relevance)


# --------------------------------------------------------------------------- raw files


def raw_docs(did: str) -> dict[str, str]:
    """The registry's raw documents file of ``did``'s group: ``{download, member, format}``."""
    spec = registry()["groups"].get(group(did), {}).get("raw_docs")
    if not spec:
        raise IrdsError(f"irds:{did}: format 'raw' needs a raw documents file, and qcpt/data/external.yaml "
                        f"records none for {group(did)} (only ir_datasets' own text is available)")
    return spec


def raw_doc_lines(did: str) -> tuple[str, Iterator[tuple[int, str]]]:
    """The raw documents file of ``did`` (read inside ir_datasets' cached archive) as numbered lines,
    with the label its errors carry."""
    spec = raw_docs(did)
    archive = home() / spec["download"]
    where = f"{PREFIX}{did} raw {spec['member']} (in {archive})"
    if not archive.is_file():
        raise IrdsError(f"irds:{did}: {archive} is not in the cache (the irds_cache job downloads it)")

    def lines() -> Iterator[tuple[int, str]]:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if member.name.lstrip("./") == spec["member"]:
                    handle = tar.extractfile(member)
                    for lineno, raw in enumerate(handle, start=1):
                        try:
                            yield lineno, raw.decode("utf-8").rstrip("\r\n")
                        except UnicodeDecodeError as err:
                            raise InputError(where, lineno, None, f"not valid UTF-8 ({err.reason})") from err
                    return
        raise InputError(where, None, None, f"{spec['member']} is not in the archive")

    return where, lines()


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


# --------------------------------------------------------------------------- checksums


@cache
def registry() -> dict[str, Any]:
    """qcpt/data/external.yaml: what the project records about its external data."""
    text = resources.files("qcpt").joinpath("data/external.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


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


def build_cache(did: str, uses: list[str], out: str | os.PathLike) -> dict[str, Any]:
    """Download and build what ``uses`` of ``did`` read, read every row once, verify the cache files
    and write the pointer file ``out``."""
    parts = parts_of(uses)
    files = cache_files(did, parts)
    for f in files:  # a file already here is checked before anything is built from it
        if f.path.is_file():
            check_files(did, [f])
    counts: dict[str, int] = {}
    try:
        for part in parts:
            rows = {"docs": doc_rows, "queries": query_rows, "qrels": qrel_rows}.get(part)
            if rows is not None:
                counts[part] = sum(1 for _ in rows(did))
            else:  # raw: ir_datasets fetches the archive; qcpt reads it itself
                downloads = [f for f in cache_files(did, ("docs",)) if f.relative == raw_docs(did)["download"]]
                _fetch_download(did, downloads)
    except InputError:
        raise
    except Exception as err:  # a download that failed, a cache that cannot be written
        raise IrdsError(f"irds:{did}: ir_datasets could not provide {'/'.join(parts)}: {type(err).__name__}: {err}") from err
    report = check_files(did, cache_files(did, parts))
    pointer = {"id": did, "uses": uses, "parts": list(parts), "counts": counts, "files": report,
               "ir_datasets": IRDS_VERSION, "home": str(home())}
    write_json(out, pointer)
    log.info("irds:%s: %s", did, ", ".join(f"{n} {p}" for p, n in counts.items()) or "cached")
    return pointer


def _fetch_download(did: str, files: list[CacheFile]) -> None:
    from ir_datasets.util.download import Download

    dataset = load(did)
    found: list[Any] = []

    def find(obj: Any, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Download):
            found.append(obj)
        elif isinstance(obj, (list, tuple, set)):
            for item in obj:
                find(item, seen)
        elif isinstance(obj, dict):
            for item in obj.values():
                find(item, seen)
        elif type(obj).__module__.startswith("ir_datasets") and hasattr(obj, "__dict__"):
            for item in vars(obj).values():
                find(item, seen)

    find(dataset.docs_handler(), set())
    wanted = {f.path for f in files}
    for download in found:
        if download._cache_path and Path(download._cache_path) in wanted:
            download.path()  # downloads (md5-checked by ir_datasets) unless already cached


def fetch(did: str, parts: tuple[str, ...]) -> None:
    """Have ir_datasets download what ``parts`` of ``did`` need (``python -m qcpt data --fetch``)."""
    try:
        for part in parts:
            if part == "raw":
                _fetch_download(did, [f for f in cache_files(did, ("docs",)) if f.relative == raw_docs(did)["download"]])
                continue
            rows = {"docs": doc_rows, "queries": query_rows, "qrels": qrel_rows}[part]
            next(iter(rows(did)), None)
    except Exception as err:
        raise IrdsError(f"irds:{did}: download failed ({type(err).__name__}: {err}); where this machine has "
                        f"no network, copy the files listed by `python -m qcpt data --check` into {home()}") from err


def main_cache(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build one ir_datasets dataset's cache and write its pointer file (rule irds_cache).")
    parser.add_argument("--id", required=True, help="ir_datasets dataset ID, e.g. beir/scifact/test")
    parser.add_argument("--uses", required=True, help="comma-separated: docs, raw, topics")
    parser.add_argument("--out", required=True, help="the pointer file (<results>/irds/<id>.irds.json)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        build_cache(args.id, args.uses.split(","), args.out)
    except (InputError, IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0
