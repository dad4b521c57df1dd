"""Round-trip consistency@10 on a hand-made collection whose BM25 rankings are known by construction."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qcpt.core.io import InputError
from qcpt.querygen.consistency import (
    ConsistencyParams,
    index_passages,
    round_trip_consistency,
    sample_positions,
)
from qcpt.querygen.selection import main as select_main

# 15 passages of exactly four terms each (equal lengths: equal BM25 length norms). p00-p11 hold
# "banana" once, so a "banana" query scores those twelve exactly alike and the tie is broken by id:
# p00..p09 are its top 10, p10 and p11 rank 11th and 12th. p12-p14 hold "cherry" instead. Every
# passage has three words of its own ("uniq<letters>"), found nowhere else.
LETTERS = "abcdefghijklmno"


def passage_words(i: int) -> list[str]:
    return ["banana" if i < 12 else "cherry"] + [f"uniq{LETTERS[i]}{k}" for k in "xyz"]


CASES = [
    ("p03", "uniqdx", True),        # its own word: rank 1
    ("p09", "banana", True),        # 12-way tie, ids ascending: 10th
    ("p10", "banana", False),       # same tie: 11th, outside the top 10
    ("p13", "xylophone", False),    # no query term in the collection: nothing retrieved
    ("p13", "cherry", True),        # 3 hits
    ("p05", "uniqax uniqbx", False),  # words of other passages only
]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("consistency")
    passages = root / "passages.jsonl"
    passages.write_text("".join(
        json.dumps({"id": f"p{i:02d}", "doc_id": f"d{i:02d}", "title": "", "text": " ".join(passage_words(i))}) + "\n"
        for i in range(15)))
    assert index_passages(passages, root / "index") == 15
    return root / "index"


def test_consistency_at_10_counts_queries_whose_source_is_in_the_top_10(index: Path):
    queries = [(pid, q) for pid, q, _ in CASES]
    record = round_trip_consistency(queries, index)
    assert record["queries_consistent"] == sum(ok for *_, ok in CASES) == 3
    assert record["consistency@10"] == 0.5
    assert record["queries_total"] == record["queries_searched"] == 6 and not record["sampled"]
    # depth 12 reaches the rest of the banana tie
    assert round_trip_consistency(queries, index, ConsistencyParams(depth=12))["consistency@12"] == pytest.approx(4 / 6, abs=1e-4)


def test_a_large_file_is_measured_on_a_fixed_seeded_sample(index: Path):
    queries = [(pid, q) for pid, q, _ in CASES]
    params = ConsistencyParams(max_queries=3, seed=7)
    positions = sample_positions(len(queries), params)
    assert positions == sorted(random.Random(7).sample(range(6), 3)) == sample_positions(6, params)
    record = round_trip_consistency(queries, index, params)
    assert record["sampled"] and record["queries_searched"] == 3
    assert record["queries_consistent"] == sum(CASES[p][2] for p in positions)


def test_a_query_for_a_passage_outside_the_index_is_an_input_error(index: Path):
    with pytest.raises(InputError, match=r"q\.tsv, line 2.*'p99' is not in the consistency index"):
        round_trip_consistency([("p00", "banana"), ("p99", "banana")], index, source="q.tsv")


def test_bad_consistency_params_are_refused():
    with pytest.raises(ValueError, match="depth"):
        ConsistencyParams(depth=0)
    with pytest.raises(ValueError, match="max_queries"):
        ConsistencyParams(max_queries=0)


def test_select_queries_records_consistency_in_its_stats(tmp_path: Path, index: Path):
    shard = tmp_path / "shard-00000.tsv"
    shard.write_text("".join(f"{pid}\t{q}\n" for pid, q, _ in CASES[:3]))  # p03, p09, p10: 2 of 3
    out, stats = tmp_path / "c1.tsv", tmp_path / "c1.stats.json"
    assert select_main(["--shards", str(shard), "--count", "1", "--out", str(out), "--stats", str(stats),
                        "--consistency-index", str(index), "--consistency", '{"max_queries": null}']) == 0
    record = json.loads(stats.read_text())
    assert record["consistency@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert record["consistency"]["queries_searched"] == 3 and record["consistency"]["index"] == str(index)
