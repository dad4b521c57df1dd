"""``publish``: one trained model's bundle, ready for ``huggingface-cli upload`` (uploads nothing).

    publish --model DIR --card README.md --plot loss.png --log train_log.json --metrics M ...
            --runs RUN ... --root RESULTS --params '{...}' --out DIR

The bundle (written atomically) is the model folder (a Hugging Face and sentence-transformers
model: ``AutoModel`` and ``SentenceTransformer`` load the bundle's root) with its card as
``README.md`` and the loss curve beside it, plus what the card's numbers come from, under the
paths they have in the results folder: ``results/<run>/train_log.json``,
``results/eval/<evalset>/<system>/{metrics.json,run.trec}``. ``qcpt/config.yaml`` is the config
excerpt that made the model, ``qcpt/provenance.json`` the checksums of every file copied, the
software versions and the workflow's commit (:func:`qcpt.core.provenance.collect`). Upload with

    hf upload <user>/<repo> <bundle> . --exclude .snakemake_timestamp

(``huggingface-cli upload`` with the same arguments before huggingface_hub 1.0; the excluded file is
Snakemake's marker of the bundle folder's time, no part of the model).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import yaml

from ..core.io import atomic_dir, write_json
from ..core.params import setup_logging
from ..core.provenance import collect

log = logging.getLogger(__name__)


def _copy(src: str | os.PathLike, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def assemble(out: str | os.PathLike, *, model: str, card: str, plot: str, log_file: str, metrics: list[str],
             runs: list[str], root: str, params: dict) -> list[str]:
    """Write the bundle to ``out``; returns its files (relative)."""
    sources = [model, card, plot, log_file, *metrics, *runs]
    with atomic_dir(out) as tmp:
        for f in sorted(Path(model).rglob("*")):
            # Snakemake's .snakemake_timestamp and atomic writers' temporaries are no part of the model.
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(model).parts):
                _copy(f, tmp / f.relative_to(model))
        _copy(card, tmp / "README.md")
        _copy(plot, tmp / os.path.basename(plot))
        for f in [log_file, *metrics, *runs]:
            _copy(f, tmp / "results" / os.path.relpath(f, root))
        (tmp / "qcpt").mkdir()
        with open(tmp / "qcpt" / "config.yaml", "w", encoding="utf-8") as handle:
            handle.write(f"# The config excerpt that made {params['trained']} (qcpt's job parameters of its card).\n")
            yaml.safe_dump(params["config"], handle, sort_keys=False, allow_unicode=True)
        write_json(tmp / "qcpt" / "provenance.json", collect({"trained": params["trained"], "bundle_of": model},
                                                             sources))
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="publish", description="Assemble a trained model's upload bundle.")
    parser.add_argument("--model", required=True)
    parser.add_argument("--card", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--metrics", nargs="*", default=[])
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--root", required=True)
    parser.add_argument("--params", required=True, help="JSON: trained (run folder), config (excerpt)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    files = assemble(args.out, model=args.model, card=args.card, plot=args.plot, log_file=args.log,
                     metrics=args.metrics, runs=args.runs, root=args.root, params=json.loads(args.params))
    log.info("bundle of %d files → %s (upload: hf upload <user>/<repo> %s . --exclude .snakemake_timestamp)",
             len(files), args.out, args.out)
    return 0
