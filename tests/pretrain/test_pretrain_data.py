"""Passages, query pools, context sampling and params validation."""

from __future__ import annotations

import json

import pytest

from qcpt.core.io import InputError
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

    from qcpt.training.params import LR_SCHEDULERS as SCHEDULERS

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


# --- the memory-mapped store against the list-based behaviour it replaced -------------------------

def _reference_examples(rows, query_lines, *, context, span_source, use_title, seed, epoch, mixed_p=0.5,
                        span_crop=(0.1, 0.5)):
    """The examples the former list-based loader and dataset produced, recomputed from plain Python lists."""
    import numpy as np

    from qcpt.pretrain.data import example_seed

    ids, doc_ids, texts, by_doc = [], [], [], {}
    for row in rows:
        text = row["text"]
        title = (row.get("title") or "").strip()
        if use_title and title:
            text = f"{title} {text}"
        by_doc.setdefault(row["doc_id"], []).append(len(ids))
        ids.append(row["id"])
        doc_ids.append(row["doc_id"])
        texts.append(text)
    index = {pid: i for i, pid in enumerate(ids)}
    pools = [[] for _ in ids]
    for pid, query in query_lines:
        if query.strip():
            pools[index[pid]].append(query.strip())

    def span(p, rng):
        if span_source == "self":
            return texts[p], "self"
        if span_source == "crop":
            words = texts[p].split()
            if len(words) < 2:
                return texts[p], "crop"
            shortest = max(1, int(np.ceil(span_crop[0] * len(words))))
            longest = max(shortest, int(span_crop[1] * len(words)))
            length = int(rng.integers(shortest, longest + 1))
            start = int(rng.integers(len(words) - length + 1))
            return " ".join(words[start:start + length]), "crop"
        members = by_doc[doc_ids[p]]
        if len(members) == 1:
            return texts[p], "span"
        pick = int(rng.integers(len(members) - 1))
        return texts[[m for m in members if m != p][pick]], "span"

    def query(p, rng):
        return pools[p][int(rng.integers(len(pools[p])))], "query"

    chosen = list(range(len(ids))) if context == "span" else [i for i, pool in enumerate(pools) if pool]
    out = []
    for index_, p in enumerate(chosen):
        s = example_seed(seed, epoch, index_)
        rng = np.random.default_rng([s, 0])
        if context == "span":
            text, kind = span(p, rng)
        elif context == "query":
            text, kind = query(p, rng)
        elif rng.random() < mixed_p:
            text, kind = query(p, rng)
        else:
            text, kind = span(p, rng)
        out.append({"passage": texts[p], "context": text, "context_kind": kind, "seed": s})
    return out


@pytest.fixture
def synthetic(tmp_path):
    import random

    rng = random.Random(7)
    vocab = [f"wörd{k}" for k in range(300)] + ["é", "日本", "x"]
    rows = []
    for d in range(60):
        for k in range(rng.randint(1, 6)):
            rows.append({"id": f"{rng.randint(0, 10**6)}-{d}-{k}", "doc_id": f"doc{d % 53}",
                         "title": rng.choice(["", "Title  ", f"T{d}"]),
                         "text": " ".join(rng.choices(vocab, k=rng.randint(1, 40)))})
    rng.shuffle(rows)  # documents interleaved: by_doc order must follow the file
    query_lines = [(r["id"], rng.choice([" ", f"query {r['id']} {q}"])) for r in rows
                   for q in range(rng.randint(0, 5))]
    rng.shuffle(query_lines)
    passages_path = write_passages(tmp_path / "p.jsonl", rows)
    queries_path = tmp_path / "q.tsv"
    queries_path.write_text("".join(f"{pid}\t{q}\n" for pid, q in query_lines))
    return rows, query_lines, passages_path, queries_path


@pytest.mark.parametrize(("context", "span_source"), [("span", "other"), ("span", "self"), ("span", "crop"),
                                                      ("query", "other"), ("mixed", "other"), ("mixed", "crop")])
@pytest.mark.parametrize("use_title", [False, True])
def test_store_examples_equal_the_list_based_examples(synthetic, context, span_source, use_title):
    rows, query_lines, passages_path, queries_path = synthetic
    passages = load_passages(passages_path, use_title=use_title)
    pools, stats = load_queries(queries_path, passages)
    assert stats["blank_queries_skipped"] == sum(1 for _, q in query_lines if not q.strip())
    ds = PretrainDataset(passages, context=context, queries=pools, span_source=span_source, seed=11)
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        expected = _reference_examples(rows, query_lines, context=context, span_source=span_source,
                                       use_title=use_title, seed=11, epoch=epoch)
        assert [ds[i] for i in range(len(ds))] == expected
    docs = {r["doc_id"] for r in rows}
    assert ds.stats["documents"] == len(docs)
    assert ds.stats["single_passage_documents"] == sum(
        1 for d in docs if sum(r["doc_id"] == d for r in rows) == 1)


@pytest.mark.parametrize("use_title", [False, True])
def test_a_store_written_in_small_record_batches_reads_the_same(synthetic, monkeypatch, use_title):
    """The build writes a record batch per _CHUNK rows (never all strings at once): with batches of
    3 rows, examples, lookups and pools equal the list-based reference, for a queries file out of
    passage order (read through a permutation) and one in order (read directly)."""
    import json

    import pyarrow as pa

    from qcpt.pretrain import store
    from qcpt.pretrain.store import build as store_build

    monkeypatch.setattr(store_build, "_CHUNK", 3)
    rows, query_lines, passages_path, queries_path = synthetic
    passages = load_passages(passages_path, use_title=use_title)
    folder = store.store_dir(passages_path)
    stem = "passages-title" if use_title else "passages"
    with pa.OSFile(str(folder / f"{stem}.arrow")) as source:
        assert pa.ipc.open_file(source).num_record_batches == -(-len(rows) // 3)
    build = json.loads((folder / f"{stem}.json").read_text())["build"]
    assert build["rows"] == len(rows) and build["in_process"] and build["seconds"] >= 0 and build["peak_rss_mib"] > 0
    assert passages.ids == [r["id"] for r in rows]
    assert all(passages.row_of(r["id"]) == i for i, r in enumerate(rows))
    pools, _ = load_queries(queries_path, passages)
    assert pools.order is not None  # the fixture's queries are shuffled
    ds = PretrainDataset(passages, context="mixed", queries=pools, seed=5)
    ds.set_epoch(1)
    assert [ds[i] for i in range(len(ds))] == _reference_examples(
        rows, query_lines, context="mixed", span_source="other", use_title=use_title, seed=5, epoch=1)
    index = {r["id"]: i for i, r in enumerate(rows)}
    ordered = queries_path.with_name("ordered.tsv")
    ordered.write_text("".join(f"{pid}\t{q}\n" for pid, q in sorted(query_lines, key=lambda x: index[x[0]])))
    in_order, stats = load_queries(ordered, passages)
    assert in_order.order is None
    assert [in_order[i] for i in range(len(rows))] == [pools[i] for i in range(len(rows))]
    meta = json.loads((store.store_dir(ordered) / "queries.json").read_text())
    assert meta["build"]["rows"] == stats["query_rows"]


def test_store_lookup_and_pools(synthetic):
    rows, query_lines, passages_path, queries_path = synthetic
    passages = load_passages(passages_path)
    assert passages.ids == [r["id"] for r in rows]
    assert all(passages.row_of(r["id"]) == i for i, r in enumerate(rows))
    assert passages.row_of("absent") is None
    pools, _ = load_queries(queries_path, passages)
    for i, r in enumerate(rows):
        assert pools[i] == [q.strip() for pid, q in query_lines if pid == r["id"] and q.strip()]


def test_a_store_built_in_a_separate_process_is_the_same_and_its_errors_are_located(synthetic, tmp_path,
                                                                                    monkeypatch, caplog):
    """Large inputs are converted in a spawned process (the build's memory leaves with it): same
    passages and pools as an in-process build, and an input error still names file, line, field."""
    import logging


    caplog.set_level(logging.INFO, logger="qcpt.pretrain.store")
    rows, query_lines, passages_path, queries_path = synthetic
    in_process = load_passages(passages_path)
    in_pools, in_stats = load_queries(queries_path, in_process)
    expected = ([in_process.text(i) for i in range(len(in_process))], [in_pools[i] for i in range(len(in_pools))])
    monkeypatch.setenv("QCPT_STORE_BUILD_IN_PROCESS_BYTES", "0")
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    passages_copy, queries_copy = copy_dir / "p.jsonl", copy_dir / "q.tsv"
    passages_copy.write_bytes(passages_path.read_bytes())
    queries_copy.write_bytes(queries_path.read_bytes())
    passages = load_passages(passages_copy)
    pools, stats = load_queries(queries_copy, passages)
    spawned = [r.getMessage().split(": ")[0] for r in caplog.records if "separate process" in r.getMessage()]
    assert spawned == [str(passages_copy), str(queries_copy)]
    assert ([passages.text(i) for i in range(len(passages))], [pools[i] for i in range(len(pools))]) == expected
    assert stats == in_stats
    bad = copy_dir / "bad.tsv"
    bad.write_text(f"{rows[0]['id']}\tfine\nnot-a-passage\tq\n")
    with pytest.raises(InputError) as err:
        load_queries(bad, passages)
    assert (err.value.path, err.value.line, err.value.field) == (str(bad), 2, "passage_id")


def test_store_is_rebuilt_when_the_source_changes(tmp_path):
    path = write_passages(tmp_path / "p.jsonl", [{"id": "x", "doc_id": "d", "text": "old"}])
    assert load_passages(path).texts == ["old"]
    assert load_passages(path).texts == ["old"]  # served from the cache
    write_passages(path, [{"id": "x", "doc_id": "d", "text": "new text"}])
    assert load_passages(path).texts == ["new text"]
    queries = tmp_path / "q.tsv"
    queries.write_text("x\tq1\n")
    assert load_queries(queries, load_passages(path))[0][0] == ["q1"]
    queries.write_text("x\tq2\nx\tq3\n")
    assert load_queries(queries, load_passages(path))[0][0] == ["q2", "q3"]
    write_passages(path, [{"id": "y", "doc_id": "d", "text": "a"}, {"id": "x", "doc_id": "d", "text": "b"}])
    assert load_queries(queries, load_passages(path))[0][1] == ["q2", "q3"]  # passages changed: realigned


def _open_in_child(path, out):
    pools_path, passages_path = path
    passages = load_passages(passages_path)
    pools, _ = load_queries(pools_path, passages)
    out.put([pools[i] for i in range(len(pools))])


def test_processes_starting_together_read_the_same_store(synthetic):
    import multiprocessing

    _, _, passages_path, queries_path = synthetic
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    children = [ctx.Process(target=_open_in_child, args=((queries_path, passages_path), out)) for _ in range(3)]
    for child in children:
        child.start()
    results = [out.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    expected = load_queries(queries_path, load_passages(passages_path))[0]
    assert all(r == [expected[i] for i in range(len(expected))] for r in results)


def test_store_pickles_as_its_location(synthetic):
    import pickle

    _, _, passages_path, queries_path = synthetic
    passages = load_passages(passages_path)
    pools, _ = load_queries(queries_path, passages)
    blob = pickle.dumps((passages, pools))
    assert len(blob) < 2000  # the location, not the columns
    passages2, pools2 = pickle.loads(blob)
    assert passages2.texts == passages.texts
    assert [pools2[i] for i in range(len(pools2))] == [pools[i] for i in range(len(pools))]


def test_store_falls_back_to_a_cache_folder_when_the_input_folder_is_read_only(tmp_path, monkeypatch):
    from qcpt.pretrain import store

    path = write_passages(tmp_path / "p.jsonl", [{"id": "x", "doc_id": "d", "text": "a"}])
    # As if the input folder were read-only (tests may run as root, for whom chmod does not bite).
    monkeypatch.setattr(store.layout.os, "access", lambda *_: False)
    monkeypatch.setenv("QCPT_STORE_CACHE", str(tmp_path / "cache"))
    assert store.store_dir(path).parent == tmp_path / "cache"
    assert load_passages(path).texts == ["a"]
    assert list((tmp_path / "cache").glob("p.jsonl-*.qcpt-store/passages.arrow"))


def test_store_trims_its_mappings_without_changing_what_is_read(synthetic, monkeypatch):
    from qcpt.pretrain import store
    from qcpt.pretrain.store import budget as store_budget

    rows, query_lines, passages_path, queries_path = synthetic
    monkeypatch.setattr(store_budget, "_CHECK_EVERY", 1)
    monkeypatch.setenv("QCPT_STORE_RSS_BUDGET_MB", "0.000001")  # any growth of resident pages trims
    trims_before = store.resident_budget().trims
    passages = load_passages(passages_path)
    pools, _ = load_queries(queries_path, passages)
    ds = PretrainDataset(passages, context="mixed", queries=pools, seed=5)
    expected = _reference_examples(rows, query_lines, context="mixed", span_source="other", use_title=False,
                                   seed=5, epoch=0)
    assert [ds[i] for i in range(len(ds))] == expected
    assert store.resident_budget().trims > trims_before
    monkeypatch.setenv("QCPT_STORE_RSS_BUDGET_MB", "lots")
    with pytest.raises(ValueError, match="QCPT_STORE_RSS_BUDGET_MB='lots'"):
        load_passages(passages_path)


class _StopBeforeTraining(Exception):
    pass


@pytest.mark.parametrize(("context", "span_source", "use_title"), [("span", "other", False), ("span", "crop", True),
                                                                   ("query", None, False), ("mixed", "other", True)])
def test_the_driver_trains_on_the_store_with_the_list_based_examples(synthetic, tmp_path, monkeypatch,
                                                                     context, span_source, use_title):
    """What the driver hands the Trainer is the store-backed dataset, with the former examples."""
    from qcpt.pretrain import driver, store
    from qcpt.pretrain.tiny import build_tiny_encoder
    from qcpt.training import trainer as training

    rows, query_lines, passages_path, queries_path = synthetic
    handed: dict[str, PretrainDataset] = {}

    def capture(model, args, dataset, *rest, **kwargs):
        handed["dataset"] = dataset
        raise _StopBeforeTraining

    monkeypatch.setattr(training, "build_trainer", capture)
    params = {"schema": "contrastive", "context": context, "batch_size": 4, "max_steps": 1, "seed": 13,
              "use_title": use_title, "mixed_query_probability": 0.3, "span_crop_min": 0.2, "span_crop_max": 0.6}
    if span_source:
        params["span_source"] = span_source
    argv = ["--passages", str(passages_path), "--queries", str(queries_path),
            "--init", str(build_tiny_encoder(tmp_path / "init")), "--out", str(tmp_path / "model"),
            "--checkpoints", str(tmp_path / "checkpoints"), "--log", str(tmp_path / "log.json"),
            "--params", json.dumps(params)]
    with pytest.raises(_StopBeforeTraining):
        driver.main(argv)
    ds = handed["dataset"]
    assert isinstance(ds.passages, store.Passages)
    assert ds.passages.folder == store.store_dir(passages_path) == passages_path.parent / "p.jsonl.qcpt-store"
    if context != "span":
        assert isinstance(ds.queries, store.QueryPools)
    for epoch in (0, 2):
        ds.set_epoch(epoch)
        expected = _reference_examples(rows, query_lines, context=context, span_source=span_source or "other",
                                       use_title=use_title, seed=13, epoch=epoch, mixed_p=0.3, span_crop=(0.2, 0.6))
        assert [ds[i] for i in range(len(ds))] == expected
