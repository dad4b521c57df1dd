"""Shard arithmetic, the passage order, and select_queries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qcpt.core.io import InputError
from qcpt.querygen import selection, sharding
from qcpt.querygen.sharding import (
    num_shards,
    read_order,
    shard_bounds,
    shard_ids,
    shards_for_amount,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shard_arithmetic_at_msmarco_scale():
    assert num_shards(8_841_823, 100_000) == 89  # MS MARCO passages
    assert num_shards(8_800_000, 100_000) == 88
    assert num_shards(8_800_001, 100_000) == 89
    assert shards_for_amount(400_000, 100_000) == 4
    assert shards_for_amount(50_000, 100_000) == 1
    assert shards_for_amount(100_001, 100_000) == 2
    assert shard_bounds(88, 100_000, 8_841_823) == (8_800_000, 8_841_823)
    with pytest.raises(ValueError, match="shard 89 does not exist"):
        shard_bounds(89, 100_000, 8_841_823)
    with pytest.raises(ValueError, match="shard_size"):
        num_shards(10, 0)


def test_shards_partition_the_order():
    order = [f"p{i}" for i in range(23)]
    shards = [shard_ids(order, i, 5) for i in range(num_shards(len(order), 5))]
    assert [len(s) for s in shards] == [5, 5, 5, 5, 3]
    assert sum(shards, []) == order
    with pytest.raises(ValueError, match="valid shards: 0..4"):
        shard_ids(order, 5, 5)


def _write_passages(path: Path, ids: list[str]) -> None:
    with open(path, "w") as f:
        for pid in ids:
            f.write(json.dumps({"id": pid, "doc_id": pid.split("-")[0], "title": "", "text": f"text {pid}", "n_tokens": 2}) + "\n")


def test_passage_order_script_is_a_seeded_permutation(tmp_path):
    ids = [f"d{i}-{k}" for i in range(30) for k in range(2)]
    passages = tmp_path / "passages.jsonl"
    _write_passages(passages, ids)
    out1, out2, out3 = tmp_path / "o1.txt", tmp_path / "o2.txt", tmp_path / "o3.txt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), "querygen.sharding", "--passages", str(passages),
                    "--out", str(out1)], check=True, capture_output=True)
    assert sharding.main(["--passages", str(passages), "--out", str(out2), "--params", '{"seed": 42}']) == 0
    assert sharding.main(["--passages", str(passages), "--out", str(out3), "--params", '{"seed": 7}']) == 0
    o1, o2, o3 = read_order(out1), read_order(out2), read_order(out3)
    assert o1 == o2 and sorted(o1) == sorted(ids) and o1 != ids and o3 != o1
    with pytest.raises(ValueError, match="'sed'"):
        sharding.main(["--passages", str(passages), "--out", str(out3), "--params", '{"sed": 7}'])


def test_a_corpus_of_another_size_than_num_passages_fails_before_generation(tmp_path):
    """corpus.num_passages lays out the generation shards when the DAG is built: the order job, the
    first after splitting, stops on another count, names the key and writes no order."""
    passages = tmp_path / "passages.jsonl"
    _write_passages(passages, [f"d{i}-0" for i in range(12)])
    out = tmp_path / "order.txt"
    with pytest.raises(InputError, match=r"split into 12 passages .* corpus.num_passages is 10: set corpus.num_passages: 12"):
        sharding.main(["--passages", str(passages), "--out", str(out), "--params", '{"seed": 42, "expected_passages": 10}'])
    assert not out.exists()
    assert sharding.main(["--passages", str(passages), "--out", str(out), "--params", '{"seed": 42, "expected_passages": 12}']) == 0


def test_order_with_duplicates_is_rejected(tmp_path):
    path = tmp_path / "order.txt"
    path.write_text("a\nb\na\n")
    with pytest.raises(InputError, match="line 3"):
        read_order(path)


def _write_shard(path: Path, pools: dict[str, list[str]]) -> None:
    path.write_text("".join(f"{pid}\t{q}\n" for pid, qs in pools.items() for q in qs))


def test_select_queries_counts_and_amount(tmp_path):
    order = [f"p{i}" for i in range(6)]
    (tmp_path / "order.txt").write_text("\n".join(order) + "\n")
    # shard size 3; p1 got no queries at all, p4 only one
    s0, s1 = tmp_path / "s0.tsv", tmp_path / "s1.tsv"
    _write_shard(s0, {"p0": ["a", "b", "c"], "p2": ["d", "e", "f"]})
    _write_shard(s1, {"p3": ["g", "h", "i"], "p4": ["j"], "p5": ["k", "l", "m"]})
    out, stats_path = tmp_path / "q.tsv", tmp_path / "q.stats.json"
    assert selection.main(["--shards", str(s0), str(s1), "--count", "2", "--out", str(out), "--stats", str(stats_path)]) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows == [["p0", "a"], ["p0", "b"], ["p2", "d"], ["p2", "e"], ["p3", "g"], ["p3", "h"],
                    ["p4", "j"], ["p5", "k"], ["p5", "l"]]
    stats = json.loads(stats_path.read_text())
    assert (stats["passages"], stats["queries"], stats["passages_short"]) == (5, 9, 1)
    assert stats["queries_per_passage"] == {"1": 1, "2": 4}

    # amount 4 = the first 4 ids of the order (p0..p3), although p1 has no rows
    assert selection.main(["--shards", str(s0), str(s1), "--count", "3", "--out", str(out), "--stats", str(stats_path),
                           "--order", str(tmp_path / "order.txt"), "--params", '{"amount": 4}']) == 0
    kept = [line.split("\t")[0] for line in out.read_text().splitlines()]
    assert kept == ["p0"] * 3 + ["p2"] * 3 + ["p3"] * 3
    stats = json.loads(stats_path.read_text())
    assert (stats["passages"], stats["passages_without_queries"], stats["amount"]) == (3, 1, 4)
    with pytest.raises(ValueError, match="--order"):
        selection.main(["--shards", str(s0), "--count", "1", "--out", str(out), "--stats", str(stats_path),
                        "--params", '{"amount": 4}'])


def test_select_queries_rejects_overlapping_shards_and_bad_rows(tmp_path):
    s0 = tmp_path / "s0.tsv"
    _write_shard(s0, {"p0": ["a"], "p1": ["b"]})
    out, stats = tmp_path / "q.tsv", tmp_path / "s.json"
    with pytest.raises(InputError, match="appears again"):
        selection.main(["--shards", str(s0), str(s0), "--count", "1", "--out", str(out), "--stats", str(stats)])
    bad = tmp_path / "bad.tsv"
    bad.write_text("p0\ta\tb\n")
    with pytest.raises(InputError, match="line 1"):
        selection.main(["--shards", str(bad), "--count", "1", "--out", str(out), "--stats", str(stats)])
    assert not out.exists()
