"""Collection, topics and qrels as the retrieval stages read them (formats: docs/artifacts.md).

Topics and qrels are parsed by :mod:`qcpt.corpus.topics` (one reader for the whole project); this module
adds the shapes retrieval needs and the collection reader with located errors.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from ..core.io import InputError, read_jsonl, require_str
from ..corpus.topics import read_qrels, read_topics


@dataclass(frozen=True)
class Passage:
    docid: str
    title: str
    text: str


def passage_text(title: str, text: str, separator: str = " ") -> str:
    """The text a passage is encoded (and BM25-indexed) as: ``title + " " + text``.

    Tevatron's MS MARCO recipe joins title and text with the tokenizer's ``[SEP]``; BEIR's and
    pyserini's "flat" setups, and sentence-transformers models, use a plain space. We use the space
    everywhere, which lets the published BEIR numbers of pyserini and of all-MiniLM-L6-v2 be
    reproduced. On MS MARCO the recipes do *not* agree for the QAC authors' code: its get_data.sh
    joins RocketQA's titles to the passages and Tevatron's preprocessor tokenises ``title [SEP]
    text``; the public collection.tsv the presets read has no titles (docs/fidelity.md, #13)."""
    title = title.strip()
    return f"{title}{separator}{text}" if title else text


TITLE_JOINS = ("space", "sep")


def title_separator(title_join: str, tokenizer: Any = None) -> str:
    """What goes between a title and its text: a space (``"space"``), or the tokenizer's separator
    token (``"sep"``: ``title [SEP] text``, Tevatron's ``preprocessor_tsv.py``, which the QAC code's
    MS MARCO corpus goes through)."""
    if title_join == "space":
        return " "
    if title_join == "sep":
        sep = getattr(tokenizer, "sep_token", None)
        if not sep:
            raise ValueError("title_join 'sep' needs a tokenizer with a separator token")
        return sep
    raise ValueError(f"title_join {title_join!r} is not one of {', '.join(TITLE_JOINS)}")


def iter_collection(path: str | os.PathLike) -> Iterator[Passage]:
    """Rows of a collection JSONL ``{"docid", "title", "text"}`` in file order, validated."""
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        docid = require_str(path, lineno, obj, "docid").strip()
        if any(c.isspace() for c in docid):
            raise InputError(path, lineno, "docid", f"{docid!r} contains whitespace")
        if docid in seen:
            raise InputError(path, lineno, "docid", f"duplicate docid {docid!r} (first on line {seen[docid]})")
        seen[docid] = lineno
        title = require_str(path, lineno, obj, "title", allow_empty=True) if obj.get("title") is not None else ""
        text = require_str(path, lineno, obj, "text", allow_empty=True) if obj.get("text") is not None else ""
        if not title.strip() and not text.strip():
            raise InputError(path, lineno, "text", "empty (and no title)")
        yield Passage(docid, title, text)


def load_passages(path: str | os.PathLike, wanted: Collection[str] | None = None) -> dict[str, Passage]:
    """``{docid: Passage}`` of the collection, or only of the docids in ``wanted`` (memory for MS MARCO)."""
    out: dict[str, Passage] = {}
    for passage in iter_collection(path):
        if wanted is None or passage.docid in wanted:
            out[passage.docid] = passage
    if not out:
        raise InputError(path, None, None, "holds no documents" if wanted is None else "holds none of the needed docids")
    return out


def load_topics(path: str | os.PathLike) -> dict[str, str]:
    """``{qid: query}`` in file order (topics TSV, or BEIR queries.jsonl)."""
    topics, _ = read_topics(path)
    return topics


def load_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """``{qid: {docid: relevance}}`` (TREC or BEIR qrels)."""
    qrels: dict[str, dict[str, int]] = {}
    for judgment in read_qrels(path):
        qrels.setdefault(judgment.qid, {})[judgment.docid] = judgment.relevance
    return qrels
