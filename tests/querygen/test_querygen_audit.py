"""The generated-query audit on constructed query files: rates by hand, a planted leak found (exact
and near), a non-leak not, the candidate search equal to comparing every pair."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

from qcpt.querygen import audit as qa
from qcpt.querygen import leakage, minhash
from qcpt.querygen import ngrams as qn

PASSAGES = [
    ("p1", "Comet Ferreira is a periodic comet first observed at Calar Alto."),
    ("p2", "Wheat hardiness depends on a tolerance gene from Anatolia."),
]
TOPICS = {"t1": "How big is the nucleus of comet Ferreira?", "t2": "what gene gives wheat its hardiness"}


def test_rates_by_hand():
    queries = {"p1": ["periodic comet", "Periodic comet!", "who observed comet ferreira first"],
               "p2": ["wheat hardiness"]}
    record = qa.audit(queries, PASSAGES, 2, {}, [{"shortfall": 1, "sequences": 7, "queries": 4}])
    assert record["queries"] == 4 and record["passages"] == 2
    assert record["queries_per_passage"] == {"1": 1, "3": 1} and record["passages_below_count"] == 1
    assert record["duplicate_rate_within_passage"] == pytest.approx(1 / 4)  # "Periodic comet!" repeats
    assert record["duplicate_rate_corpus"] == pytest.approx(2 / 4)  # both copies of it count
    # substrings of their passage: "periodic comet" (twice), "wheat hardiness"
    assert record["copy_rate"] == pytest.approx(3 / 4)
    # token overlap per query: 1, 1, 4/5 ("who" is not in p1; observed, comet, ferreira, first are), 1
    overlap = (1 + 1 + 4 / 5 + 1) / 4
    assert record["token_overlap"] == pytest.approx(overlap)
    assert record["length_tokens"]["histogram"] == {"2": 3, "5": 1}
    assert record["generation"]["shortfall"] == 1 and record["generation"]["shards"] == 1


def test_a_planted_leak_is_found_and_a_non_leak_is_not():
    queries = {"p1": ["How big is the nucleus of comet  Ferreira", "comet tail colour"],  # exact after normalising
               "p2": ["what gene gives wheat its hardyness", "wheat harvest in spring"]}  # one letter off: near
    record = qa.audit(queries, PASSAGES, 2, {"test": TOPICS, "other": {"x": "comet tail colour of mars"}}, [],
                      training=["other"])
    test = record["leakage"]["test"]
    assert (test["exact"], test["near"], test["leaked"]) == (1, 1, 2)
    assert {e["topic"] for e in test["examples"]} == {"t1", "t2"}
    near = next(e for e in test["examples"] if e["kind"] == "near")
    assert 0.8 <= near["jaccard"] < 1.0
    # "comet tail colour" vs "comet tail colour of mars": shared words, Jaccard below 0.8: no leak
    assert record["leakage"]["other"]["leaked"] == 0 and record["leakage"]["other"]["training"]
    grams = qn.ngrams(qn.normalise("comet tail colour")), qn.ngrams(qn.normalise("comet tail colour of mars"))
    assert qn.jaccard(*grams) < 0.8


def test_candidate_search_equals_every_pair():
    rng = random.Random(0)
    words = ["comet", "wheat", "gene", "orbit", "nucleus", "how", "what", "is", "the", "of", "a"]
    topics = {f"t{i}": " ".join(rng.choices(words, k=rng.randint(2, 6))) for i in range(60)}
    params = leakage.AuditParams(threshold=0.6)
    index = leakage.TopicIndex(topics, params)
    for _ in range(300):
        query = " ".join(rng.choices(words, k=rng.randint(2, 6)))
        q = qn.ngrams(qn.normalise(query))
        best = max((qn.jaccard(q, qn.ngrams(qn.normalise(t))) for t in topics.values()), default=0.0)
        found = index.match(query)
        if best >= 0.6:
            assert found is not None and found[2] == pytest.approx(best), query
        else:
            assert found is None, query


class _IndexEveryGram:
    """TopicIndex as it was before the prefix filter (every n-gram of every topic indexed; the
    query's rarest n-grams probed): the reference the prefix filter must agree with exactly."""

    def __init__(self, topics, params):
        self.params, self.exact, self.grams, self.by_gram = params, {}, {}, {}
        for qid, text in topics.items():
            norm = qn.normalise(text)
            self.exact.setdefault(norm, qid)
            self.grams[qid] = qn.ngrams(norm, params.ngram)
            for g in self.grams[qid]:
                self.by_gram.setdefault(g, []).append(qid)

    def match(self, query):
        norm = qn.normalise(query)
        if norm in self.exact:
            return "exact", self.exact[norm], 1.0
        q = qn.ngrams(norm, self.params.ngram)
        known = sorted((g for g in q if g in self.by_gram), key=lambda g: (len(self.by_gram[g]), g))
        probes = len(q) - math.ceil(self.params.threshold * len(q) - 1e-9) + 1
        if len(known) < len(q) - probes + 1:
            return None
        best = None
        for qid in dict.fromkeys(t for g in known[:probes] for t in self.by_gram[g]):
            score = qn.jaccard(q, self.grams[qid])
            if score >= self.params.threshold and (best is None or score > best[2]):
                best = ("near", qid, score)
        return best


@pytest.mark.parametrize(("threshold", "ngram"), [(0.8, 3), (0.6, 3), (0.5, 2), (1.0, 3), (0.7, 4)])
def test_prefix_filter_gives_what_indexing_every_gram_gave(threshold, ngram):
    # few words, so many near matches and many ties between topics (duplicates included)
    rng = random.Random(threshold * 100 + ngram)
    words = ["comet", "comets", "wheat", "gene", "genes", "orbit", "how", "what", "is", "the", "of", "a"]
    topics = {f"t{i}": " ".join(rng.choices(words, k=rng.randint(1, 6))) for i in range(300)}
    params = leakage.AuditParams(threshold=threshold, ngram=ngram)
    new, old = leakage.TopicIndex(topics, params), _IndexEveryGram(topics, params)
    found = 0
    for _ in range(2000):
        query = " ".join(rng.choices(words, k=rng.randint(1, 7)))
        expected = old.match(query)
        assert new.match(query) == expected, query
        found += expected is not None and expected[0] == "near"
    assert found >= 10  # the comparison covered near matches, not only misses


def test_cli_writes_the_json(tmp_path):
    (tmp_path / "q.tsv").write_text("p1\tHow big is the nucleus of comet Ferreira\np2\twheat harvest\n")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": i, "title": "", "text": t}) + "\n" for i, t in PASSAGES))
    (tmp_path / "t.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS.items()))
    (tmp_path / "s.json").write_text(json.dumps({"shortfall": 0, "queries": 2}))
    qa.main(["--queries", str(tmp_path / "q.tsv"), "--passages", str(tmp_path / "p.jsonl"), "--count", "1",
             "--shard-stats", str(tmp_path / "s.json"), "--topics", f"demo-test={tmp_path / 't.tsv'}",
             "--out", str(tmp_path / "a.json")])
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["leakage"]["demo-test"]["exact"] == 1 and record["file"].endswith("q.tsv")
    with pytest.raises(ValueError, match="unknown key 'treshold' \\(did you mean 'threshold'"):
        qa.parse_params('{"treshold": 0.8}')
    with pytest.raises(ValueError, match="threshold"):
        qa.parse_params('{"threshold": 1.5}')


# --- the streaming file audit and the MinHash candidates ---------------------------------------

WORDS = ["comet", "comets", "wheat", "gene", "genes", "orbit", "how", "what", "is", "the", "of", "a",
         "café", "naïve", "tail", "nucleus"]


def _query_files(tmp_path, rng):
    """A passages JSONL (titles on some) and a grouped selection TSV with duplicates, copies, a
    passage missing from the corpus, non-ASCII queries, and leaks of both topic sets."""
    passages = {f"p{i}": " ".join(rng.choices(WORDS, k=rng.randint(5, 15))) for i in range(40)}
    topics = {"dev": {f"d{i}": " ".join(rng.choices(WORDS, k=rng.randint(2, 6))) for i in range(50)},
              "train": {f"t{i}": " ".join(rng.choices(WORDS, k=rng.randint(2, 6))) for i in range(80)}}
    topic_texts = [t for topics_ in topics.values() for t in topics_.values()]
    rows = []
    for pid in [*passages, "missing-1"]:
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if kind < 0.15:
                query = rng.choice(topic_texts).upper()  # exact after normalising
            elif kind < 0.3:
                query = rng.choice(topic_texts) + rng.choice(["s", "!", " a"])  # near
            elif kind < 0.4 and pid in passages:
                query = " ".join(passages[pid].split()[1:4])  # a copy
            else:
                query = " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))
            rows.append((pid, query))
        if rng.random() < 0.3:
            rows.append(rows[-1])  # a duplicate within the passage
    (tmp_path / "p.jsonl").write_text("".join(
        json.dumps({"id": pid, "title": "A title" if i % 3 == 0 else "", "text": text}) + "\n"
        for i, (pid, text) in enumerate(passages.items())), encoding="utf-8")
    (tmp_path / "q.tsv").write_text("".join(f"{p}\t{q}\n" for p, q in rows), encoding="utf-8")
    queries: dict[str, list[str]] = {}
    for pid, query in rows:
        queries.setdefault(pid, []).append(query)
    corpus = [(pid, f"{'A title' if i % 3 == 0 else ''} {text}") for i, (pid, text) in enumerate(passages.items())]
    return queries, corpus, topics


@pytest.mark.parametrize(("workers", "parts"), [(1, 1), (1, 5), (2, 3)])
def test_the_file_audit_streams_to_the_in_memory_record(tmp_path, workers, parts):
    rng = random.Random(7)
    queries, corpus, topics = _query_files(tmp_path, rng)
    stats = [{"shortfall": 2, "queries": 9}]
    expected = qa.audit(queries, corpus, 4, topics, stats, ["train"])
    got = qa.audit_file(tmp_path / "q.tsv", tmp_path / "p.jsonl", 4, topics, stats, ["train"],
                        workers=workers, parts_per_worker=parts)
    assert json.dumps(got) == json.dumps(expected)
    # the fixture exercises what it is meant to
    assert got["passages_missing_from_corpus"] == 1 and got["duplicate_rate_within_passage"] > 0
    assert got["copy_rate"] > 0 and all(v["exact"] and v["near"] for v in got["leakage"].values())


def test_the_file_audit_names_a_bad_line_in_any_worker_range(tmp_path):
    lines = [f"p{i}\tquery number {i}\n" for i in range(60)]
    lines[49] = "p49 without a tab\n"
    (tmp_path / "q.tsv").write_text("".join(lines))
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p0", "text": "x"}) + "\n")
    with pytest.raises(qa.InputError, match=r"q\.tsv.*line 50.*2 tab-separated columns"):
        qa.audit_file(tmp_path / "q.tsv", tmp_path / "p.jsonl", 1, {}, [], workers=2, parts_per_worker=2)


_AUDIT_WITH_SIGTERM_CAUGHT = textwrap.dedent("""
    import json, signal, sys, time
    from pathlib import Path
    from qcpt.querygen import audit as qa

    # A JVM in the interpreter (pyserini) catches SIGTERM, and forked workers inherit its handler;
    # a Python handler stands in for it.
    signal.signal(signal.SIGTERM, lambda *_: None)
    tally_range = qa._tally_range

    def slow_after_the_first(span):  # the other parts still running when the first one fails
        if span[0] > 0:
            time.sleep(1)
        return tally_range(span)

    qa._tally_range = slow_after_the_first  # forked workers look the name up in this module
    tmp = Path(sys.argv[1])
    try:
        qa.audit_file(tmp / "q.tsv", tmp / "p.jsonl", 1, {}, [], workers=2, parts_per_worker=4)
    except qa.InputError as err:
        print("InputError:", err)
""")


def test_a_failing_worker_range_ends_the_audit_where_the_process_catches_sigterm(tmp_path):
    # multiprocessing.Pool's terminate() sent SIGTERM to workers it had locked out of the task
    # queue and waited for them: where the interpreter catches SIGTERM they never died.
    lines = [f"p{i}\tquery number {i}\n" for i in range(80)]
    lines[1] = "p1 without a tab\n"
    (tmp_path / "q.tsv").write_text("".join(lines))
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p0", "text": "x"}) + "\n")
    proc = subprocess.Popen([sys.executable, "-c", _AUDIT_WITH_SIGTERM_CAUGHT, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the workers too
        proc.communicate()
        pytest.fail("the audit did not end within 60 s of a worker's error")
    assert proc.returncode == 0, err[-3000:]
    assert "InputError:" in out and "line 2" in out and "2 tab-separated columns" in out


@pytest.mark.parametrize("threshold", [0.8, 0.9])
def test_minhash_bands_find_what_the_exact_prefix_filter_finds(threshold):
    rng = random.Random(int(threshold * 10))
    topics = {"a": {f"a{i}": " ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for i in range(300)},
              "b": {f"b{i}": " ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for i in range(200)}}
    sets = leakage.TopicSets(topics, leakage.AuditParams(threshold=threshold))
    assert sets.bands is not None  # the banded path is what this compares
    norms = [qn.normalise(" ".join(rng.choices(WORDS, k=rng.randint(0, 7)))) for _ in range(3000)]
    exact = [sets.match_normalised(norm) for norm in norms]
    assert sets.match_batch(norms) == exact
    near = sum(hit is not None and hit[0] == "near" for hits in exact for hit in hits)
    assert near >= 50  # near matches (and ties among them) were compared, not only misses


def test_band_counts():
    assert minhash.band_count(0.8) == 69 and minhash.band_count(1.0) == 1
    assert minhash.band_count(0.6) is None  # would need too many bands: the exact prefix filter then
    assert leakage.TopicSets({"a": {"x": "comet"}}, leakage.AuditParams(threshold=0.6)).bands is None
