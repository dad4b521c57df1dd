"""Compose the embedded demo dataset (qcpt/data/demo/) deterministically, with no download.

The corpus is written by the project itself: fifteen topics, twenty documents each. A document is
about one entity (a comet, a drug, a volcano, a library ...) whose facts (people, places, years,
numbers) are drawn from pools with ``random.Random(42)``; its text is an introduction plus 2–7 of the
topic's other sentence templates, kept in order, so documents have 3–8 sentences. Abbreviations
("Dr.", "e.g.", "U.S.", "a.m.") and non-ASCII words ("café", "Zürich") are part of the templates, so
sentence splitting has real work to do.

The topics are data, in ``tools/demo_corpus.yaml`` beside this file: per topic its sentence
templates with their query phrasings, the pools its facts are drawn from and the order of the
draws (``slots``), and how queries may refer to its entity; the synonyms queries use. This file is
the machinery that composes them; it reads that file and nothing else, and draws every value from
one ``random.Random(42)`` in a fixed order, so the demo's files are the same on every run.

Queries are written the way people search: each sentence template carries a few query phrasings
about the fact it states, some sharing most words with the sentence and some paraphrasing it, so BM25
is good but not perfect. Relevance is derived from the facts rather than from which document a query
was written for: a document is judged 2 when it states every fact the query names (same values), and
1 when it states the query's first fact but not all of them. So several documents can be relevant to
a broad query ("volcanoes built of basalt"), and each query has at least its source document.

Usage: ``python tools/make_demo_corpus.py [--out qcpt/data/demo]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).with_name("demo_corpus.yaml")
SEED = 42
DOCS_PER_TOPIC = 20
N_TRAIN_QUERIES = 200
N_TEST_QUERIES = 400
# Each document is the source of queries of one split only (no train/test leak through a source
# document): the first TRAIN_SOURCE_DOCS documents (in shuffled order) write the training queries,
# TRAIN_QUERIES_PER_DOC each; the next 200 documents write the test queries, one each per pass, in
# two passes (q201-q400, then q401-q600), so the first 200 are those of the earlier 200-query demo.
# 400 test queries let a paired t-test show a difference of about two points of nDCG@10 at
# p <= 0.05 (the demo's query-vs-span difference, +0.021, had p = 0.12 over 200).
TEST_PASS_QUERIES = 200
TRAIN_SOURCE_DOCS = 100
TRAIN_QUERIES_PER_DOC = 2
# Pre-tokens (words and punctuation marks) per document at most: one document stays one passage of
# at most 144 WordPiece tokens, so the demo has exactly 300 passages (config.yaml relies on it).
MAX_PRETOKENS = 115


@dataclass
class Sentence:
    template: str
    queries: list[list[str]] = field(default_factory=list)  # each: phrasings of one query


class UniquePicker:
    """Draws distinct values from a pool within one topic, so each document's entity is its own."""

    def __init__(self, rng: random.Random, pool: list[Any]):
        self.values = list(pool)
        rng.shuffle(self.values)

    def __call__(self, i: int) -> Any:
        return self.values[i % len(self.values)]


@dataclass
class Topic:
    """One topic of ``demo_corpus.yaml``, its pickers drawn (shuffled) when it is made."""

    name: str
    title: str
    intros: list[Sentence]
    body: list[Sentence]
    mentions: list[str]  # how a query phrasing names the entity (see ALIAS_PROBABILITY)
    aliases: list[str]  # descriptions a query may use instead
    slots: dict[str, Any]  # "name" or "name, name, ...": the expression drawing its value(s), in order
    pools: dict[str, list[Any]]  # the shared pools and the topic's own, by name
    pickers: dict[str, UniquePicker]
    seen: dict[str, set[Any]] = field(default_factory=dict)  # values drawn by each `unique` slot

    def make_slots(self, rng: random.Random, i: int) -> dict[str, object]:
        """Document ``i``'s facts, drawn from ``rng`` in the order the slots are listed. ``_`` takes a
        draw that is not kept (it keeps the draws after it in step)."""
        slots: dict[str, object] = {}
        for names, expression in self.slots.items():
            value = self.draw(expression, rng, i, slots, names)
            keys = [n.strip() for n in names.split(",")]
            values = value if len(keys) > 1 else [value]
            if len(values) != len(keys):
                raise ValueError(f"{self.name}: slot {names!r} drew {value!r}: {len(keys)} values expected")
            slots.update((k, v) for k, v in zip(keys, values, strict=True) if k != "_")
        return slots

    def draw(self, expression: Any, rng: random.Random, i: int, slots: dict[str, object], names: str) -> Any:
        """The value of one expression of ``demo_corpus.yaml`` (a number or string is itself)."""
        if not isinstance(expression, dict):
            return expression
        (op, arg), *rest = expression.items()

        def draw(sub: Any) -> Any:
            return self.draw(sub, rng, i, slots, names)

        if op == "case":  # {case: slot, of: {value: expression}}: the expression for the slot's value
            return draw(expression["of"][slots[arg]])
        if rest:
            raise ValueError(f"{self.name}: slot {names!r}: one operation per expression, got {expression!r}")
        if op == "randint":
            return rng.randint(*arg)
        if op == "choice":
            return rng.choice(self.pool(arg))
        if op == "sample":
            pool, k = arg
            return rng.sample(self.pool(pool), k)
        if op == "pick":
            return self.pickers[arg](i)
        if op == "each":
            return [draw(sub) for sub in arg]
        if op == "format":
            template, *values = arg
            return template.format(*(draw(sub) for sub in values))
        if op == "sum":
            return sum(draw(sub) for sub in arg)
        if op == "slot":
            return slots[arg]
        if op == "unique":  # drawn again until it differs from every value this slot drew before
            seen = self.seen.setdefault(names, set())
            while True:
                value = draw(arg)
                key = tuple(value) if isinstance(value, list) else value
                if key not in seen:
                    seen.add(key)
                    return value
        raise ValueError(f"{self.name}: slot {names!r}: unknown operation {op!r}")

    def pool(self, ref: str | list[Any]) -> list[Any]:
        return self.pools[ref] if isinstance(ref, str) else ref


def sentences(entries: list[dict[str, Any]]) -> list[Sentence]:
    return [Sentence(e["text"], [list(q) for q in e.get("queries", [])]) for e in entries]


def load_templates(path: Path = TEMPLATES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def make_topic(spec: dict[str, Any], shared_pools: dict[str, list[Any]], rng: random.Random) -> Topic:
    """A topic of the file, its pickers shuffled (in the order listed) as it is made."""
    pools = shared_pools | spec.get("pools", {})
    pickers = {name: UniquePicker(rng, pools[pool] if isinstance(pool, str) else pool)
               for name, pool in spec.get("pickers", {}).items()}
    return Topic(spec["name"], spec["title"], sentences(spec["intros"]), sentences(spec["body"]),
                 spec["mentions"], spec["aliases"], spec["slots"], pools, pickers)


# --------------------------------------------------------------------------------- composing

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def pretoken_count(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


@dataclass
class Doc:
    id: str
    topic: str
    title: str
    text: str
    facts: dict[str, str]  # slot -> value, only for slots the text states
    sentences: list[Sentence]


def compose_documents(data: dict[str, Any], rng: random.Random) -> list[Doc]:
    drafts: list[tuple[str, str, str, dict[str, str], list[Sentence]]] = []
    for spec in data["topics"]:  # a topic is made (its pickers drawn) after the documents before it
        topic = make_topic(spec, data["pools"], rng)
        for alias in topic.aliases:
            for intro in topic.intros:
                if not set(placeholders(alias)) <= set(placeholders(intro.template)):
                    raise AssertionError(f"alias {alias!r} names a fact intro {intro.template!r} does not state")
        for i in range(DOCS_PER_TOPIC):
            slots = {k: str(v) for k, v in topic.make_slots(rng, i).items()}
            intro = rng.choice(topic.intros)
            n_body = rng.randint(2, 7)
            picked = sorted(rng.sample(range(len(topic.body)), n_body))
            chosen = [intro] + [topic.body[j] for j in picked]
            # Keep each document within one passage: drop trailing sentences past the budget.
            while len(chosen) > 3 and pretoken_count(" ".join(s.template.format(**slots) for s in chosen)) > MAX_PRETOKENS:
                chosen.pop()
            text = " ".join(capitalise(s.template.format(**slots)) for s in chosen)
            stated = {name for s in chosen for name in placeholders(s.template)}
            # A document naming a city also tells where it is: queries may name the country instead.
            stated |= {name[: -len("city")] + "country" for name in stated if name.endswith("city")}
            facts = {k: slots[k] for k in stated}
            drafts.append((topic.name, capitalise(topic.title.format(**slots)), text, facts, chosen))
    rng.shuffle(drafts)
    return [Doc(f"d{i + 1:04d}", *draft) for i, draft in enumerate(drafts)]


# How queries refer to a document's entity (a topic's ``mentions`` and ``aliases``). A query phrasing
# that mentions the entity by one of the ``mentions`` patterns (longest first) gets, with
# ALIAS_PROBABILITY, a descriptive reference from ``aliases`` instead ("the new kinase inhibitor for
# psoriasis" for "dermacitinib"): people often search for a thing they cannot name, and BM25 then
# has to match facts rather than a rare name. Alias slots come from the introductions, which every
# document states.
ALIAS_PROBABILITY = 0.75
# Words people use for what the documents say differently (the file's ``synonyms``); each is
# swapped with this probability.
SYNONYM_PROBABILITY = 0.6
COUNTRY_PROBABILITY = 0.5
ACCENT_FREE_PROBABILITY = 0.5


def paraphrase(phrasing: str, synonyms: dict[str, list[str]], rng: random.Random) -> str:
    """Swap some template words (never inside ``{slots}``) for words the documents do not use, and
    sometimes a city for its country (which the documents do not mention)."""
    phrasing = re.sub(
        r"\{(\w*)city\}",
        lambda m: "{" + m.group(1) + ("country}" if rng.random() < COUNTRY_PROBABILITY else "city}"),
        phrasing,
    )
    parts = re.split(r"(\{[^}]*\})", phrasing)
    for i, part in enumerate(parts):
        if part.startswith("{"):
            continue
        for word in sorted(synonyms, key=len, reverse=True):
            pattern = re.compile(rf"\b{re.escape(word)}\b")
            if pattern.search(part) and rng.random() < SYNONYM_PROBABILITY:
                part = pattern.sub(rng.choice(synonyms[word]), part, count=1)
        parts[i] = part
    return "".join(parts)


def refer(phrasing: str, mentions: list[str], aliases: list[str], rng: random.Random) -> str:
    if rng.random() >= ALIAS_PROBABILITY:
        return phrasing
    for pattern in sorted(mentions, key=len, reverse=True):
        if pattern in phrasing:
            alias = rng.choice(aliases)
            replaced = phrasing.replace(pattern, alias, 1)
            return replaced.replace("the the ", "the ").replace("of the the", "of the")
    return phrasing


def normalise_query(text: str, rng: random.Random) -> str:
    text = " ".join(text.replace("\t", " ").split())
    text = re.sub(r"\b(the|of|in) the the\b", r"\1 the", text).replace("the the ", "the ")
    text = text[4:] if text.lower().startswith("the ") else text
    if rng.random() < ACCENT_FREE_PROBABILITY:  # many people type "zurich" for "Zürich"
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # Most people type lower case; some keep capitals as written.
    return text.lower() if rng.random() < 0.8 else text


def judge(named: list[str], implied: set[str], source: Doc, docs: list[Doc]) -> dict[str, int]:
    """Relevance from facts.

    ``named``: facts the query names (their values must match); ``implied``: facts the query asks
    about without naming them (the document must state them, any value). 2 = every named fact
    matches; 1 = the first named fact matches but not all of them.
    """
    wanted = {k: source.facts[k] for k in named}
    primary = named[0]
    judged: dict[str, int] = {}
    for doc in docs:
        if doc.topic != source.topic or not implied <= doc.facts.keys():
            continue
        if all(doc.facts.get(k) == v for k, v in wanted.items()):
            judged[doc.id] = 2
        elif len(named) > 1 and doc.facts.get(primary) == wanted[primary]:
            judged[doc.id] = 1
    return judged


def compose_queries(docs: list[Doc], data: dict[str, Any], rng: random.Random) -> list[tuple[str, dict[str, int]]]:
    """Training queries first (N_TRAIN_QUERIES, from the first TRAIN_SOURCE_DOCS documents), then
    test queries (N_TEST_QUERIES: one per document from the rest until TEST_PASS_QUERIES, then one
    more per pass over the same documents)."""
    references = {spec["name"]: (spec["mentions"], spec["aliases"]) for spec in data["topics"]}
    order = list(docs)
    rng.shuffle(order)
    if TRAIN_SOURCE_DOCS + TEST_PASS_QUERIES > len(order):
        raise AssertionError(f"{len(order)} documents cannot source {TRAIN_SOURCE_DOCS} + {TEST_PASS_QUERIES} queries' documents")
    seen: set[str] = set()

    def queries_for(doc: Doc, wanted: int) -> list[tuple[str, dict[str, int]]]:
        options = [(s, phrasings) for s in doc.sentences for phrasings in s.queries]
        rng.shuffle(options)
        written: list[tuple[str, dict[str, int]]] = []
        for sentence, phrasings in options:
            template = paraphrase(refer(rng.choice(phrasings), *references[doc.topic], rng), data["synonyms"], rng)
            named = list(dict.fromkeys(placeholders(template)))
            if not named or any(k not in doc.facts for k in named):
                raise AssertionError(f"query {template!r} names a fact its document does not state")
            implied = set(placeholders(sentence.template)) - set(named)
            text = normalise_query(template.format(**doc.facts), rng)
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            written.append((text, judge(named, implied, doc, docs)))
            if len(written) == wanted:
                break
        return written

    train: list[tuple[str, dict[str, int]]] = []
    for doc in order[:TRAIN_SOURCE_DOCS]:
        train += queries_for(doc, min(TRAIN_QUERIES_PER_DOC, N_TRAIN_QUERIES - len(train)))
    test: list[tuple[str, dict[str, int]]] = []
    sources: list[Doc] = []
    for doc in order[TRAIN_SOURCE_DOCS:]:
        if len(test) == TEST_PASS_QUERIES:
            break
        written = queries_for(doc, 1)
        test += written
        sources += [doc] if written else []
    while len(test) < N_TEST_QUERIES:  # further passes over the same source documents
        before = len(test)
        for doc in sources:
            if len(test) == N_TEST_QUERIES:
                break
            test += queries_for(doc, 1)
        if len(test) == before:
            break
    if len(train) < N_TRAIN_QUERIES or len(test) < N_TEST_QUERIES:
        raise AssertionError(f"only {len(train)} training and {len(test)} test queries could be composed")
    return train + test


def write(out: Path, docs: list[Doc], queries: list[tuple[str, dict[str, int]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "documents.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        for doc in docs:
            handle.write(json.dumps({"id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    splits = {"train": queries[:N_TRAIN_QUERIES], "test": queries[N_TRAIN_QUERIES:]}
    qid = 0
    for split, rows in splits.items():
        with open(out / f"topics-{split}.tsv", "w", encoding="utf-8", newline="\n") as topics, \
                open(out / f"qrels-{split}.trec", "w", encoding="utf-8", newline="\n") as qrels:
            for text, judged in rows:
                qid += 1
                topics.write(f"q{qid:03d}\t{text}\n")
                for doc_id in sorted(judged):
                    qrels.write(f"q{qid:03d} 0 {doc_id} {judged[doc_id]}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "qcpt" / "data" / "demo")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    data = load_templates()
    docs = compose_documents(data, rng)
    queries = compose_queries(docs, data, rng)
    write(args.out, docs, queries)
    n_qrels = sum(len(j) for _, j in queries)
    print(f"wrote {len(docs)} documents, {len(queries)} queries ({n_qrels} judgments) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
