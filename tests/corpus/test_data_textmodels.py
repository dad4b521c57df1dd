"""Punkt (trained and NLTK English) and the embedded encoder built from documents."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from nltk.tokenize.punkt import PunktParameters  # noqa: E402

from qcpt.core.io import InputError  # noqa: E402
from qcpt.core.params import parse_params  # noqa: E402
from qcpt.corpus.params import EncoderParams, PunktParams  # noqa: E402
from qcpt.corpus.textmodels import build_encoder, load_punkt, train_punkt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = ROOT / "qcpt" / "data" / "demo" / "documents.jsonl"


def test_english_punkt_splits_abbreviations_sensibly(tmp_path):
    out = tmp_path / "punkt.pickle"
    train_punkt(DEMO_DOCS, out, PunktParams(source="english"))
    tokenizer = load_punkt(out)
    text = "Dr. Smith went to Washington. He arrived at 5 p.m. on Monday."
    assert tokenizer.tokenize(text) == ["Dr. Smith went to Washington.", "He arrived at 5 p.m. on Monday."]
    assert tokenizer.tokenize("The U.S. Senate met. It adjourned.") == ["The U.S. Senate met.", "It adjourned."]
    with open(out, "rb") as handle:
        params = pickle.load(handle)
    assert isinstance(params, PunktParameters) and "mr" in params.abbrev_types


def test_trained_punkt_learns_the_corpus_abbreviations(tmp_path):
    out = tmp_path / "punkt.pickle"
    params = train_punkt(DEMO_DOCS, out, PunktParams(source="train"))
    assert {"dr", "e.g", "u.s"} <= params.abbrev_types
    sentences = load_punkt(out).tokenize("Prof. Lars Novak met Dr. Mei Osei in Zürich. They spoke, e.g. about comets.")
    assert sentences == ["Prof. Lars Novak met Dr. Mei Osei in Zürich.", "They spoke, e.g. about comets."]


def test_punkt_params_are_validated(tmp_path):
    with pytest.raises(ValueError, match="source"):
        parse_params(PunktParams, '{"source": "german"}')
    with pytest.raises(ValueError, match="langauge"):
        parse_params(PunktParams, '{"langauge": "english"}')
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps({"not": "punkt"}))
    with pytest.raises(InputError):
        load_punkt(bad)


def test_build_encoder_loads_with_auto_classes(tmp_path):
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    torch.set_num_threads(2)
    params = EncoderParams(vocab_size=600, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    out = tmp_path / "encoder"
    build_encoder(DEMO_DOCS, out, params)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left behind"

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.is_fast
    assert 100 < len(tokenizer) <= 600
    for token in ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]:
        assert token in tokenizer.get_vocab()
    encoded = tokenizer("The Comet Ferreira, e.g. in Zürich.")
    ids = encoded["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.tokenize("COMET") == tokenizer.tokenize("comet")  # lower-cased

    model = AutoModel.from_pretrained(out)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer)
    with torch.no_grad():
        hidden = model(**tokenizer(["a comet", "a volcano"], return_tensors="pt", padding=True)).last_hidden_state
    assert hidden.shape[0] == 2 and hidden.shape[-1] == 32
    assert AutoModelForMaskedLM.from_pretrained(out).config.model_type == "bert"
    assert json.loads((out / "build_encoder.json").read_text())["params"]["vocab_size"] == 600


def test_build_encoder_is_deterministic(tmp_path):
    params = EncoderParams(vocab_size=300, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    build_encoder(DEMO_DOCS, tmp_path / "a", params)
    build_encoder(DEMO_DOCS, tmp_path / "b", params)
    for name in ["vocab.txt", "model.safetensors"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_encoder_params_are_validated():
    with pytest.raises(ValueError, match="divisible"):
        EncoderParams(hidden_size=130, num_heads=4)
    with pytest.raises(ValueError, match="hidden_sise"):
        parse_params(EncoderParams, '{"hidden_sise": 64}')


def test_wordpiece_vocab_breaks_ties_by_spelling():
    from qcpt.corpus.textmodels import learn_wordpiece_vocab

    counts = {"cd": 3, "ab": 3, "abe": 2, "x": 1}
    vocab = learn_wordpiece_vocab(counts, vocab_size=100, min_frequency=2)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:11] == ["a", "b", "c", "d", "e", "x"] and vocab[11:17] == ["##a", "##b", "##c", "##d", "##e", "##x"]
    # (a, ##b) occurs 5 times; (c, ##d) 3 times; then (ab, ##e) 2 times. "x" has no pair.
    assert vocab[17:] == ["ab", "cd", "abe"]
    tie = {"cd": 3, "ab": 3}
    assert learn_wordpiece_vocab(tie, 100, 2)[13:] == ["ab", "cd"]  # equal counts: by spelling (a b c d alphabet)
    assert learn_wordpiece_vocab(dict(reversed(tie.items())), 100, 2)[13:] == ["ab", "cd"]
    assert learn_wordpiece_vocab(counts, vocab_size=18, min_frequency=2) == vocab[:18]
    assert learn_wordpiece_vocab(counts, vocab_size=100, min_frequency=3)[17:] == ["ab", "cd"]
