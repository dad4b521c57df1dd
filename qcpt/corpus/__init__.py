"""The corpus stage: external corpora, topics and qrels in the project's normal form, and passages.

- :mod:`.documents`: a corpus (file, BEIR folder, ``irds:`` dataset) → documents or collection JSONL;
- :mod:`.topics`: topics and qrels → topics TSV + TREC qrels;
- :mod:`.irds`: ``irds:<id>`` sources read through ir_datasets, and the job that builds their cache;
- :mod:`.textmodels`: the Punkt sentence splitter and the embedded encoder, trained on the documents;
- :mod:`.passages` (with :mod:`.packing`): documents → passages of at most ``max_tokens`` tokens;
- :mod:`.params`: the stage's job parameters; :mod:`.declaration`: its config keys and the
  ``--params`` its jobs get (what config validation reads).

This module holds the normalising commands' entry points (``corpus:documents``,
``corpus:collection``, ``corpus:topics``) and imports their modules only when they run: importing
any submodule runs this file first, and validating a config imports :mod:`.params`, which stays
cheap. The stage's other commands keep the names they had before their modules were grouped here
(``passages``, ``textmodels:punkt``, ``irds:cache``): a command's name is part of every job's
identity.
"""

from __future__ import annotations

import argparse
import logging

from ..core.io import InputError
from ..core.params import setup_logging

log = logging.getLogger(__name__)


def _corpus_main(argv: list[str] | None, what: str) -> int:
    from .documents import FORMATS, prepare_collection, prepare_documents
    from .irds import IrdsError

    prepare = {"documents": prepare_documents, "collection": prepare_collection}[what]
    parser = argparse.ArgumentParser(description=f"Normalise a corpus to {what} JSONL (docs/artifacts.md).")
    parser.add_argument("--source", required=True, help="JSONL/TSV file (optionally .gz) or a BEIR folder")
    parser.add_argument("--format", default="auto", choices=FORMATS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        prepare(args.source, args.out, args.format)
    except (InputError, IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0


def main_documents(argv: list[str] | None = None) -> int:
    return _corpus_main(argv, "documents")


def main_collection(argv: list[str] | None = None) -> int:
    return _corpus_main(argv, "collection")


def main_topics(argv: list[str] | None = None) -> int:
    from .irds import IrdsError
    from .topics import prepare_topics

    parser = argparse.ArgumentParser(description="Normalise topics (TSV or BEIR queries.jsonl) and qrels (TREC or BEIR TSV).")
    parser.add_argument("--topics", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--out-topics", required=True)
    parser.add_argument("--out-qrels", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        prepare_topics(args.topics, args.qrels, args.out_topics, args.out_qrels)
    except (InputError, IrdsError) as err:
        log.error("%s", err)
        return 2
    return 0
