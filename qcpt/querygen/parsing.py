"""Turning raw generations into clean, distinct queries.

A list-style LLM answer ("1. what is ...\\n2. ...") is split into lines; each line loses its
numbering ("1.", "1)", "(1)", "Query 1:"), bullet (-, *, •), label ("Output:"), surrounding quotes
and extra whitespace. Lines are dropped when empty, over-long, without any letter or digit, a
preamble ("Here are ten search queries:"), an echo of the prompt, or a duplicate (case- and
trailing-punctuation-insensitive). A query never contains a tab or newline, so the TSV stays valid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from .prompts import PROMPT_MARKERS

_BULLET = re.compile(r"^(?:[-*+>]\s+|[•·‣◦▪●○–—]\s*)")
_NUMBERING = re.compile(r"^(?:\(\d{1,3}\)|\[\d{1,3}\]|#?\d{1,3}[.):\]](?!\d))\s*")
_LABEL = re.compile(
    r"^(?:(?:search\s+)?query\s*#?\d{0,3}\s*[:.)]|q\d{1,3}\s*[:.)]|(?:output|response|answer)\s*:)\s*",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"^(\*\*|__)(.+)\1$")
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "`": "`", "„": "“"}
_ALNUM = re.compile(r"\w", re.UNICODE)
_TRAILING_PUNCT = " .?!,;:"


def normalise_whitespace(text: str) -> str:
    """Collapse every run of whitespace (tabs, newlines, Unicode separators) and control characters
    to one space."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())


def dedup_key(query: str) -> str:
    return normalise_whitespace(query).casefold().rstrip(_TRAILING_PUNCT)


def clean_line(line: str) -> str:
    """Strip list scaffolding and quotes from one generated line (may return an empty string)."""
    text = normalise_whitespace(line)
    for _ in range(6):  # "- 1. Query: "x"" needs several passes; stop once nothing changes
        before = text
        text = _BULLET.sub("", text)
        text = _NUMBERING.sub("", text)
        text = _LABEL.sub("", text)
        match = _EMPHASIS.match(text)
        if match:
            text = match.group(2).strip()
        text = _strip_quotes(text)
        text = text.strip()
        if text == before:
            break
    return text


def _strip_quotes(text: str) -> str:
    text = text.rstrip(",").strip()
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS:
        close = _QUOTE_PAIRS[text[0]]
        if text[-1] == close:
            return text[1:-1].strip()
        # a quoted query followed by punctuation: "what is x"?
        if len(text) >= 3 and text[-2] == close and text[-1] in "?.!" and close not in text[1:-2]:
            return text[1:-2].strip() + text[-1]
        if close not in text[1:]:  # opening quote whose closing half was cut off
            return text[1:].strip()
    if len(text) >= 2 and text[-1] in _QUOTE_PAIRS.values() and not any(q in text[:-1] for q in _QUOTE_PAIRS):
        return text[:-1].strip()
    return text


def _is_marker(text: str) -> bool:
    low = text.casefold()
    return any(low.startswith(marker) for marker in PROMPT_MARKERS)


class QueryFilter:
    """Decides whether a cleaned line is a usable query, given what the prompt contained."""

    def __init__(
        self,
        *,
        max_chars: int = 160,
        max_words: int = 20,
        echo_texts: Iterable[str] = (),
        echo_min_words: int = 8,
        echo_overlap: float = 0.6,
    ):
        self.max_chars = max_chars
        self.max_words = max_words
        self.echo_keys = {dedup_key(t) for t in echo_texts if t.strip()}
        self.echo_min_words = echo_min_words
        self.echo_overlap = echo_overlap
        self._prompt_grams: tuple[str, set[tuple[str, ...]]] = ("", set())

    def accept(self, query: str, prompt_text: str = "") -> bool:
        if not query or not _ALNUM.search(query):
            return False
        if len(query) > self.max_chars or len(query.split()) > self.max_words:
            return False
        if query.endswith(":"):  # a preamble such as "Here are ten search queries:"
            return False
        if _is_marker(query):
            return False
        key = dedup_key(query)
        if key in self.echo_keys:
            return False
        # A long line mostly copied from the prompt (usually a sentence of the passage) is an echo,
        # not a query; short copied phrases are normal doc2query output and stay.
        if prompt_text and self.is_echo(query, prompt_text):
            return False
        return True

    def is_echo(self, query: str, prompt_text: str) -> bool:
        words = _words(query)
        if len(words) < self.echo_min_words:
            return False
        if self._prompt_grams[0] != prompt_text:
            self._prompt_grams = (prompt_text, set(_ngrams(_words(prompt_text), _ECHO_N)))
        grams = _ngrams(words, _ECHO_N)
        copied = sum(1 for g in grams if g in self._prompt_grams[1])
        return copied >= self.echo_overlap * len(grams)


_ECHO_N = 4


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def parse_generation(
    text: str,
    *,
    single: bool = False,
    truncated: bool = False,
    query_filter: QueryFilter | None = None,
    prompt_text: str = "",
) -> list[str]:
    """Queries in one generated sequence.

    ``single``: the sequence is one query (docT5query-style sampling); only its first non-blank line
    counts. Otherwise the sequence is a list, one query per line; when ``truncated`` (the length cap
    cut it) the last line is dropped because it is probably incomplete.
    """
    query_filter = query_filter or QueryFilter()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if single:
        first = next((ln for ln in lines if ln.strip()), "")
        lines = [first]
    elif truncated and lines:
        lines = lines[:-1]
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:
        query = clean_line(line)
        if not query_filter.accept(query, prompt_text):
            continue
        key = dedup_key(query)
        if key in seen:
            continue
        seen.add(key)
        out.append(query)
    return out


class QueryPool:
    """The distinct queries collected for one passage, in the order they were generated."""

    def __init__(self, limit: int, distinct: bool = True):
        self.limit = limit
        self.distinct = distinct  # False: repeats are kept (the QAC code's raw samples)
        self.queries: list[str] = []
        self._keys: set[str] = set()

    def add(self, queries: Sequence[str]) -> int:
        """Add new (distinct, unless ``distinct`` is off) queries up to the limit; returns how many were added."""
        added = 0
        for query in queries:
            if self.full:
                break
            key = dedup_key(query)
            if self.distinct and key in self._keys:
                continue
            self._keys.add(key)
            self.queries.append(query)
            added += 1
        return added

    @property
    def missing(self) -> int:
        return max(self.limit - len(self.queries), 0)

    @property
    def full(self) -> bool:
        return len(self.queries) >= self.limit

    def __len__(self) -> int:
        return len(self.queries)
