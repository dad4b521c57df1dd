"""What a training run's checkpoints belong to, and what is kept of them.

A training job resumes from its newest checkpoint only when that checkpoint was trained on the same
run: the same parameters and the same inputs. A run's *identity* is its parameters plus the checksum
of every input (files and folders: passages, queries, training data, the init model), written as a
manifest (:data:`MANIFEST`) into the checkpoint folder when training starts. A later job on the same
folder compares its own identity with the manifest: equal, it resumes; different (or no manifest, as
left by a version without one), it deletes the old checkpoints and starts afresh, and says which
entries changed. Inputs are streamed through SHA-256 once per job; there is no size+mtime shortcut,
because copies (``cp -p``, ``rsync -a``) and ``snakemake --touch`` keep or reset mtimes without the
content telling, and one read of the inputs is cheap next to training on them.

:class:`Retention` is what is kept: the last ``keep_last`` checkpoints while training (Trainer's
``save_total_limit``), and none once the job's final model is written (``delete_after_final``), since
the model is written atomically and a rerun of a finished job has nothing to resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.io import atomic_path, sha256_file
from ..core.models import PACKAGE_PREFIX, resolve_model_path

log = logging.getLogger(__name__)

MANIFEST = "qcpt_run_manifest.json"
MANIFEST_VERSION = 1
RETENTION_ENV = "QCPT_CHECKPOINT_RETENTION"  # how the workflow hands config's `checkpoints:` to a job
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


# --------------------------------------------------------------------------- identity


def _hash_folder(folder: Path) -> dict[str, Any]:
    """A folder's checksum over its files' relative names and contents (sorted), hidden files and
    half-written temporaries of the atomic writers (``.name.*.tmp``) left out."""
    h = hashlib.sha256()
    n_files = n_bytes = 0
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(rel.as_posix().encode() + b"\0" + sha256_file(f).encode() + b"\n")
        n_files += 1
        n_bytes += f.stat().st_size
    return {"kind": "folder", "files": n_files, "bytes": n_bytes, "sha256": h.hexdigest()}


def _hub_revision(name: str) -> str | None:
    """The commit the local Hugging Face cache holds for ``name`` (what an offline load reads)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    ref = Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}" / "refs" / "main"
    return ref.read_text().strip() if ref.is_file() else None


def input_identity(spec: str | os.PathLike) -> dict[str, Any]:
    """The identity of one input: a file or folder by its checksum; ``package:`` specs by the
    folder they resolve to; anything else is a model hub name, identified by its name and the
    revision the local cache holds (if any)."""
    text = str(spec)
    path = Path(resolve_model_path(text)) if text.startswith(PACKAGE_PREFIX) else Path(text)
    if path.is_file():
        return {"kind": "file", "path": text, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    if path.is_dir():
        return {**_hash_folder(path), "path": text}
    return {"kind": "hub", "name": text, "revision": _hub_revision(text)}


# Recorded for people, not compared: a moved results folder holds the same run.
_INFORMATIVE = ("path",)


def _comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _INFORMATIVE}


@dataclass(frozen=True)
class RunIdentity:
    """Parameters (everything that shapes the run besides its inputs, e.g. the world size) and
    the identity of each named input."""

    params: dict[str, Any]
    inputs: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "params": self.params, "inputs": self.inputs}

    def digest(self) -> str:
        comparable = {"params": self.params, "inputs": {k: _comparable(v) for k, v in self.inputs.items()}}
        return hashlib.sha256(json.dumps(comparable, sort_keys=True, default=str).encode()).hexdigest()


def run_identity(params: Mapping[str, Any], inputs: Mapping[str, str | os.PathLike | None]) -> RunIdentity:
    """Identity of a run; ``None`` inputs (an optional input not given) are left out. Each input is
    read once, even when two names point at the same file or folder."""
    seen: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, spec in inputs.items():
        if spec is None or str(spec) == "":
            continue
        key = str(spec)
        if key not in seen:
            seen[key] = input_identity(key)
        records[name] = seen[key]
    # A JSON round trip: what is compared is what the manifest stores (tuples become lists etc.).
    return RunIdentity(json.loads(json.dumps(dict(params), sort_keys=True, default=str)), records)


def identity_changes(recorded: Mapping[str, Any], current: RunIdentity) -> list[str]:
    """What differs between a manifest and the current identity, one line per entry, e.g.
    ``inputs.queries: sha256 1f0c4b2a9e01… -> 77a0d3e5c412…``."""
    changes: list[str] = []
    if recorded.get("version") != MANIFEST_VERSION:
        return [f"manifest version {recorded.get('version')!r} (this code writes {MANIFEST_VERSION})"]
    old_params, new_params = recorded.get("params", {}), current.params
    for key in sorted(set(old_params) | set(new_params)):
        if old_params.get(key) != new_params.get(key):
            changes.append(f"params.{key}: {old_params.get(key)!r} -> {new_params.get(key)!r}")
    old_inputs, new_inputs = recorded.get("inputs", {}), current.inputs
    for key in sorted(set(old_inputs) | set(new_inputs)):
        old, new = old_inputs.get(key), new_inputs.get(key)
        if old is None or new is None:
            changes.append(f"inputs.{key}: {'added' if old is None else 'removed'}")
        elif _comparable(old) != _comparable(new):
            if old.get("sha256") and new.get("sha256"):
                detail = f"sha256 {old['sha256'][:12]}… -> {new['sha256'][:12]}…"
            else:
                detail = f"{_comparable(old)} -> {_comparable(new)}"
            changes.append(f"inputs.{key} ({new.get('path') or new.get('name')}): {detail}")
    return changes


# --------------------------------------------------------------------------- checkpoints


def checkpoints_in(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``checkpoint-N`` folder directly in ``directory``, by step."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), child) for child in d.iterdir() if (m := CHECKPOINT_RE.match(child.name))]
    return sorted(found)


def _is_complete(checkpoint: Path) -> bool:
    """Trainer writes ``trainer_state.json`` last: a checkpoint killed while saving has none, or a
    truncated one."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete ``checkpoint-N`` folder in ``directory`` (one with trainer state), if any."""
    complete = [p for _, p in checkpoints_in(directory) if _is_complete(p)]
    return complete[-1] if complete else None


@dataclass(frozen=True)
class ResumePlan:
    """Where training starts: ``resume_from`` (None: afresh), and why older checkpoints were
    discarded (``discarded``: the step they had reached and what changed) when they were."""

    checkpoint_dir: Path
    resume_from: Path | None
    discarded: dict[str, Any] | None = None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def start_step(self) -> int:
        if self.resume_from is None:
            return 0
        return int(CHECKPOINT_RE.match(self.resume_from.name).group(1))


def verify_checkpoints(checkpoint_dir: str | os.PathLike, identity: RunIdentity) -> dict[str, Any] | None:
    """Compare ``checkpoint_dir``'s manifest with ``identity``; when checkpoints exist that belong to
    another run (or to no recorded run), delete them and return what was discarded and why. Then
    record ``identity`` as the folder's manifest. Returns None when nothing was discarded."""
    d = Path(checkpoint_dir)
    manifest = d / MANIFEST
    existing = checkpoints_in(d)
    discarded = None
    if existing:
        if manifest.is_file():
            try:
                recorded = json.loads(manifest.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                recorded = {}
            changes = identity_changes(recorded, identity) if recorded else ["the manifest is unreadable"]
        else:
            changes = [f"no {MANIFEST}: the checkpoints' inputs are unknown"]
        if changes:
            steps = [step for step, _ in existing]
            discarded = {"checkpoint_steps": steps, "changed": changes}
            message = (f"{d}: discarding checkpoints {steps} of another run and starting afresh; changed: "
                       + "; ".join(changes))
            log.warning("%s", message)
            print(f"[qcpt] {message}", flush=True)
            for _, folder in existing:
                shutil.rmtree(folder)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(manifest) as tmp:
        tmp.write_text(json.dumps(identity.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return discarded


def plan_resume(checkpoint_dir: str | os.PathLike, identity: RunIdentity | None, training_args: Any = None) -> ResumePlan:
    """Verify (and clean) ``checkpoint_dir`` for ``identity``, then find the checkpoint to resume.

    Under torchrun only the main process reads the inputs and touches the folder; the others wait
    for it (``training_args.main_process_first``) and then see the cleaned folder. ``identity`` may
    be None on processes other than the main one (they never compute it)."""
    d = Path(checkpoint_dir)
    discarded = None
    is_main = int(os.environ.get("RANK", "0")) == 0
    if training_args is not None and training_args.world_size > 1:
        with training_args.main_process_first(local=False, desc="checkpoint verification"):
            if is_main:
                assert identity is not None
                discarded = verify_checkpoints(d, identity)
    elif is_main:
        assert identity is not None
        discarded = verify_checkpoints(d, identity)
    resume = last_checkpoint(d)
    return ResumePlan(d, resume, discarded, identity.to_dict() if identity is not None else {})


# --------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class Retention:
    """What a job keeps of its checkpoints: the last ``keep_last`` while it trains, and whether the
    checkpoint folder is deleted once the final model is written."""

    keep_last: int = 2
    delete_after_final: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.keep_last, int) or isinstance(self.keep_last, bool) or self.keep_last < 1:
            raise ValueError(f"checkpoints.keep_last: expected an integer ≥ 1, got {self.keep_last!r}")
        if not isinstance(self.delete_after_final, bool):
            raise ValueError(f"checkpoints.delete_after_final: expected true or false, got {self.delete_after_final!r}")

    @classmethod
    def parse(cls, text: str | None) -> Retention:
        """From the JSON object the workflow passes (``--retention`` or ``$QCPT_CHECKPOINT_RETENTION``);
        empty: the defaults."""
        if not text:
            return cls()
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"checkpoint retention: not JSON: {text!r} ({err})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"checkpoint retention: expected a JSON object, got {text!r}")
        unknown = set(obj) - {"keep_last", "delete_after_final"}
        if unknown:
            raise ValueError(f"checkpoint retention: unknown key(s) {sorted(unknown)}")
        return cls(**obj)

    @classmethod
    def from_cli(cls, value: str | None) -> Retention:
        """``--retention`` when given, else the environment variable the workflow's rules set."""
        return cls.parse(value if value is not None else os.environ.get(RETENTION_ENV))


def finish_checkpoints(checkpoint_dir: str | os.PathLike, retention: Retention) -> bool:
    """After the final model is in place: delete the checkpoint folder when the policy says so.
    Returns whether it was deleted. Only call it on the main process, after the model's atomic
    rename: a kill before that leaves the checkpoints to resume from."""
    d = Path(checkpoint_dir)
    if not retention.delete_after_final or not d.exists():
        return False
    # Renamed first, deleted second: a kill in the middle leaves a hidden temporary, never a
    # checkpoint folder with some of its files gone that a rerun would take for a resume point.
    trash = d.with_name(f".{d.name}.deleted.tmp")
    if trash.exists():
        shutil.rmtree(trash)
    os.replace(d, trash)
    shutil.rmtree(trash)
    log.info("deleted checkpoints %s (the final model is written)", d)
    return True
