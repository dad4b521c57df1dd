"""generate_queries end to end on tiny random models built offline (hf-causal, hf-seq2seq), the
retry/shortfall loop on a scripted backend, and train_doc2query feeding the hf-seq2seq backend."""

import json
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

from qcpt.core.io import InputError  # noqa: E402
from qcpt.querygen import doc2query, driver, sharding  # noqa: E402
from qcpt.querygen.backends import Sample  # noqa: E402
from qcpt.querygen.spec import GeneratorSpec  # noqa: E402
from qcpt.querygen.tiny_models import build_tiny_llama, build_tiny_t5, build_wordpiece_tokenizer  # noqa: E402

TEXTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, named after Gustave Eiffel.",
    "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen in plants.",
    "Insulin is a hormone made by the pancreas that controls the level of sugar in the blood.",
    "The Amazon river carries more water than any other river and flows into the Atlantic.",
    "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level.",
]
NUMBERING = re.compile(r"^(\d+[.)]|\(\d+\)|[-*•]\s)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    passages = d / "passages.jsonl"
    with open(passages, "w") as f:
        for i, text in enumerate(TEXTS):
            f.write(json.dumps({"id": f"d{i}-0", "doc_id": f"d{i}", "title": f"Title {i}", "text": text, "n_tokens": 20}) + "\n")
    order = d / "order.txt"
    assert sharding.main(["--passages", str(passages), "--out", str(order)]) == 0
    return passages, order


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("m") / "llama", TEXTS * 4)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    return build_tiny_t5(tmp_path_factory.mktemp("m") / "t5", TEXTS * 4)


def run_shard(corpus, tmp_path, generator: dict, shard: int, shard_size: int, tag: str = "s"):
    passages, order = corpus
    out, stats = tmp_path / f"{tag}{shard}.tsv", tmp_path / f"{tag}{shard}.stats.json"
    assert driver.main(["--passages", str(passages), "--order", str(order), "--shard", str(shard),
                        "--shard-size", str(shard_size), "--generator", json.dumps(generator),
                        "--out", str(out), "--stats", str(stats), "--no-progress"]) == 0
    return out, json.loads(stats.read_text())


def check_pool(out: Path, stats: dict, shard_ids: list[str], pool_size: int):
    """The contract of a pool shard: 2 clean columns, grouped by passage in order, ≤ pool_size each."""
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").split("\n")[:-1]]
    assert out.read_text().endswith("\n") or not rows
    seen_order: list[str] = []
    per: dict[str, list[str]] = {}
    for row in rows:
        assert len(row) == 2, row
        pid, query = row
        assert pid in shard_ids
        if not seen_order or seen_order[-1] != pid:
            assert pid not in seen_order, f"{pid} rows are not grouped"
            seen_order.append(pid)
        assert query == query.strip() and query and "\r" not in query
        assert not NUMBERING.match(query), query
        assert len(query.split()) <= 20
        per.setdefault(pid, []).append(query)
    assert seen_order == [p for p in shard_ids if p in per]  # order-file order
    for qs in per.values():
        assert len(qs) <= pool_size
        assert len({q.casefold().rstrip(" .?!,;:") for q in qs}) == len(qs)
    assert stats["passages"] == len(shard_ids)
    assert stats["queries"] == len(rows)
    short = {pid: got for pid, got in stats["shortfall_passages"]}
    assert stats["shortfall"] == len(short)
    for pid in shard_ids:
        got = len(per.get(pid, []))
        assert (got < pool_size) == (pid in short)
        if pid in short:
            assert short[pid] == got
    for key in ("passages_per_second", "generated_tokens_per_second", "seconds", "backend", "model", "seed"):
        assert key in stats
    return per


def test_hf_causal_tiny_llama(corpus, tiny_llama, tmp_path):
    order = sharding.read_order(corpus[1])
    # A random model never writes a newline or EOS, so a list prompt would yield nothing (its only
    # line is cut by the length cap); the one-query-per-sequence tk-instruct prompt keeps its output.
    gen = {"name": "tiny", "model": str(tiny_llama), "prompt": "tk-instruct-fewshot", "backend": "hf-causal",
           "pool_size": 4, "max_new_tokens": 10, "max_attempts": 2, "batch_size": 2, "seed": 3}
    out0, stats0 = run_shard(corpus, tmp_path, gen, 0, 3)
    per0 = check_pool(out0, stats0, order[:3], 4)
    assert per0 and stats0["queries"] > 0
    assert stats0["backend"] == "hf-causal" and stats0["generated_tokens"] > 0 and stats0["sequences"] >= 12
    out1, stats1 = run_shard(corpus, tmp_path, gen, 1, 3)
    check_pool(out1, stats1, order[3:], 4)
    # deterministic given the seed; another seed samples differently
    again, _ = run_shard(corpus, tmp_path, gen, 0, 3, tag="again")
    assert again.read_text() == out0.read_text()
    other, _ = run_shard(corpus, tmp_path, {**gen, "seed": 4}, 0, 3, tag="other")
    assert other.read_text() != out0.read_text()
    # the shard past the end of the order is a clear error
    with pytest.raises(ValueError, match="shard 2 does not exist"):
        run_shard(corpus, tmp_path, gen, 2, 3)


def test_hf_causal_chat_template(corpus, tiny_llama, tmp_path):
    order = sharding.read_order(corpus[1])
    gen = {"name": "chat", "model": str(tiny_llama), "prompt": "chat-zeroshot", "pool_size": 3,
           "max_new_tokens": 16, "max_attempts": 1}
    out, stats = run_shard(corpus, tmp_path, gen, 0, 5)
    check_pool(out, stats, order, 3)
    # list prompt: one sequence (up to ten queries) per passage; cut sequences are counted
    assert stats["attempts_used"] == 1 and stats["sequences"] == 5
    assert stats["truncated_sequences"] <= 5 and stats["generated_tokens"] <= 5 * 16


def test_hf_seq2seq_tiny_t5(corpus, tiny_t5, tmp_path):
    order = sharding.read_order(corpus[1])
    gen = {"name": "t5", "model": str(tiny_t5), "prompt": "doct5query", "pool_size": 5,
           "max_new_tokens": 12, "max_attempts": 2}
    out, stats = run_shard(corpus, tmp_path, gen, 0, 5)
    per = check_pool(out, stats, order, 5)
    assert stats["backend"] == "hf-seq2seq"
    # one query per sequence: the first round asks for pool_size sequences per passage
    assert stats["sequences"] >= 5 * 5
    assert per, "a random T5 still emits some word pieces"


class ScriptedBackend:
    """Returns pre-written generations; records the seeds and n of each call."""

    device = "test"

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.calls = []

        class Tok:
            def __call__(self, text, add_special_tokens=False):
                return {"input_ids": text.split()}

            def decode(self, ids, skip_special_tokens=True):
                return " ".join(ids)

        self.tokenizer = Tok()

    def generate(self, prompts, n, batch_seed, prompt_seeds):
        self.calls.append((len(prompts), n, batch_seed))
        texts = self.rounds.pop(0)
        return [[Sample(text=t, num_tokens=5, truncated=False) for t in texts[:n]] for _ in prompts]


def test_retry_until_pool_is_full_then_record_shortfall():
    spec = GeneratorSpec.from_dict({"name": "x", "model": "m", "prompt": "alpaca-zeroshot", "pool_size": 4,
                                    "queries_per_generation": 2, "max_attempts": 3, "batch_size": 8})
    passages = [driver.Passage("a", "", "alpha text"), driver.Passage("b", "", "beta text")]
    backend = ScriptedBackend([
        ["1. q one\n2. q two", "1. q one\n2. q three"],  # round 1: n=2, 3 distinct per passage
        ["1. q three\n2. q three"],                       # round 2: n=1, nothing new
        ["- q four"],                                      # round 3: n=1, fills the pools
    ])
    pools, counters = driver.generate_pools(spec, backend, passages, shard=0, progress=False)
    assert [c[1] for c in backend.calls] == [2, 1, 1]
    assert len({c[2] for c in backend.calls}) == 3  # a new seed every round
    assert pools["a"].queries == ["q one", "q two", "q three", "q four"]
    assert counters["attempts_used"] == 3 and counters["sequences"] == 8

    backend = ScriptedBackend([["1. q one\n2. q two", "1. q one"], ["q one"], ["q two"]])
    pools, counters = driver.generate_pools(spec, backend, passages, shard=0, progress=False)
    assert len(pools["b"]) == 2 and not pools["b"].full


def test_raw_pool_keeps_every_sample_as_the_qac_code_does():
    """Issue 28, #7: the QAC README's query_gen.py -> generate_multi_process keeps all C raw samples
    (stripped): duplicates, over-long and echoed ones too, one round. distinct_queries false does
    that; the default keeps distinct filtered queries and samples again for the missing ones."""
    long_query = " ".join(["word"] * 25)
    samples = ["what is alpha", " what is alpha ", long_query, "alpha text", "alpha\tq"]
    passages = [driver.Passage("a", "", "alpha text")]
    raw = GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query", "pool_size": 5,
                                   "distinct_queries": False})
    backend = ScriptedBackend([samples])
    pools, counters = driver.generate_pools(raw, backend, passages, shard=0, progress=False)
    assert pools["a"].queries == ["what is alpha", "what is alpha", long_query, "alpha text", "alpha q"]
    assert [c[1] for c in backend.calls] == [5] and counters["attempts_used"] == 1
    distinct = GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query", "pool_size": 5})
    backend = ScriptedBackend([samples, ["q two"] * 5, ["q three"] * 5])
    pools, counters = driver.generate_pools(distinct, backend, passages, shard=0, progress=False)
    assert pools["a"].queries[0] == "what is alpha" and pools["a"].queries.count("what is alpha") == 1
    assert long_query not in pools["a"].queries and counters["attempts_used"] == 3
    with pytest.raises(ValueError, match="distinct_queries"):
        GeneratorSpec.from_dict({"name": "x", "model": "m", "prompt": "alpaca-zeroshot", "distinct_queries": False})


def test_missing_passages_are_an_input_error(corpus, tmp_path):
    passages, _ = corpus
    with pytest.raises(InputError, match="not in the passages file"):
        driver.load_shard_passages(passages, ["d0-0", "nope-3"])


def test_train_doc2query_then_generate(corpus, tmp_path):
    docs = [f"document {i} about topic {i % 7} and subject {i % 5} with extra words" for i in range(40)]
    collection = tmp_path / "collection.jsonl"
    collection.write_text("".join(json.dumps({"docid": f"D{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(docs)))
    (tmp_path / "topics.tsv").write_text("".join(f"q{i}\twhat is topic {i % 7}\n" for i in range(30)))
    (tmp_path / "qrels.trec").write_text("".join(f"q{i} 0 D{i} 1\n" for i in range(30)) + "q0 0 D39 0\n")
    tok = build_wordpiece_tokenizer(docs + ["what is topic"], vocab_size=200)
    tok.save_pretrained(tmp_path / "tok")
    model = tmp_path / "d2q"
    log = tmp_path / "d2q.log.json"
    params = {"max_steps": 12, "batch_size": 8, "logging_steps": 4, "save_steps": 5}
    assert doc2query.main(["--collection", str(collection), "--topics", str(tmp_path / "topics.tsv"),
                           "--qrels", str(tmp_path / "qrels.trec"), "--tokenizer", str(tmp_path / "tok"),
                           "--out", str(model), "--log", str(log), "--params", json.dumps(params)]) == 0
    history = json.loads(log.read_text())
    assert history["max_steps"] == 12 and history["pairs"] == 30
    losses = [h["loss_lm"] for h in history["history"] if "loss_lm" in h]
    assert losses and losses[-1] < losses[0]
    assert (model / "config.json").is_file() and (model / "tokenizer_config.json").is_file()
    assert not (tmp_path / "d2q.checkpoints").exists()
    config = json.loads((model / "config.json").read_text())
    assert config["d_model"] == 128 and config["num_layers"] == 2 and config["num_heads"] == 4

    order = sharding.read_order(corpus[1])
    out, stats = run_shard(corpus, tmp_path, {"name": "d2q", "model": str(model), "prompt": "doct5query",
                                              "pool_size": 3, "max_attempts": 1}, 0, 5)
    check_pool(out, stats, order, 3)
    with pytest.raises(ValueError, match="'lr'"):
        doc2query.main(["--collection", str(collection), "--topics", "t", "--qrels", "q", "--tokenizer", "k",
                        "--out", str(model), "--log", str(log), "--params", '{"lr": 1}'])
