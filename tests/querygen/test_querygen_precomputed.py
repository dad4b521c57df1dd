"""The ``precomputed`` generator backend: published-style expansions read into pools, validated."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from qcpt import config as qconfig
from qcpt.core.io import InputError
from qcpt.querygen.driver import main as generate_main
from qcpt.querygen.precomputed import iter_expansions

ROOT = Path(__file__).resolve().parents[2]
IDS = ["p1", "p2", "p3", "p4"]


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    passages, order = tmp_path / "passages.jsonl", tmp_path / "order.txt"
    passages.write_text("".join(json.dumps({"id": pid, "title": "", "text": f"text of {pid}"}) + "\n" for pid in IDS))
    order.write_text("\n".join(IDS) + "\n")
    return passages, order


def generate(tmp_path: Path, corpus: tuple[Path, Path], model: Path, pool_size: int, shard: int = 0,
             shard_size: int = 4) -> tuple[list[tuple[str, str]], dict]:
    passages, order = corpus
    spec = {"name": "d2q", "backend": "precomputed", "model": str(model), "prompt": "doct5query", "pool_size": pool_size}
    out, stats = tmp_path / f"shard-{shard}.tsv", tmp_path / f"shard-{shard}.stats.json"
    assert generate_main(["--passages", str(passages), "--order", str(order), "--shard", str(shard),
                          "--shard-size", str(shard_size), "--generator", json.dumps(spec), "--out", str(out),
                          "--stats", str(stats), "--no-progress"]) == 0
    rows = [tuple(line.split("\t")) for line in out.read_text().splitlines()]
    return rows, json.loads(stats.read_text())


def test_tsv_expansions_fill_pools_in_file_order_with_the_usual_filters(tmp_path: Path, corpus):
    expansions = tmp_path / "expansions.tsv"
    expansions.write_text(
        "p2\twhere is p2\n"
        "p1\tfirst  query of p1 \n"            # whitespace is normalised
        "p1\tFirst query of p1\n"              # a duplicate (case-insensitive) is skipped
        "p1\t" + " ".join(["word"] * 40) + "\n"  # longer than max_query_words: dropped
        "p1\tsecond query of p1\n"
        "p1\tthird query of p1\n"              # beyond pool_size 2
        "p9\tquery of a passage outside the corpus\n"
        "p2\tanother p2 query\n"
    )
    rows, stats = generate(tmp_path, corpus, expansions, pool_size=2)
    assert rows == [("p1", "first query of p1"), ("p1", "second query of p1"),
                    ("p2", "where is p2"), ("p2", "another p2 query")]
    assert stats["backend"] == "precomputed" and stats["device"] == "precomputed"
    assert stats["queries"] == 4 and stats["shortfall"] == 2
    assert stats["shortfall_passages"] == [["p3", 0], ["p4", 0]]
    assert stats["expansion_rows"] == 7 and stats["expansion_rows_dropped"] == 1


def test_a_shard_reads_only_its_own_passages(tmp_path: Path, corpus):
    expansions = tmp_path / "expansions.tsv"
    expansions.write_text("".join(f"{pid}\tquery {k} about {pid}\n" for pid in IDS for k in range(3)))
    rows, stats = generate(tmp_path, corpus, expansions, pool_size=3, shard=1, shard_size=2)
    assert {pid for pid, _ in rows} == {"p3", "p4"} and stats["shortfall"] == 0 and stats["queries"] == 6


def test_jsonl_expansions_in_pyserini_layout(tmp_path: Path, corpus):
    expansions = tmp_path / "expansions.jsonl"
    expansions.write_text("".join(json.dumps({"id": pid, "predicted_queries": [f"what is {pid}", f"{pid} facts"]}) + "\n"
                                  for pid in IDS[:3]))
    rows, stats = generate(tmp_path, corpus, expansions, pool_size=5)
    assert rows[:2] == [("p1", "what is p1"), ("p1", "p1 facts")] and len(rows) == 6
    assert stats["shortfall_passages"] == [["p1", 2], ["p2", 2], ["p3", 2], ["p4", 0]]


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("e.tsv", "p1\tok\np1\ta\tb\n", r"e\.tsv, line 2.*expected 2 tab-separated columns"),
        ("e.tsv", "p1\tok\n\t query\n", r"e\.tsv, line 2.*passage_id.*empty"),
        ("e.tsv", "p1\t  \n", r"e\.tsv, line 1.*query.*empty"),
        ("e.jsonl", '{"id": "p1", "predicted_queries": ["a"]}\n{"id": "p2", \n', r"e\.jsonl, line 2.*bad JSON"),
        ("e.jsonl", '{"id": "p1", "predicted_queries": "a"}\n', r"e\.jsonl, line 1.*predicted_queries.*list of strings"),
        ("e.jsonl", '{"predicted_queries": ["a"]}\n', r"e\.jsonl, line 1.*'id'"),
        ("e.jsonl", '{"id": "p1", "predicted_queries": ["a", " "]}\n', r"e\.jsonl, line 1.*predicted_queries\[1\].*empty"),
    ],
)
def test_malformed_expansions_name_file_line_and_field(tmp_path: Path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        list(iter_expansions(path))


def _demo_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_the_config_check_names_a_missing_or_unusable_expansions_file(tmp_path: Path):
    config = _demo_config()
    good = tmp_path / "expansions.tsv"
    good.write_text("p1\tq\n")
    config["generators"]["d2q"] = {"backend": "precomputed", "model": str(good), "prompt": "doct5query", "pool_size": 5}
    qconfig.validate(copy.deepcopy(config))
    config["generators"]["d2q"]["model"] = str(tmp_path / "missing.tsv")
    with pytest.raises(qconfig.ConfigError, match=r"'generators\.d2q\.model'.*does not exist"):
        qconfig.validate(copy.deepcopy(config))
    wrong = tmp_path / "expansions.csv"
    wrong.write_text("p1,q\n")
    config["generators"]["d2q"]["model"] = str(wrong)
    with pytest.raises(qconfig.ConfigError, match=r"'generators\.d2q\.model'.*must end in \.tsv or \.jsonl"):
        qconfig.validate(copy.deepcopy(config))


def test_the_workflow_reads_a_precomputed_generator_without_a_model_job(tmp_path: Path):
    from conftest import snakemake

    expansions = tmp_path / "expansions.tsv"
    expansions.write_text("d0001-0\tcomet ferreira discovery\n")
    # The whole generator block replaced (an overlay config would deep-merge into the demo's d2q).
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["generators"]["d2q"] = {"backend": "precomputed", "model": str(expansions), "prompt": "doct5query",
                                   "pool_size": 5}
    results = tmp_path / "results"
    config["results"] = str(results)
    config_file = tmp_path / "d2q.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    target = results / "corpus/demo/queries/d2q/c5-nall.tsv"
    proc = snakemake(str(target), "-n", "-p", "--cores", "1", f"--configfile={config_file}")
    out = proc.stdout + proc.stderr
    assert "prepare_generator" not in out  # nothing to train or convert
    assert "index_passages" in out and "--consistency-index" in out
    assert f"input: {results}/corpus/demo/passages.jsonl, {results}/corpus/demo/passage-order.txt, {expansions}" in out
