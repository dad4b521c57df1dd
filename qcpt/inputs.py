"""A config's external inputs: what they are, where they come from, whether they are here and right.

``python -m qcpt data --configfile=configs/<preset>.yaml [--check | --fetch]`` lists every input of
a config that no rule makes: each ``irds:`` dataset (with the files of ir_datasets' cache it reads)
and each file a config names (corpus, collections, topics, qrels, hard negatives, precomputed
expansions), with its source, size and state:

- ``present``: there (without ``--check``: not hashed; with it: no checksum is recorded for it);
- ``verified``: its checksum is the one recorded (qcpt/data/external.yaml: sha256; else the md5
  ir_datasets records for a download);
- ``missing``; ``wrong checksum`` (expected and actual are printed).

``--fetch`` has ir_datasets download what is missing (where the network allows; otherwise it fails
naming the ID). :func:`preflight` runs the same checks when the workflow starts (rules/common.smk),
so a missing dataset or a wrong file stops the run before any job.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .core.io import sha256_file
from .corpus import irds


class DataError(RuntimeError):
    """An input that stops the workflow before any job: the message names it."""


@dataclass
class Entry:
    """One external input: an ``irds:<id>`` dataset or a file."""

    name: str  # irds:<id> or the path the config names
    keys: list[str]  # the config keys that name it
    source: str = ""
    size: int | None = None
    state: str = "missing"
    detail: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)  # an irds dataset's cache files


# --------------------------------------------------------------------------- what a config needs


def config_inputs(config: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """``(irds IDs -> uses, irds IDs -> config keys, files -> config keys)``: every external input of
    the config, as the jobs read them (qcpt.corpus.jobs.data)."""
    from .corpus.jobs.data import config_sources, irds_uses

    irds_keys: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for key, value, _use in config_sources(config):
        if irds.is_irds(value):
            irds_keys.setdefault(irds.dataset_id(value), []).append(key)
        else:
            files.setdefault(value, []).append(key)
    for name, spec in config.get("generators", {}).items():
        # a precomputed expansions file is read like the corpus (qcpt.workflow.jobs.generator_model, shared by the stages' job functions)
        if spec.get("backend") == "precomputed" and not spec["model"].startswith("package:"):
            files.setdefault(spec["model"], []).append(f"generators.{name}.model")
    return irds_uses(config), irds_keys, files


def _size_of(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


def _recorded_files(path: str) -> dict[str, dict[str, Any]]:
    """Registry entries of a file, or of the files under a folder (a BEIR folder)."""
    table = irds.registry().get("files", {})
    prefix = path.rstrip("/") + "/"
    return {name: spec for name, spec in table.items() if name == path or name.startswith(prefix)}


def file_entry(path: str, keys: list[str], check: bool, base: Path) -> Entry:
    recorded = _recorded_files(path)
    first = next(iter(recorded.values()), {})
    entry = Entry(path, keys, source=first.get("url") or first.get("source") or "(the config's path)")
    where = base / path
    if not where.exists():
        return entry
    entry.size = _size_of(where)
    entry.state = "present"
    checked = [(name, spec) for name, spec in recorded.items() if spec.get("sha256")]
    if not checked:
        entry.detail = "no checksum recorded" if check else ""
        return entry
    if not check:
        return entry
    for name, spec in checked:
        actual = sha256_file(base / name) if (base / name).is_file() else None
        if actual != spec["sha256"]:
            entry.state = "wrong checksum" if actual else "missing"
            entry.detail = f"{name}: sha256 expected {spec['sha256']}, actual {actual or 'absent'}"
            return entry
    entry.state, entry.detail = "verified", f"sha256 ({len(checked)} file{'s' if len(checked) > 1 else ''})"
    return entry


def licence(did: str) -> str:
    groups = irds.registry().get("groups", {})
    spec = groups.get(irds.group(did)) or groups.get(did.split("/")[0]) or {}
    return spec.get("licence", "see https://ir-datasets.com")


def irds_entry(did: str, uses: list[str], keys: list[str], check: bool) -> Entry:
    entry = Entry(f"{irds.PREFIX}{did}", keys, source=f"ir_datasets {irds.IRDS_VERSION}; licence: {licence(did)}")
    if not irds.known(did):
        entry.state, entry.detail = "unknown", f"not a dataset ID of ir_datasets {irds.IRDS_VERSION}"
        return entry
    states = []
    total = 0
    for f in irds.cache_files(did, irds.parts_of(uses)):
        if check:
            verdict = irds.verify(f)
            state, detail = verdict.state, verdict.detail
        else:
            state, detail = ("present" if f.path.is_file() else "missing"), ""
        size = f.path.stat().st_size if f.path.is_file() else f.size
        total += size or 0
        entry.files.append({"path": str(f.path), "url": f.url or "(made by ir_datasets from a download)",
                            "size": size, "state": state, "checksum": detail})
        states.append(state)
    entry.size = total or None
    for state in ("wrong checksum", "missing", "present", "verified"):
        if state in states:
            entry.state = state
            break
    return entry


def entries(config: dict[str, Any], check: bool = False, base: str | os.PathLike = ".") -> list[Entry]:
    uses, irds_keys, files = config_inputs(config)
    out = [irds_entry(did, uses[did], irds_keys[did], check) for did in uses]
    out += [file_entry(path, keys, check, Path(base)) for path, keys in sorted(files.items())]
    return out


# --------------------------------------------------------------------------- before any job


OFFLINE_ENV = "QCPT_OFFLINE"  # set (to anything but 0): never count on a download


def _reachable(url: str | None, timeout: float = 3.0) -> bool:
    if not url or os.environ.get(OFFLINE_ENV, "0") not in ("", "0"):
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def preflight(config: dict[str, Any]) -> None:
    """Stop, naming the input, before any job of a real run (rules/common.smk's onstart): an unknown
    ``irds:`` ID, a dataset whose cache job has to run but which is neither in ir_datasets' cache nor
    downloadable from here, a cache file with a wrong checksum, and a named file whose recorded
    sha256 differs (hashed once per size and mtime)."""
    from .workflow.jobs import paths

    uses, irds_keys, files = config_inputs(config)
    problems = []
    for did in uses:
        if not irds.known(did):
            problems.append(f"{', '.join(irds_keys[did])}: irds:{did} is not a dataset ID of ir_datasets "
                            f"{irds.IRDS_VERSION} (https://ir-datasets.com lists them)")
    if problems:
        raise DataError("\n".join(problems))
    for did, use in uses.items():
        if Path(paths(config).of("irds_dataset", irdsid=did)).exists():
            continue  # its cache job has run; nothing reads the download again
        for f in irds.cache_files(did, irds.parts_of(use)):
            verdict = irds.verify(f)
            if verdict.state == "wrong checksum":
                problems.append(f"irds:{did}: {f.path}: wrong checksum: {verdict.detail}")
            elif verdict.state == "missing" and not _reachable(f.url):
                problems.append(f"irds:{did}: {f.relative} is neither in the ir_datasets cache ({irds.home()}) nor "
                                f"downloadable from here ({f.url or 'no URL'}): run `python -m qcpt data --fetch` "
                                "where the network allows, or copy the cache here (README, \"Data\")")
    stamp_path = Path(config["results"]) / ".qcpt" / "verified-inputs.json"
    try:
        stamps = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamps = {}
    for path in files:
        for name, spec in _recorded_files(path).items():
            target = Path(name)
            if not spec.get("sha256") or not target.is_file():
                continue
            st = target.stat()
            key = f"{st.st_size}:{st.st_mtime_ns}"
            if stamps.get(name, {}).get(key) == spec["sha256"]:
                continue
            actual = sha256_file(target)
            if actual != spec["sha256"]:
                problems.append(f"{name}: wrong checksum: sha256 expected {spec['sha256']}, actual {actual}")
            else:
                stamps[name] = {key: actual}
    if stamps:
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.write_text(json.dumps(stamps, indent=1, sort_keys=True), encoding="utf-8")
    if problems:
        raise DataError("external inputs:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- the command


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return "?"


def render(items: list[Entry]) -> str:
    lines = [f"{'input':<52} {'size':>9}  {'state':<15} source / detail"]
    for e in items:
        lines.append(f"{e.name:<52} {_human(e.size):>9}  {e.state:<15} {e.source}"
                     + (f" ({e.detail})" if e.detail else ""))
        lines.append(f"    named by {', '.join(e.keys)}")
        for f in e.files:
            detail = f" ({f['checksum']})" if f["checksum"] else ""
            lines.append(f"    {f['path']}  {_human(f['size'])}  {f['state']}{detail}  <- {f['url']}")
    files = {f["path"]: f for e in items for f in e.files}
    absent = sum(f["size"] or 0 for f in files.values() if f["state"] == "missing")
    lines.append(f"ir_datasets files: {len(files)} ({_human(sum(f['size'] or 0 for f in files.values()))}), "
                 f"missing: {sum(f['state'] == 'missing' for f in files.values())} ({_human(absent)}); "
                 f"IR_DATASETS_HOME={irds.home()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qcpt data", description=(
        "List a config's external inputs (ir_datasets datasets by ID and files) with source, size and "
        "state; --check verifies checksums, --fetch downloads what is missing."))
    parser.add_argument("--configfile", default="config.yaml", help="the config (a preset: configs/<preset>.yaml)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify every present input against its recorded checksum")
    mode.add_argument("--fetch", action="store_true", help="download the missing ir_datasets data (needs the network)")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    args = parser.parse_args(argv)
    from . import config as qconfig

    try:
        config = qconfig.load(args.configfile)
    except Exception as err:  # a config that does not load is reported as the workflow would
        print(f"{args.configfile}: {err}", file=sys.stderr)
        return 2
    failed = []
    if args.fetch:
        uses = config_inputs(config)[0]
        for did, use in uses.items():
            if os.environ.get(OFFLINE_ENV, "0") not in ("", "0"):
                if any(not f.path.is_file() for f in irds.cache_files(did, irds.parts_of(use))):
                    failed.append(f"irds:{did}: download failed ({OFFLINE_ENV} is set: this machine has no network)")
                continue
            try:
                irds.fetch(did, irds.parts_of(use))
            except irds.IrdsError as err:
                failed.append(str(err))
    items = entries(config, check=args.check or args.fetch)
    if args.json:
        print(json.dumps([vars(e) for e in items], indent=1))
    else:
        print(render(items))
    for message in failed:
        print(f"error: {message}", file=sys.stderr)
    wrong = [e for e in items if e.state in ("wrong checksum", "unknown")]
    for e in wrong:
        print(f"error: {e.name}: {e.state}: {e.detail or next((f['checksum'] for f in e.files if f['state'] == e.state), '')}",
              file=sys.stderr)
    missing = [e for e in items if e.state == "missing"]
    if missing and not failed:
        print(f"{len(missing)} of {len(items)} inputs missing: `python -m qcpt data --configfile={args.configfile} --fetch` "
              "downloads the ir_datasets ones; the others come from the source listed (README, \"Data\")", file=sys.stderr)
    return 1 if (failed or wrong or ((args.check or args.fetch) and missing)) else 0
