"""docT5query's recipe on a causal LM (qcpt.querygen.causal_doc2query, used by
tools/make_demo_expansions.py on SmolLM2) and the hf-causal backend's shared-prefill sampling, on a
tiny random Llama built offline."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

from test_querygen_end_to_end import TEXTS as E2E_TEXTS  # noqa: E402

from qcpt.core.io import InputError  # noqa: E402
from qcpt.querygen import causal_doc2query as cd  # noqa: E402
from qcpt.querygen.backends import load_backend  # noqa: E402
from qcpt.querygen.spec import GeneratorSpec  # noqa: E402
from qcpt.querygen.tiny_models import build_tiny_llama  # noqa: E402

TEXTS = E2E_TEXTS[:4]
QUERIES = ["who is the eiffel tower named after", "what does photosynthesis make", "which organ makes insulin"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("m") / "llama", (TEXTS + QUERIES) * 4)


@pytest.fixture
def split(tmp_path: Path):
    passages = tmp_path / "passages.jsonl"
    passages.write_text("".join(json.dumps({"id": f"d{i}-0", "doc_id": f"d{i}", "title": "", "text": t}) + "\n"
                                for i, t in enumerate(TEXTS)))
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"q{i}\t{q}\n" for i, q in enumerate(QUERIES)))
    qrels = tmp_path / "qrels.trec"
    # q2's judgment of relevance 1 stays out at min_relevance 2; d3 is judged for no query.
    qrels.write_text("q0 0 d0 2\nq1 0 d1 2\nq2 0 d2 1\nq2 0 d0 2\n")
    return passages, topics, qrels


def test_training_pairs_join_judged_documents_passages_at_min_relevance(split):
    pairs = cd.passage_training_pairs(*map(str, split), min_relevance=2)
    assert [(p.id, q) for p, q in pairs] == [("d0-0", QUERIES[0]), ("d1-0", QUERIES[1]), ("d0-0", QUERIES[2])]
    assert len(cd.passage_training_pairs(*map(str, split), min_relevance=1)) == 4
    with pytest.raises(InputError, match="relevance >= 3"):
        cd.passage_training_pairs(*map(str, split), min_relevance=3)


def test_loss_covers_exactly_the_query_and_its_end_token(split, tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    pairs = cd.passage_training_pairs(*map(str, split))
    params = cd.CausalDoc2QueryParams()
    features = cd.encode_pairs(pairs, tokenizer, params)
    batch = cd._batch(features, tokenizer.pad_token_id, torch)
    for i, (f, (_, query)) in enumerate(zip(features, pairs, strict=True)):
        target = batch["target"][i]
        predicted = target[target != -100].tolist()  # what position t must predict: token t + 1
        assert tokenizer.decode(predicted[:-1]).strip() == query and predicted[-1] == tokenizer.eos_token_id
        # The prompt the model continues is the doct5query prompt generation renders.
        assert tokenizer.decode(f["ids"][: f["prompt_len"]], skip_special_tokens=True).startswith("text2query: ")


def test_fine_tune_lowers_the_loss_and_the_backend_samples_the_result(split, tiny_llama, tmp_path):
    pairs = cd.passage_training_pairs(*map(str, split))
    params = cd.CausalDoc2QueryParams(epochs=15, batch_size=3, learning_rate=3e-3, train_layers=1, warmup_steps=1)
    meta = cd.fine_tune(str(tiny_llama), pairs, params, str(tmp_path / "d2q"), inputs={"x": "y"})
    assert meta["steps"] == 15 and len(meta["losses"]) == 15
    assert meta["losses"][-1] < 0.8 * meta["losses"][0]
    assert cd.read_meta(tmp_path / "d2q")["inputs"] == {"x": "y"}
    # Only the top block and the final norm learnt: the embeddings and block 0 are the base model's.
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    tuned = AutoModelForCausalLM.from_pretrained(tmp_path / "d2q")
    assert torch.equal(base.model.embed_tokens.weight, tuned.model.embed_tokens.weight)
    assert torch.equal(base.model.layers[0].mlp.up_proj.weight, tuned.model.layers[0].mlp.up_proj.weight)
    assert not torch.equal(base.model.layers[1].mlp.up_proj.weight, tuned.model.layers[1].mlp.up_proj.weight)
    spec = GeneratorSpec.from_dict({"name": "d2q", "backend": "hf-causal", "model": str(tmp_path / "d2q"),
                                    "prompt": "doct5query", "pool_size": 2, "max_new_tokens": 12})
    backend = load_backend(spec)
    samples = backend.generate(["text2query: " + TEXTS[0]], 2, 7, [1])
    assert len(samples) == 1 and len(samples[0]) == 2


def test_train_layers_beyond_the_model_is_a_params_error(split, tiny_llama, tmp_path):
    from qcpt.core.params import ParamsError

    pairs = cd.passage_training_pairs(*map(str, split))
    with pytest.raises(ParamsError, match="train_layers"):
        cd.fine_tune(str(tiny_llama), pairs, cd.CausalDoc2QueryParams(train_layers=3), str(tmp_path / "x"))


def test_shared_prefill_samples_exactly_what_generate_samples(tiny_llama):
    """n samples per prompt from one encoded prefix = generate's own n copies (same draws)."""
    spec = GeneratorSpec.from_dict({"name": "t", "backend": "hf-causal", "model": str(tiny_llama),
                                    "prompt": "doct5query", "pool_size": 3, "max_new_tokens": 10})
    backend = load_backend(spec)
    prompts = ["text2query: " + TEXTS[0], "text2query: " + TEXTS[3][:30]]  # unequal lengths: left padding
    shared = [[s.text for s in group] for group in backend.generate(prompts, 3, 11, [1, 2])]
    # The plain path: generate with num_return_sequences (what the backend does for n = 1 or seq2seq).
    enc = backend.tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(11)
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=True, top_p=spec.top_p, top_k=spec.top_k, temperature=spec.temperature,
                              max_new_tokens=10, num_return_sequences=3, pad_token_id=backend.tokenizer.pad_token_id,
                              eos_token_id=sorted(backend.eos_ids))
    with torch.inference_mode():
        out = backend.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                     generation_config=config)
    rows = out[:, enc["input_ids"].shape[1]:].tolist()
    plain = []
    for row in rows:
        end = next((k for k, tok in enumerate(row) if tok in backend.eos_ids), None)
        plain.append(backend.tokenizer.decode(row if end is None else row[:end], skip_special_tokens=True))
    assert shared == [plain[0:3], plain[3:6]]
