"""Model cards and publish bundles on a tiny grid (the embedded random BERT, one pre-training cell and
its retriever 1): every card's numbers are its metrics files', its YAML is a Hugging Face model
card, a new evaluation re-renders the card without retraining, the bundle loads as a
sentence-transformers model, and `report_to: tensorboard` leaves event files beside the run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import dry_run, snakemake, tiny_config

from qcpt.retrieval.vectors import encode_texts, load_encoder, resolve_settings

PT = "pretrain/demo/contrastive/span"
FT = "finetune/demo/pt/demo/contrastive/span/retriever1"


def publish_config(tmp: Path) -> Path:
    path = tiny_config(tmp)
    cfg = yaml.safe_load(path.read_text())
    cfg["pretrain"]["grid"] = [{"schema": ["contrastive"], "context": ["span"]}]
    cfg["evaluation"] = {
        "zeroshot": {"encoders": ["pt/demo/contrastive/span"], "evalsets": ["demo-test"]},
        "finetuned": {"datasets": ["demo"], "encoders": ["pt/demo/contrastive/span"], "stages": ["retriever1"],
                      "evalsets": ["demo-test"]},
    }
    cfg["report_to"] = "tensorboard"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    pytest.importorskip("tensorboard")
    tmp = tmp_path_factory.mktemp("publish")
    cfg = publish_config(tmp)
    snakemake("--cores", "2", "--configfile", str(cfg), timeout=1200)  # `all`: metrics, summary, report, cards
    snakemake("--cores", "2", f"--configfile={cfg}", str(tmp / "results" / "publish" / FT), timeout=600)
    return tmp, cfg


def card_of(path: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(path)


def test_every_card_parses_and_its_numbers_are_its_metrics_files(published):
    tmp, _ = published
    results = tmp / "results"
    cards = sorted(c for c in results.rglob("README.md") if "publish" not in c.parts)
    assert {str(c.parent.relative_to(results)) for c in cards} == {PT, FT}
    for path in cards:
        _check_card(path, results)
    _check_card(results / "publish" / FT / "README.md", results / "publish" / FT / "results")  # the bundle's copies
    assert "| context | span |" in card_of(results / PT / "README.md").text


def _check_card(path: Path, results: Path) -> None:
    """The card's metadata parses, and each number of it is the metrics file it names (under ``results``)."""
    card = card_of(path)
    data = card.data.to_dict()
    assert data["library_name"] == "sentence-transformers" and data["pipeline_tag"] == "sentence-similarity"
    assert "base_model" not in data  # the embedded random BERT has no Hub name
    named = data["qcpt"]["metrics_files"]
    assert named == {"demo-test": f"eval/demo-test/{data['qcpt']['system']}/metrics.json"}
    results_by_evalset = {}
    for result in card.data.eval_results:
        results_by_evalset.setdefault(result.dataset_name, {})[result.metric_name] = result.metric_value
    assert set(results_by_evalset) == set(named)
    for evalset, file in named.items():
        measures = json.loads((results / file).read_text())["measures"]
        assert results_by_evalset[evalset] == measures  # every number, exactly
        for name, value in measures.items():  # and the table shows each (rounded) beside the file
            assert f"{value:.4f}" in card.text and f"`{file}`" in card.text, name
    assert (path.parent / "loss.png").stat().st_size > 1000 and "![training loss](loss.png)" in card.text
    log = json.loads((results / card.data.to_dict()["qcpt"]["train_log"]).read_text())
    assert f"| steps | {log['max_steps']} |" in card.text
    assert (f"| global batch | {log['global_batch_size']} = {log['per_device_batch_size']} per device × "
            f"{log['world_size']} processes × {log['gradient_accumulation_steps']} accumulation |") in card.text


def test_report_to_tensorboard_reaches_the_workflows_training_jobs(published):
    tmp, _ = published
    for run in (PT, FT):
        assert list((tmp / "results" / run / "tensorboard").rglob("events.out.tfevents.*")), run


def test_the_bundle_is_a_sentence_transformers_model_with_its_records(published, caplog):
    from sentence_transformers import SentenceTransformer

    tmp, _ = published
    results = tmp / "results"
    bundle = results / "publish" / FT
    assert (bundle / "README.md").read_text() == (results / FT / "README.md").read_text()
    for rel in ("loss.png", "modules.json", "1_Pooling/config.json", "config_sentence_transformers.json",
                "qcpt/config.yaml", "qcpt/provenance.json", f"results/{FT}/train_log.json",
                "results/eval/demo-test/demo/pt/demo/contrastive/span/retriever1/metrics.json",
                "results/eval/demo-test/demo/pt/demo/contrastive/span/retriever1/run.trec"):
        assert (bundle / rel).is_file(), rel
    # Only Snakemake's own marker of the bundle folder (the upload command excludes it), none copied from the model.
    assert [p.relative_to(bundle) for p in bundle.rglob(".*")] == [Path(".snakemake_timestamp")]
    provenance = json.loads((bundle / "qcpt/provenance.json").read_text())
    assert any(k.endswith("metrics.json") for k in provenance["inputs"])
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(str(bundle), device="cpu")
    assert not [r for r in caplog.records if "No modules.json" in r.getMessage() or "Creating a new" in r.getMessage()]
    ours, tokenizer, _ = load_encoder(str(results / FT / "model"), torch.device("cpu"))
    settings = resolve_settings(results / FT / "model")
    texts = ["the solar system", "a passage about bread " * 30]
    np.testing.assert_allclose(model.encode(texts), encode_texts(ours, tokenizer, texts, max_len=settings.p_max_len,
                                                                 pooling=settings.pooling, normalize=settings.normalize,
                                                                 progress=False), atol=1e-5, rtol=0)
    assert model.similarity_fn_name == "dot"  # the recipe's unnormalised CLS vectors, scored by inner product


def test_a_new_evaluation_rerenders_the_card_without_retraining(published):
    tmp, cfg = published
    assert dry_run("--configfile", str(cfg)) == {}  # the cards beside the model folders rerun nothing
    changed = yaml.safe_load(cfg.read_text())
    changed["evalsets"]["demo-test2"] = dict(changed["evalsets"]["demo-test"])
    for block in changed["evaluation"].values():
        block["evalsets"].append("demo-test2")
    path = tmp / "more-evals.yaml"
    path.write_text(yaml.safe_dump(changed))
    counts = dry_run("--configfile", str(path))
    assert counts.get("model_card") == 2 and "pretrain" not in counts and "finetune" not in counts, counts
