"""Malformed input at every stage boundary: the real command (``python scripts/qcpt.py <command>``) fails, its
message names the file, the line and the field or reason, and nothing appears under the output
names (outputs are atomic, so a failed job leaves nothing Snakemake or a person could mistake for
a result)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

DEMO = ROOT / "qcpt" / "data" / "demo"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2",
       "TOKENIZERS_PARALLELISM": "false"}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def corrupt(src: Path, dst: Path, line: int, replacement: str) -> Path:
    """A copy of ``src`` whose 1-based ``line`` is replaced."""
    lines = src.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = replacement
    return write_lines(dst, lines)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    """Small, valid inputs for every boundary (each case corrupts one line of one of them)."""
    d = tmp_path_factory.mktemp("good")
    documents = write_lines(d / "documents.jsonl", (DEMO / "documents.jsonl").read_text(encoding="utf-8").splitlines()[:12])
    rows = [json.loads(line) for line in documents.read_text(encoding="utf-8").splitlines()]
    passages = write_lines(d / "passages.jsonl", [
        json.dumps({"id": f"{r['id']}-0", "doc_id": r["id"], "title": r["title"], "text": r["text"], "n_tokens": 50},
                   ensure_ascii=False)
        for r in rows
    ])
    pids = [f"{r['id']}-0" for r in rows]
    order = write_lines(d / "order.txt", pids)
    shard = write_lines(d / "shard-00000.tsv", [f"{pid}\tquery {k} about {pid}" for pid in pids for k in range(3)])
    collection = write_lines(d / "collection.jsonl", [
        json.dumps({"docid": r["id"], "title": r["title"], "text": r["text"]}, ensure_ascii=False) for r in rows
    ])
    topics = write_lines(d / "topics.tsv", ["q1\twho observed comet ferreira", "q2\twhere is the sorensen tower",
                                            "q3\thow long to bake barley risotto"])
    qrels = write_lines(d / "qrels.trec", [f"q{i} 0 {rows[i - 1]['id']} 1" for i in (1, 2, 3)])
    run = write_lines(d / "run.trec", [f"q{q} Q0 {r['id']} {rank} {10 - rank}.5 bm25"
                                       for q in (1, 2, 3) for rank, r in enumerate(rows[:4], start=1)])
    train = write_lines(d / "train.jsonl", [
        json.dumps({"query_id": f"q{i}", "query": f"query {i}", "positive_document_ids": [rows[i]["id"]],
                    "negative_document_ids": [r["id"] for r in rows[5:9]]}) for i in (1, 2, 3)
    ])
    import numpy as np

    encoded = d / "shard-0-of-1.npz"
    with open(encoded, "wb") as handle:
        np.savez(handle, ids=np.array([r["id"] for r in rows], dtype=str),
                 embeddings=np.random.default_rng(0).standard_normal((len(rows), 32), dtype=np.float32))
    return {"dir": d, "documents": documents, "passages": passages, "order": order, "shard": shard,
            "collection": collection, "topics": topics, "qrels": qrels, "run": run, "train": train,
            "encoded": encoded}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    from qcpt.pretrain.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


@dataclass
class Case:
    """``script`` run on the good inputs with ``input`` corrupted at ``line`` (``bad`` replaces it)."""

    script: str
    input: str
    line: int
    bad: str
    expect: list[str]  # besides the file path and "line N": the field and/or the reason
    args: list[str] = field(default_factory=list)  # "{name}" = a good input; "{bad}" = the corrupted file; "{out}/x" = an output


CASES = {
    "documents-bad-json": Case("corpus:documents", "documents", 3, '{"id": "x", "title": "t", "text": ',
                               ["bad JSON"], ["--source", "{bad}", "--format", "jsonl", "--out", "{out}/documents.jsonl"]),
    "documents-missing-text": Case("corpus:documents", "documents", 5, '{"id": "d9005", "title": "No text"}',
                                   ["'text'", "missing"], ["--source", "{bad}", "--out", "{out}/documents.jsonl"]),
    "documents-duplicate-id": Case("corpus:documents", "documents", 7, '{"id": "d0001", "title": "", "text": "Again."}',
                                   ["'id'", "duplicate"], ["--source", "{bad}", "--out", "{out}/documents.jsonl"]),
    "collection-docid-with-space": Case("corpus:collection", "collection", 4, '{"docid": "d 4", "title": "", "text": "x"}',
                                        ["'id'", "whitespace"], ["--source", "{bad}", "--out", "{out}/collection.jsonl"]),
    "passages-to-order-duplicate": Case("querygen.sharding", "passages", 6,
                                        '{"id": "d0001-0", "doc_id": "d0001", "title": "", "text": "x", "n_tokens": 1}',
                                        ["'id'", "duplicate"], ["--passages", "{bad}", "--out", "{out}/order.txt"]),
    "order-to-generation-duplicate": Case(
        "querygen.driver", "order", 4, "d0001-0", ["'passage_id'", "duplicate"],
        ["--passages", "{passages}", "--order", "{bad}", "--shard", "0", "--shard-size", "4",
         "--generator", json.dumps({"name": "g", "model": "unused", "prompt": "doct5query"}),
         "--out", "{out}/shard.tsv", "--stats", "{out}/shard.stats.json", "--no-progress"]),
    "pool-shard-three-columns": Case(
        "querygen.selection", "shard", 4, "d0002-0\tquery\textra", ["expected 2 tab-separated columns", "found 3"],
        ["--shards", "{bad}", "--count", "2", "--out", "{out}/queries.tsv", "--stats", "{out}/queries.stats.json"]),
    "pool-shard-empty-query": Case(
        "querygen.selection", "shard", 2, "d0001-0\t  ", ["'query'", "empty"],
        ["--shards", "{bad}", "--count", "2", "--out", "{out}/queries.tsv", "--stats", "{out}/queries.stats.json"]),
    "queries-to-pretrain-unknown-passage": Case(
        "pretrain.driver", "shard", 5, "d7777-0\ta query for a passage that does not exist", ["'passage_id'", "d7777-0"],
        ["--passages", "{passages}", "--queries", "{bad}", "--init", "{encoder}", "--out", "{out}/model",
         "--checkpoints", "{out}/checkpoints", "--log", "{out}/log.json",
         "--params", json.dumps({"context": "query", "batch_size": 2, "max_steps": 1})]),
    "passages-to-pretrain-missing-doc-id": Case(
        "pretrain.driver", "passages", 2, '{"id": "d0002-0", "title": "", "text": "x", "n_tokens": 1}', ["'doc_id'", "missing"],
        ["--passages", "{bad}", "--init", "{encoder}", "--out", "{out}/model", "--checkpoints", "{out}/checkpoints",
         "--log", "{out}/log.json", "--params", json.dumps({"batch_size": 2, "max_steps": 1})]),
    "topics-three-columns": Case(
        "corpus:topics", "topics", 2, "q2\twhere\tis it", ["expected 2 tab-separated columns"],
        ["--topics", "{bad}", "--qrels", "{qrels}", "--out-topics", "{out}/t.tsv", "--out-qrels", "{out}/q.trec"]),
    "qrels-relevance-not-integer": Case(
        "corpus:topics", "qrels", 3, "q3 0 d0003 high", ["'relevance'", "not an integer"],
        ["--topics", "{topics}", "--qrels", "{bad}", "--out-topics", "{out}/t.tsv", "--out-qrels", "{out}/q.trec"]),
    "qrels-to-evaluate-wrong-columns": Case(
        "retrieval.evaluate", "qrels", 2, "q2 0 d0002", ["expected 4 columns"],
        ["--run", "{run}", "--qrels", "{bad}", "--out", "{out}/metrics.json"]),
    "run-to-evaluate-score-not-number": Case(
        "retrieval.evaluate", "run", 5, "q2 Q0 d0001 1 high bm25", ["'score'", "not a number"],
        ["--run", "{bad}", "--qrels", "{qrels}", "--out", "{out}/metrics.json"]),
    "run-to-evaluate-five-columns": Case(
        "retrieval.evaluate", "run", 3, "q1 Q0 d0003 3 7.5", ["expected 6 columns"],
        ["--run", "{bad}", "--qrels", "{qrels}", "--out", "{out}/metrics.json"]),
    "run-to-train-data-rank-not-integer": Case(
        "retrieval.train_data", "run", 6, "q2 Q0 d0002 second 8.5 bm25", ["'rank'", "not an integer"],
        ["--run", "{bad}", "--topics", "{topics}", "--qrels", "{qrels}", "--out", "{out}/train.jsonl"]),
    "qrels-to-train-data-duplicate-judgment": Case(
        "retrieval.train_data", "qrels", 3, "q1 0 d0001 1", ["'docid'", "duplicate judgment"],
        ["--run", "{run}", "--topics", "{topics}", "--qrels", "{bad}", "--out", "{out}/train.jsonl"]),
    "topics-to-bm25-search-empty-query": Case(
        "retrieval.bm25:search", "topics", 2, "q2\t ", ["'text'", "empty"],
        ["--index", "{dir}/no-index-needed", "--topics", "{bad}", "--out", "{out}/run.trec"]),
    "topics-to-search-duplicate-qid": Case(
        "retrieval.search", "topics", 3, "q1\tagain", ["'qid'", "duplicate"],
        ["--model", "unused", "--shards", "{encoded}", "--topics", "{bad}", "--out", "{out}/run.trec"]),
    "collection-to-encode-duplicate-docid": Case(
        "retrieval.encode", "collection", 5, '{"docid": "d0002", "title": "", "text": "twice"}', ["'docid'", "duplicate"],
        ["--model", "unused", "--collection", "{bad}", "--shard", "0", "--num-shards", "1",
         "--out", "{out}/shard-0-of-1.npz"]),
    "train-data-to-finetune-positives-not-a-list": Case(
        "retrieval.finetune.driver", "train", 2, '{"query_id": "q2", "query": "x", "positive_document_ids": "d0002", '
        '"negative_document_ids": []}', ["'positive_document_ids'", "expected a list"],
        ["--train", "{bad}", "--collection", "{collection}", "--init", "unused", "--out", "{out}/model",
         "--checkpoints", "{out}/checkpoints", "--log", "{out}/log.json"]),
    "collection-to-bm25-empty-text": Case(
        "retrieval.bm25:index", "collection", 6, '{"docid": "d0006", "title": "", "text": ""}', ["'text'", "empty"],
        ["--collection", "{bad}", "--out", "{out}/index"]),
}


def run_case(case: Case, good: dict[str, Path], tmp_path: Path, tiny_encoder: Path | None = None):
    src = good[case.input]
    bad = corrupt(src, tmp_path / src.name, case.line, case.bad)
    out = tmp_path / "out"
    out.mkdir()
    values = {**{k: str(v) for k, v in good.items()}, "bad": str(bad), "out": str(out),
              "encoder": str(tiny_encoder or "")}
    argv = [a.format(**values) if "{" in a and not a.startswith("{\"") else a for a in case.args]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), case.script, *argv],
                          capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp_path)
    return proc, bad, out


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_located_and_writes_nothing(name, good, tmp_path, request):
    case = CASES[name]
    encoder = request.getfixturevalue("tiny_encoder") if case.script == "pretrain.driver" else None
    proc, bad, out = run_case(case, good, tmp_path, encoder)
    message = proc.stderr
    assert proc.returncode != 0, f"{case.script} accepted a malformed {case.input}:\n{message[-3000:]}"
    assert f"{bad}, line {case.line}" in message, f"file and line not named:\n{message[-3000:]}"
    for needle in case.expect:
        assert needle in message, f"{needle!r} not in the message:\n{message[-3000:]}"
    assert "Traceback" not in message or "InputError" in message, message[-3000:]
    leftovers = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert leftovers == [], f"{case.script} left {leftovers} after failing"


def test_every_case_corrupts_its_input(good, tmp_path):
    """The same commands on the good inputs succeed, so each case fails because of its bad line
    (for the cheap scripts; pre-training and BM25 are covered by their own tests)."""
    for name, case in CASES.items():
        if case.script in ("pretrain.driver", "retrieval.bm25:index", "retrieval.bm25:search", "querygen.driver", "retrieval.search", "retrieval.encode", "retrieval.finetune.driver"):
            continue
        values = {**{k: str(v) for k, v in good.items()}, "bad": str(good[case.input])}
        out = tmp_path / name
        out.mkdir()
        values["out"] = str(out)
        argv = [a.format(**values) if "{" in a and not a.startswith("{\"") else a for a in case.args]
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "qcpt.py"), case.script, *argv],
                              capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, f"{name}: the good input fails too:\n{proc.stderr[-3000:]}"
        assert any(out.iterdir()), name


# --------------------------------------------------------------------------- config


def _snakemake_dry_run(config: Path, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--configfile", str(config),
         "--directory", str(workdir), "-n", "--cores", "1"],
        capture_output=True, text=True, env=ENV, timeout=300, cwd=workdir,
    )


def test_config_yaml_syntax_error_fails_and_the_loader_names_file_and_line(tmp_path):
    """Snakemake parses ``--configfile`` itself, before the Snakefile runs, and reports a YAML error
    without file or line (snakemake/common/configfile.py swallows the YAML parser's message); the
    project's loader, qcpt.config.load, names both."""
    lines = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("seed:"))
    lines[target] = "seed: [42"  # an unclosed flow sequence
    bad = write_lines(tmp_path / "bad config.yaml", lines)
    proc = _snakemake_dry_run(bad, tmp_path)
    assert proc.returncode != 0 and "not valid JSON or YAML" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
    from qcpt import config as qconfig

    with pytest.raises(yaml.YAMLError) as err:
        qconfig.load(bad)
    assert str(bad) in str(err.value) and f"line {target + 1}" in str(err.value), str(err.value)


def test_config_unknown_key_and_bad_value_are_named(tmp_path):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    cfg["passages"]["max_tokenz"] = 144
    cfg["querygen"]["shard_size"] = "sixty-four"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = _snakemake_dry_run(bad, tmp_path)
    message = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "passages" in message and "max_tokenz" in message, message[-3000:]
    assert "querygen.shard_size" in message and "sixty-four" in message, message[-3000:]
    assert not (tmp_path / "results").exists()


def test_pretrain_params_refuse_a_warmup_the_training_loop_would_refuse():
    """qcpt.training.trainer passes warmup_ratio to transformers as a fraction in [0, 1); pre-training
    params must refuse 1.0 when they are parsed, not after the data is loaded."""
    from qcpt.pretrain.arguments import parse_params
    from qcpt.training.params import TrainerParams
    from qcpt.training.trainer import training_arguments

    with pytest.raises(ValueError, match="warmup_ratio"):
        training_arguments("unused", TrainerParams(learning_rate=1e-4, warmup_ratio=1.0), per_device_batch_size=1,
                           max_steps=1)
    with pytest.raises(ValueError, match="warmup_ratio"):
        parse_params({"warmup_ratio": 1.0})
    assert parse_params({"warmup_ratio": 0.5}).warmup_ratio == 0.5
