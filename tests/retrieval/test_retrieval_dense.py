"""Dense retrieval: the bi-encoder loss, per-epoch negative sampling, fine-tuning, encoding, search."""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(2)

from transformers import AutoModel, BertConfig, BertModel, BertTokenizerFast  # noqa: E402

from qcpt.retrieval import encode as encode_mod  # noqa: E402
from qcpt.retrieval import search as search_mod  # noqa: E402
from qcpt.retrieval import shard_index  # noqa: E402
from qcpt.retrieval.finetune import driver as ft  # noqa: E402
from qcpt.retrieval.finetune.collator import BiEncoderCollator  # noqa: E402
from qcpt.retrieval.finetune.dataset import TrainDataset  # noqa: E402
from qcpt.retrieval.finetune.modeling import BiEncoder, query_passage_loss  # noqa: E402
from qcpt.retrieval.params import FinetuneParams, parse_params  # noqa: E402
from qcpt.retrieval.runs import read_run  # noqa: E402
from qcpt.retrieval.train_data import TrainGroup, read_train_groups  # noqa: E402
from qcpt.retrieval.vectors import POOLING_FILE, encode_texts, resolve_settings  # noqa: E402
from qcpt.training.trainer import EpochCallback  # noqa: E402

WORDS = ("the a of and is in to planet jupiter mars bread sourdough bake tomato soil sun water fund index risk "
         "company red gas giant small large solar system home starter garden finance astronomy cooking "
         "what how why which query passage document").split()

DOCS = [
    ("d1", "Cooking", "how to bake sourdough bread at home with a starter"),
    ("d2", "Astronomy", "jupiter is the large planet of the solar system"),
    ("d3", "Garden", "tomato needs sun and water and soil"),
    ("d4", "Finance", "index fund spread risk of company"),
    ("d5", "Planets", "mars is a small red planet and jupiter is a gas giant"),
    ("d6", "", "bread and water"),
    ("d7", "Solar", "the sun is the star of the solar system"),
    ("d8", "", "a passage about a document and a query " * 12),
]


def tiny_model_dir(tmp_path: Path) -> Path:
    """A 2-layer random BERT with a word-level vocabulary, saved like any model folder (offline)."""
    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    BertModel(config).save_pretrained(folder)
    return folder


def write_collection(tmp_path: Path) -> Path:
    path = tmp_path / "collection.jsonl"
    path.write_text("".join(json.dumps({"docid": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS))
    return path


# --------------------------------------------------------------------------- loss


def test_query_passage_loss_equals_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0], [0.5, 0.5]])  # 2 passages per query
    expected = 0.0
    for i in range(2):
        scores = [float(q[i] @ p[j]) / 0.5 for j in range(4)]
        expected += -(scores[2 * i] - math.log(sum(math.exp(s) for s in scores)))
    expected /= 2
    assert float(query_passage_loss(q, p, temperature=0.5)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="whole number"):
        query_passage_loss(q, p[:3])


def test_biencoder_forward_returns_loss_and_components(tmp_path: Path):
    folder = tiny_model_dir(tmp_path)
    model = BiEncoder(AutoModel.from_pretrained(folder), pooling="mean", normalize=True, temperature=0.05)
    tok = BertTokenizerFast.from_pretrained(folder)
    batch = BiEncoderCollator(tok, 8, 16)([{"query": "jupiter", "passages": ["jupiter planet", "bread"]},
                                              {"query": "bread", "passages": ["sourdough bread", "mars"]}])
    out = model(**batch)
    assert set(out) == {"loss", "components"} and set(out["components"]) == {"contrastive"}
    out["loss"].backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad is not None
    q = model.encode(batch["query_input_ids"], batch["query_attention_mask"])
    p = model.encode(batch["passage_input_ids"], batch["passage_attention_mask"])
    assert torch.allclose(q.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert float(out["loss"].detach()) == pytest.approx(float(query_passage_loss(q, p, 0.05).detach()), rel=1e-5)


# --------------------------------------------------------------------------- sampling


def _dataset(n_negatives: int, n_passages: int = 4) -> TrainDataset:
    groups = [TrainGroup("q0", "query zero", ("p0", "p1"), tuple(f"n{i}" for i in range(n_negatives))),
              TrainGroup("q1", "query one", ("p2",), ("m0", "m1", "m2", "m3", "m4", "m5", "m6"))]
    texts = {d: f"text of {d}" for g in groups for d in (*g.positives, *g.negatives)}
    return TrainDataset(groups, texts, n_passages=n_passages, seed=42)


def test_negatives_rotate_per_epoch_and_never_include_a_positive():
    ds = _dataset(n_negatives=9)
    per_epoch = [ds.sample_ids(0, epoch=e) for e in range(3)]
    negs = [set(n) for _, n in per_epoch]
    assert all(len(n) == 3 for n in negs)
    assert negs[0] != negs[1] and negs[1] != negs[2]
    assert negs[0].isdisjoint(negs[1]) and negs[1].isdisjoint(negs[2])  # 9 ≥ 2 × 3: no repeats yet
    assert {p for p, _ in per_epoch} == {"p0", "p1"}  # positives rotate too
    for e in range(6):
        pos, n = ds.sample_ids(0, epoch=e)
        assert pos in ("p0", "p1") and not {"p0", "p1"} & set(n)
    # Deterministic: same (seed, epoch, index) → same draw, also through set_epoch/__getitem__.
    ds.set_epoch(1)
    assert ds.sample_ids(0) == per_epoch[1]
    assert ds[0]["passages"] == [f"text of {d}" for d in (per_epoch[1][0], *per_epoch[1][1])]
    other_seed = TrainDataset(ds.groups, ds.texts, n_passages=4, seed=7)
    assert [other_seed.sample_ids(1, e) for e in range(3)] != [ds.sample_ids(1, e) for e in range(3)]


def test_epoch_callback_sets_the_epoch_also_when_resuming_mid_epoch():
    from types import SimpleNamespace

    ds = _dataset(n_negatives=9)
    callback = EpochCallback(ds)
    for state_epoch, expected in ((None, 0), (0.0, 0), (1.0, 1), (1.5, 1), (2.999, 2)):
        callback.on_epoch_begin(None, SimpleNamespace(epoch=state_epoch), None)
        assert ds.epoch == expected


def test_few_negatives_are_sampled_with_replacement():
    ds = _dataset(n_negatives=2, n_passages=6)
    pos, negs = ds.sample_ids(0, epoch=0)
    assert len(negs) == 5 and set(negs) == {"n0", "n1"}  # all of them, then drawn again
    assert ds.sample_ids(0, epoch=0) == (pos, negs)


def test_dataset_refuses_a_negative_that_is_a_positive(tmp_path: Path):
    with pytest.raises(ValueError, match="both positive and negative"):
        TrainDataset([TrainGroup("q", "x", ("a",), ("a", "b"))], {"a": "", "b": ""}, 2)
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"query_id": "q", "query": "x", "positive_document_ids": ["a"],
                                 "negative_document_ids": ["a", "b", "b"]}) + "\n")
    groups, stats = read_train_groups(train)
    assert groups[0].negatives == ("b",) and stats["negatives_equal_to_a_positive"] == 1


# --------------------------------------------------------------------------- fine-tuning


def _train_file(tmp_path: Path) -> Path:
    rows = [("q1", "jupiter planet", ["d2"]), ("q2", "sourdough bread", ["d1"]), ("q3", "tomato soil", ["d3"]),
            ("q4", "index fund risk", ["d4"]), ("q5", "red planet mars", ["d5"]), ("q6", "solar system sun", ["d7"])]
    path = tmp_path / "train.jsonl"
    all_ids = [d for d, _, _ in DOCS]
    path.write_text("".join(json.dumps({"query_id": q, "query": text, "positive_document_ids": pos,
                                        "negative_document_ids": [d for d in all_ids if d not in pos]}) + "\n"
                            for q, text, pos in rows))
    return path


def test_finetune_saves_a_loadable_encoder_and_redraws_negatives_each_epoch(tmp_path: Path, monkeypatch):
    init = tiny_model_dir(tmp_path)
    collection = write_collection(tmp_path)
    train = _train_file(tmp_path)
    out, ckpt, log_path = tmp_path / "out", tmp_path / "ckpt", tmp_path / "log.json"
    drawn: list[tuple[int, int, tuple]] = []  # (epoch, query index, negatives) of every example trained on
    original = TrainDataset.__getitem__

    def spy(self, index):
        drawn.append((self.epoch, index, tuple(self.sample_ids(index)[1])))
        return original(self, index)

    monkeypatch.setattr(TrainDataset, "__getitem__", spy)
    params = {"max_steps": 3, "per_device_batch_size": 2, "train_n_passages": 3, "p_max_len": 24,
              "learning_rate": 1e-3, "save_steps": 2, "logging_steps": 1, "pooling": "mean", "normalize": True}
    argv = ["--train", str(train), "--collection", str(collection), "--init", str(init), "--out", str(out),
            "--checkpoints", str(ckpt), "--log", str(log_path), "--params", json.dumps(params),
            "--retention", '{"delete_after_final": false}']  # kept, to cut them back to a killed run's
    assert ft.main(argv) == 0
    # 6 queries / batch 2 = 3 steps: one epoch, every query once.
    assert sorted((e, i) for e, i, _ in drawn) == [(0, i) for i in range(6)]
    model = AutoModel.from_pretrained(out)
    assert isinstance(model, BertModel)
    before = AutoModel.from_pretrained(init)
    assert not torch.allclose(model.embeddings.word_embeddings.weight, before.embeddings.word_embeddings.weight)
    assert json.loads((out / POOLING_FILE).read_text()) == {"pooling": "mean", "normalize": True,
                                                            "q_max_len": 32, "p_max_len": 24}
    history = json.loads(log_path.read_text())["history"]
    assert any("loss_contrastive" in h for h in history)
    assert (ckpt / "checkpoint-2").is_dir()

    # A job killed after step 2: the rerun resumes from checkpoint-2 and finishes.
    import shutil

    shutil.rmtree(ckpt / "checkpoint-3")
    shutil.rmtree(out)
    assert ft.main(argv) == 0
    assert json.loads(log_path.read_text())["resumed_from_steps"] == [2]
    assert json.loads((out / ft.OUTPUT_RECORD).read_text())["final_step"] == 3

    # The training data changed under the same checkpoints: the rerun starts afresh, saying why.
    rows = train.read_text().splitlines()
    train.write_text("\n".join(rows[1:] + rows[:1]) + "\n")  # same queries, another order
    shutil.rmtree(ckpt / "checkpoint-3")
    shutil.rmtree(out)
    assert ft.main(argv) == 0
    log = json.loads(log_path.read_text())
    assert log["resumed_from_steps"] == [] and log["checkpoints_discarded"]["checkpoint_steps"] == [2]
    assert [c.split(" ")[0] for c in log["checkpoints_discarded"]["changed"]] == ["inputs.train"]

    # Two epochs: the dataset hears epoch 1 too, and epoch 1 draws other negatives for each query.
    drawn.clear()
    params2 = {**params, "max_steps": 6, "save_steps": 100}
    argv2 = [*argv[:-8], "--out", str(tmp_path / "out2"), "--checkpoints", str(tmp_path / "ckpt2"),
             "--log", str(tmp_path / "log2.json"), "--params", json.dumps(params2)]
    assert ft.main(argv2) == 0
    assert sorted((e, i) for e, i, _ in drawn) == [(e, i) for e in (0, 1) for i in range(6)]
    by_epoch = {(e, i): negs for e, i, negs in drawn}
    assert all(set(by_epoch[0, i]) != set(by_epoch[1, i]) for i in range(6))


def test_finetune_global_batch_is_split_over_the_processes_and_logged(tmp_path: Path):
    """Issue 12 row 1: a global batch of queries; one process takes all of it, never accumulated."""
    init = tiny_model_dir(tmp_path)
    collection = write_collection(tmp_path)
    train = _train_file(tmp_path)
    log_path = tmp_path / "log.json"
    params = {"max_steps": 1, "global_batch_size": 2, "train_n_passages": 3, "p_max_len": 24,
              "save_steps": 10, "logging_steps": 1}
    argv = ["--train", str(train), "--collection", str(collection), "--init", str(init), "--out", str(tmp_path / "o"),
            "--checkpoints", str(tmp_path / "c"), "--log", str(log_path), "--params", json.dumps(params)]
    assert ft.main(argv) == 0
    log = json.loads(log_path.read_text())
    assert (log["global_batch_size"], log["per_device_batch_size"], log["gradient_accumulation_steps"]) == (2, 2, 1)
    too_big = {**params, "max_per_device_batch_size": 1}
    with pytest.raises(ValueError, match=r"finetune\.params\.global_batch_size.*in-batch negatives"):
        ft.main([*argv[:-1], json.dumps(too_big)])


def test_finetune_params_are_validated():
    with pytest.raises(ValueError, match="unknown key 'lr'"):
        parse_params(FinetuneParams, {"lr": 1})
    with pytest.raises(ValueError, match="pooling"):
        parse_params(FinetuneParams, {"pooling": "max"})
    p = FinetuneParams(per_device_batch_size=4, num_train_epochs=3)
    assert ft.total_steps(10, p, world=1) == 6  # 2 full batches per epoch × 3
    with pytest.raises(ValueError, match="cannot fill one step"):
        ft.total_steps(3, p, world=1)


# --------------------------------------------------------------------------- encoding and search


def test_length_sorted_encoding_equals_naive(tmp_path: Path):
    folder = tiny_model_dir(tmp_path)
    model = AutoModel.from_pretrained(folder).eval()
    tok = BertTokenizerFast.from_pretrained(folder)
    texts = [f"{t} {x}" for _, t, x in DOCS] * 3
    for pooling, normalize in (("cls", False), ("mean", True)):
        naive = encode_texts(model, tok, texts, max_len=40, batch_size=4, pooling=pooling, normalize=normalize,
                             length_sorted=False, progress=False)
        fast = encode_texts(model, tok, texts, max_len=40, batch_size=4, pooling=pooling, normalize=normalize,
                            length_sorted=True, progress=False)
        assert naive.shape == (len(texts), 32) and naive.dtype == np.float32
        np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=1e-4)
    # A single text encoded alone (no padding at all) matches too: padding is masked out.
    alone = encode_texts(model, tok, texts[:1], max_len=40, pooling="mean", progress=False)
    np.testing.assert_allclose(alone[0], encode_texts(model, tok, texts, max_len=40, batch_size=5, pooling="mean",
                                                      progress=False)[0], atol=1e-5)


def test_amp_encodes_in_bfloat16_on_a_cpu_close_to_float32(tmp_path: Path):
    """``amp`` on a CPU autocasts to bfloat16: float32 vectors that differ from the float32 encoding
    (so the autocast ran) by bfloat16's rounding only."""
    folder = tiny_model_dir(tmp_path)
    model = AutoModel.from_pretrained(folder).eval()
    tok = BertTokenizerFast.from_pretrained(folder)
    texts = [f"{t} {x}" for _, t, x in DOCS]
    exact = encode_texts(model, tok, texts, max_len=40, pooling="mean", normalize=True, progress=False)
    half = encode_texts(model, tok, texts, max_len=40, pooling="mean", normalize=True, amp=True, progress=False)
    assert half.dtype == np.float32 and half.shape == exact.shape
    assert not np.array_equal(half, exact)
    np.testing.assert_allclose(half, exact, atol=3e-2)
    assert ((half * exact).sum(axis=1) > 0.999).all()  # unit vectors: cosine to the float32 one


def test_settings_come_from_the_model_folder_unless_given(tmp_path: Path):
    folder = tiny_model_dir(tmp_path)
    assert resolve_settings(folder) == resolve_settings(folder, pooling="cls", normalize=False, p_max_len=144, q_max_len=32)
    (folder / POOLING_FILE).write_text(json.dumps({"pooling": "mean", "normalize": True, "q_max_len": 20}))
    s = resolve_settings(folder)
    assert (s.pooling, s.normalize, s.q_max_len, s.p_max_len) == ("mean", True, 20, 144)
    assert resolve_settings(folder, pooling="cls", q_max_len=8).pooling == "cls"


def test_encode_shards_and_search_write_a_tie_broken_run(tmp_path: Path):
    folder = tiny_model_dir(tmp_path)
    collection = write_collection(tmp_path)
    shards = []
    for i in range(3):
        shard = tmp_path / f"shard-{i}.npz"
        assert encode_mod.main(["--model", str(folder), "--collection", str(collection), "--shard", str(i),
                                "--num-shards", "3", "--out", str(shard), "--no-progress",
                                "--params", '{"batch_size": 3, "max_len": 32}']) == 0
        shards.append(shard)
    ids = [encode_mod.load_shard(s)[0] for s in shards]
    assert ids == [["d1", "d2"], ["d3", "d4", "d5"], ["d6", "d7", "d8"]]  # contiguous, in file order
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tjupiter planet\nq2\tbread\n")
    run = tmp_path / "run.trec"
    assert search_mod.main(["--model", str(folder), "--shards", *map(str, shards), "--topics", str(topics),
                            "--out", str(run), "--no-progress", "--params", '{"depth": 5, "tag": "tiny"}']) == 0
    results = read_run(run)
    assert [len(v) for v in results.values()] == [5, 5]
    # The run agrees with a brute-force computation over the same vectors.
    model = AutoModel.from_pretrained(folder).eval()
    tok = BertTokenizerFast.from_pretrained(folder)
    passages = np.concatenate([encode_mod.load_shard(s)[1] for s in shards])
    q = encode_texts(model, tok, ["jupiter planet"], max_len=32, progress=False)
    scores = passages @ q[0]
    expected = sorted(range(len(DOCS)), key=lambda i: (-float(np.float32(scores[i])), DOCS[i][0]))[:5]
    assert [e.docid for e in results["q1"]] == [DOCS[i][0] for i in expected]


def test_search_over_a_collection_equals_search_over_its_shards(tmp_path: Path):
    """``--collection`` (encode_shards: 0) encodes in the search job: the same run as encode + search."""
    folder = tiny_model_dir(tmp_path)
    collection = write_collection(tmp_path)
    shard = tmp_path / "shard-0.npz"
    params = '{"depth": 4, "max_len": 32, "tag": "tiny"}'
    assert encode_mod.main(["--model", str(folder), "--collection", str(collection), "--shard", "0", "--num-shards", "1",
                            "--out", str(shard), "--no-progress", "--params", '{"max_len": 32}']) == 0
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tjupiter planet\nq2\tbread\n")
    from_shards, from_collection = tmp_path / "shards.trec", tmp_path / "collection.trec"
    assert search_mod.main(["--model", str(folder), "--shards", str(shard), "--topics", str(topics),
                            "--out", str(from_shards), "--no-progress", "--params", params]) == 0
    assert search_mod.main(["--model", str(folder), "--collection", str(collection), "--topics", str(topics),
                            "--out", str(from_collection), "--no-progress", "--params", params]) == 0
    shard_run, collection_run = read_run(from_shards), read_run(from_collection)
    assert {q: [h.docid for h in hits] for q, hits in shard_run.items()} == \
        {q: [h.docid for h in hits] for q, hits in collection_run.items()}
    with pytest.raises(SystemExit):  # one passage source, not both
        search_mod.main(["--model", str(folder), "--shards", str(shard), "--collection", str(collection),
                         "--topics", str(topics), "--out", str(from_collection)])


def test_search_exact_breaks_ties_at_the_cut_by_docid():
    import faiss

    vectors = np.array([[1.0, 0.0]] * 6 + [[2.0, 0.0]], dtype=np.float32)
    ids = ["f", "e", "d", "c", "b", "a", "top"]
    index = faiss.IndexFlatIP(2)
    index.add(vectors)
    hits = search_mod.search_exact(index, np.array([[1.0, 0.0]], dtype=np.float32), ids, depth=3)
    assert [d for d, _ in hits[0]] == ["top", "a", "b"]


def test_search_rejects_duplicate_docids_across_shards(tmp_path: Path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    encode_mod.save_shard(a, ["x", "y"], np.zeros((2, 4), dtype=np.float32))
    encode_mod.save_shard(b, ["y"], np.zeros((1, 4), dtype=np.float32))
    from qcpt.core.io import InputError

    with pytest.raises(InputError, match="'y' is also in"):
        shard_index.load_shards([a, b])


def test_load_shards_reads_into_one_matrix_what_concatenating_the_shards_gave(tmp_path: Path):
    from qcpt.core.io import InputError

    rng = np.random.default_rng(3)
    vectors = [rng.standard_normal((n, 6)).astype(np.float32) for n in (5, 0, 7, 3, 4)]
    paths = [tmp_path / f"s{i}.npz" for i in range(len(vectors))]
    names = [[f"d{i}-{j}" for j in range(len(v))] for i, v in enumerate(vectors)]
    for path, ids, v in zip(paths[:3], names, vectors, strict=False):
        encode_mod.save_shard(path, ids, v)  # float32: read straight into the matrix
    np.savez(paths[3], ids=np.array(names[3]), embeddings=vectors[3].astype(np.float64))  # converted
    np.savez_compressed(paths[4], ids=np.array(names[4]), embeddings=vectors[4])  # deflated member
    ids, matrix = shard_index.load_shards(paths)
    expected = np.concatenate([np.asarray(v, dtype=np.float32) for v in vectors])
    assert ids == [d for shard in names for d in shard]
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    assert np.array_equal(matrix, expected)
    # the index built shard by shard holds the same vectors in the same rows
    index_ids, index = shard_index.index_shards(paths)
    assert index_ids == ids and index.ntotal == len(ids) and index.d == 6
    assert np.array_equal(index.reconstruct_n(0, index.ntotal), expected)
    other = tmp_path / "wide.npz"
    encode_mod.save_shard(other, ["w"], np.zeros((1, 8), dtype=np.float32))
    for load in (shard_index.load_shards, shard_index.index_shards):
        with pytest.raises(InputError, match="dimension 8 differs from 6"):
            load([paths[0], other])
        with pytest.raises(InputError, match="'d0-0' is also in"):
            load([paths[0], paths[0]])
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not an encoded shard"):
        shard_index.load_shards([paths[0], broken])


def _shard_files(tmp_path: Path, sizes: tuple[int, ...], dim: int, seed: int = 4) -> tuple[list[Path], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    vectors = [rng.standard_normal((n, dim)).astype(np.float32) for n in sizes]
    paths = [tmp_path / f"s{i}.npz" for i in range(len(vectors))]
    for i, (path, v) in enumerate(zip(paths, vectors, strict=True)):
        encode_mod.save_shard(path, [f"d{i}-{j:03d}" for j in range(len(v))], v)
    return paths, vectors


def test_mapped_shards_search_as_one_flat_index_over_them(tmp_path: Path):
    import faiss

    paths, vectors = _shard_files(tmp_path, (40, 0, 25, 1, 37), 8)
    # ties inside and across shards: the same vector in three shards, twice in one
    for i, row in ((0, 3), (0, 9), (2, 0), (4, 36)):
        vectors[i][row] = vectors[0][3]
        encode_mod.save_shard(paths[i], [f"d{i}-{j:03d}" for j in range(len(vectors[i]))], vectors[i])
    ids, mapped = shard_index.index_shards(paths)
    assert isinstance(mapped, shard_index.MappedFlatIP)
    for v in mapped.vectors:  # read where they lie: views of a mapping of the file
        while isinstance(v, np.ndarray):
            v = v.base
        assert isinstance(v, memoryview) and isinstance(v.obj, mmap.mmap)
    flat = faiss.IndexFlatIP(8)
    flat.add(np.concatenate(vectors))
    assert mapped.ntotal == flat.ntotal == len(ids) == 103 and mapped.d == 8
    queries = np.concatenate([np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32), vectors[0][3:4]])
    for k in (1, 5, 50, 103, 120):
        got_scores, got_rows = mapped.search(queries, k)
        want_scores, want_rows = flat.search(queries, k)
        assert np.array_equal(got_scores, want_scores)
        assert np.array_equal(np.sort(got_rows, axis=1), np.sort(want_rows, axis=1)) or k < 103
        untied = [q for q in range(len(queries)) if len(set(want_scores[q].tolist())) == k]
        assert np.array_equal(got_rows[untied], want_rows[untied])
    ranks = search_mod.docid_ranks(ids)
    for depth in (1, 3, 10, 103):  # the tie of 4 at the top straddles depths 1 and 3
        for (got_r, got_s), (want_r, want_s) in zip(search_mod.rank_exact(mapped, queries, ranks, depth),
                                                    search_mod.rank_exact(flat, queries, ranks, depth), strict=True):
            assert np.array_equal(got_r, want_r) and np.array_equal(got_s, want_s)


def test_index_shards_on_gpus_adds_the_mapped_rows_a_block_at_a_time(tmp_path: Path, monkeypatch):
    paths, vectors = _shard_files(tmp_path, (5, 7, 1, 0, 4), 6)
    monkeypatch.setattr(shard_index, "BLOCK_BYTES", 2 * 6 * 4)  # 2 rows a block: shards end mid-block
    monkeypatch.setattr(shard_index, "_gpu_faiss", lambda: True)
    import faiss

    added: list[int] = []

    def recording_index(embeddings, **_):
        index = faiss.IndexFlatIP(embeddings.shape[1])  # a CPU index stands in for the GPUs'
        index.add(embeddings)
        add = index.add

        def add_block(block):
            added.append(len(block))
            add(block)

        index.add = add_block
        return index

    monkeypatch.setattr(shard_index, "build_index", recording_index)
    ids, index = shard_index.index_shards(paths)
    assert not isinstance(index, shard_index.MappedFlatIP)
    assert np.array_equal(index.reconstruct_n(0, index.ntotal), np.concatenate(vectors))
    assert len(ids) == index.ntotal == 17
    assert added == [2, 2, 1, 2, 2, 2, 1, 1, 2, 2]


@pytest.mark.parametrize("gpu", [False, True])
def test_a_shard_ending_before_its_header_rows_is_named(tmp_path: Path, monkeypatch, gpu: bool):
    from qcpt.core.io import InputError

    monkeypatch.setattr(shard_index, "_gpu_faiss", lambda: gpu)
    short = tmp_path / "short.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (3, 6)})
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("ids.npy", _npy(np.array(["x", "y", "z"])))
        archive.writestr("embeddings.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:]
                         + np.ones((2, 6), dtype=np.float32).tobytes())
    with pytest.raises(InputError, match=r"short.npz.*ends after 48 bytes: its header says 3 x 6"):
        shard_index.index_shards([short])


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


# --------------------------------------------------------------------------- cross-device negatives


def _toy_batch():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 3, generator=gen)  # the shared "encoder": every process holds the same copy
    return weight, torch.randn(4, 3, generator=gen), torch.randn(8, 3, generator=gen)  # 2 passages per query


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    from qcpt.retrieval.finetune.modeling import gather_keeping_local_grad
    from qcpt.retrieval.finetune.modeling import query_passage_loss as loss_fn

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    weight, xq, xp = _toy_batch()
    weight.requires_grad_(True)
    q = xq[2 * rank: 2 * rank + 2] @ weight  # this process's share of the batch
    p = xp[4 * rank: 4 * rank + 4] @ weight
    loss = loss_fn(gather_keeping_local_grad(q), gather_keeping_local_grad(p)) * world  # as BiEncoder.forward returns it
    loss.backward()
    dist.all_reduce(weight.grad)  # what DDP does: average the parameter gradients over processes
    weight.grad /= world
    torch.save({"loss": float(loss.detach()) / world, "grad": weight.grad}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def test_cross_device_negatives_give_the_single_process_gradient(tmp_path: Path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    weight, xq, xp = _toy_batch()
    weight.requires_grad_(True)
    loss = query_passage_loss(xq @ weight, xp @ weight)  # one process, the whole batch
    loss.backward()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["loss"] == pytest.approx(float(loss.detach()), rel=1e-6)
        torch.testing.assert_close(got["grad"], weight.grad)


def _reference_search(vectors: np.ndarray, queries: np.ndarray, ids: list[str], depth: int):
    """Brute force: every document scored in float32, sorted by (score desc, docid asc)."""
    out = []
    for query in queries:
        scores = (vectors @ query).astype(np.float32)
        hits = sorted(((ids[i], float(s)) for i, s in enumerate(scores)), key=lambda h: (-h[1], h[0]))
        out.append(hits[:depth])
    return out


@pytest.mark.parametrize("depth", [1, 5, 17, 40, 64])
def test_vectorised_search_equals_brute_force_with_ties_straddling_the_cut(depth: int):
    import faiss

    rng = np.random.default_rng(7)
    # Few distinct vectors, each repeated: every score ties with many others, across every cut.
    distinct = rng.integers(-3, 4, size=(6, 8)).astype(np.float32)
    vectors = distinct[rng.integers(0, 6, size=64)]
    ids = [f"d{int(i)}" for i in rng.permutation(1000)[:64]]  # docid order unrelated to row order
    queries = rng.integers(-2, 3, size=(9, 8)).astype(np.float32)
    index = faiss.IndexFlatIP(8)
    index.add(vectors)
    expected = _reference_search(vectors, queries, ids, depth)
    assert search_mod.search_exact(index, queries, ids, depth, batch=4) == expected


def test_ranked_run_is_written_as_write_run_writes_the_same_hits(tmp_path: Path):
    import faiss

    from qcpt.retrieval.runs import write_ranked_run, write_run

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((50, 4)).astype(np.float32)
    vectors[10:20] = vectors[0]  # a tie group
    ids = [f"p{i:02d}" for i in range(50)][::-1]
    queries = rng.standard_normal((5, 4)).astype(np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(vectors)
    qids = [f"q{i}" for i in range(5)]
    ranked = search_mod.rank_exact(index, queries, search_mod.docid_ranks(ids), 15)
    write_ranked_run(tmp_path / "a.trec", qids, ids, ranked, "dense")
    hits = search_mod.search_exact(index, queries, ids, 15)
    write_run(tmp_path / "b.trec", dict(zip(qids, hits, strict=True)), "dense")
    assert (tmp_path / "a.trec").read_text() == (tmp_path / "b.trec").read_text()
