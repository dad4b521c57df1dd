"""Passages, query pools, context sampling and params validation."""

from __future__ import annotations

import json

import pytest

from qcpt.io import InputError
from qcpt.pretrain.arguments import PretrainParams, parse_params
from qcpt.pretrain.data import PretrainDataset, load_passages, load_queries


def write_passages(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def corpus(tmp_path):
    rows = [{"id": f"A-{k}", "doc_id": "A", "title": "Alpha", "text": f"alpha passage {k}"} for k in range(3)]
    rows += [{"id": "B-0", "doc_id": "B", "title": "", "text": "beta only passage"}]
    passages = load_passages(write_passages(tmp_path / "p.jsonl", rows))
    queries_path = tmp_path / "q.tsv"
    queries_path.write_text("A-0\tq a0 one\nA-0\tq a0 two\nA-0\tq a0 three\nB-0\tq b0\nA-2\t \n")
    return passages, queries_path


def test_span_context_is_another_passage_of_the_document(corpus):
    passages, _ = corpus
    ds = PretrainDataset(passages, context="span", seed=1)
    seen = set()
    for epoch in range(20):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["context_kind"] == "span" and item["passage"] == "alpha passage 0"
        seen.add(item["context"])
    assert seen == {"alpha passage 1", "alpha passage 2"}  # redrawn per epoch, never itself
    assert ds[3]["context"] == "beta only passage"           # single-passage document: itself
    assert ds.stats["single_passage_documents"] == 1


def test_span_source_self(corpus):
    passages, _ = corpus
    ds = PretrainDataset(passages, context="span", span_source="self")
    assert all(ds[i]["context"] == ds[i]["passage"] and ds[i]["context_kind"] == "self" for i in range(len(ds)))


def test_query_context_samples_the_pool_and_skips_passages_without_queries(corpus):
    passages, queries_path = corpus
    pools, stats = load_queries(queries_path, passages)
    assert stats == {"query_rows": 4, "blank_queries_skipped": 1}
    ds = PretrainDataset(passages, context="query", queries=pools, seed=3)
    assert len(ds) == 2 and ds.stats["passages_without_queries_skipped"] == 2
    drawn = set()
    for epoch in range(30):
        ds.set_epoch(epoch)
        drawn.add(ds[0]["context"])
        assert ds[1]["context"] == "q b0"
    assert drawn == {"q a0 one", "q a0 two", "q a0 three"}
    ds.set_epoch(5)
    first = [ds[i] for i in range(len(ds))]
    assert first == [ds[i] for i in range(len(ds))]  # a pure function of (seed, epoch, index)


def test_mixed_context_is_half_queries(tmp_path):
    rows = [{"id": f"D{d}-{k}", "doc_id": f"D{d}", "text": f"text {d} {k}"} for d in range(50) for k in range(2)]
    passages = load_passages(write_passages(tmp_path / "p.jsonl", rows))
    pools = [[f"query {i}"] for i in range(len(passages))]
    ds = PretrainDataset(passages, context="mixed", queries=pools, seed=0)
    kinds = [ds[i]["context_kind"] for i in range(len(ds))]
    assert set(kinds) == {"query", "span"}
    assert kinds.count("query") / len(kinds) == pytest.approx(0.5, abs=0.12)
    all_query = PretrainDataset(passages, context="mixed", queries=pools, mixed_query_probability=1.0)
    assert {all_query[i]["context_kind"] for i in range(len(all_query))} == {"query"}


def test_bad_inputs_are_located(tmp_path):
    bad = write_passages(tmp_path / "p.jsonl", [{"id": "x", "doc_id": "d", "text": "a"},
                                                 {"id": "x", "doc_id": "d", "text": "b"}])
    with pytest.raises(InputError, match="line 2.*duplicate"):
        load_passages(bad)
    missing = write_passages(tmp_path / "m.jsonl", [{"id": "x", "text": "a"}])
    with pytest.raises(InputError, match="line 1.*doc_id"):
        load_passages(missing)
    good = load_passages(write_passages(tmp_path / "g.jsonl", [{"id": "x", "doc_id": "d", "text": "a"}]))
    queries = tmp_path / "q.tsv"
    queries.write_text("x\tfine\nnope\tquery\n")
    with pytest.raises(InputError, match="line 2.*passage_id.*'nope'"):
        load_queries(queries, good)


def test_use_title(tmp_path):
    path = write_passages(tmp_path / "p.jsonl", [{"id": "x", "doc_id": "d", "title": "T", "text": "body"}])
    assert load_passages(path, use_title=True).texts == ["T body"]
    assert load_passages(path).texts == ["body"]


def test_params_defaults_per_schema_and_unknown_keys():
    assert PretrainParams(schema="contrastive").learning_rate == 1e-4
    assert PretrainParams(schema="contrastive").mlm_probability == 0.15
    cot = PretrainParams(schema="cotmae")
    assert (cot.learning_rate, cot.mlm_probability, cot.context_mlm_probability, cot.decoder_layers) == (4e-4, 0.3, 0.45, 1)
    bottleneck = parse_params('{"schema": "bottleneck", "learning_rate": 1}')
    assert bottleneck.learning_rate == 1.0 and bottleneck.span_source == "self" and bottleneck.window is None
    with pytest.raises(ValueError, match="unknown key 'lr'"):
        parse_params('{"lr": 0.1}')
    with pytest.raises(ValueError, match="params.batch_size"):
        parse_params('{"batch_size": "8"}')
    with pytest.raises(ValueError, match="params.context"):
        parse_params('{"context": "curriculum"}')
    with pytest.raises(ValueError, match="grad_cache_chunk"):
        parse_params('{"schema": "cotmae", "grad_cache_chunk": 4}')
    with pytest.raises(ValueError, match="lr_scheduler"):
        parse_params('{"lr_scheduler": "cosine-ish"}')


def test_scheduler_names_are_transformers_schedulers():
    from transformers import SchedulerType

    from qcpt.pretrain.arguments import SCHEDULERS

    assert set(SCHEDULERS) == {s.value for s in SchedulerType} - {"reduce_lr_on_plateau"}


def test_span_source_crop_is_a_seeded_contiguous_span_of_the_passages_words(tmp_path):
    words = [f"w{k}" for k in range(40)]
    rows = [{"id": "P-0", "doc_id": "P", "title": "", "text": " ".join(words)}]
    passages = load_passages(write_passages(tmp_path / "p.jsonl", rows))
    ds = PretrainDataset(passages, context="span", span_source="crop", span_crop=(0.25, 0.5), seed=5)
    spans = set()
    for epoch in range(30):
        ds.set_epoch(epoch)
        item = ds[0]
        context = item["context"].split()
        assert item["context_kind"] == "crop" and 10 <= len(context) <= 20
        start = words.index(context[0])
        assert words[start:start + len(context)] == context  # contiguous
        assert ds[0] == item  # a pure function of (seed, epoch, index)
        spans.add(item["context"])
    assert len(spans) > 10  # a new span every epoch
    with pytest.raises(ValueError, match="span_crop"):
        PretrainDataset(passages, context="span", span_source="crop", span_crop=(0.6, 0.5))
