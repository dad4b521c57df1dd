"""Every parameter that reaches a job's --params is validated with the config, before the first job,
by the dataclass the job itself parses it with (issue 11, failure 3: `batch_size: "sixteen"` passed
`snakemake -n` and failed only when that pre-training job started). Errors name the config key path."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, with_embedded_models

from qcpt import config as qconfig

# The demo with its embedded models, whose encoder.embedded and generators.d2q.train blocks reach jobs.
DEMO = with_embedded_models(yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8")))


def error_of(mutate) -> str:
    cfg = copy.deepcopy(DEMO)
    mutate(cfg)
    with pytest.raises(qconfig.ConfigError) as info:
        qconfig.validate(cfg)
    return str(info.value)


def set_key(path: str, value):
    """A mutation setting the dotted config key ``path`` (created where missing)."""
    def mutate(cfg):
        *parents, last = path.split(".")
        node = cfg
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return mutate


# --------------------------------------------------------------------------- one line per kind


def test_a_wrong_type_deep_in_the_config_names_its_key_path():
    message = error_of(set_key("pretrain.schemas.contrastive.batch_size", "sixteen"))
    assert "config key 'pretrain.schemas.contrastive.batch_size': expected an integer, got 'sixteen'" in message


def test_a_value_out_of_range_is_refused_with_the_range():
    message = error_of(set_key("pretrain.schemas.cotmae.mlm_probability", 1.5))
    assert "config key 'pretrain.schemas.cotmae.mlm_probability': must be in (0, 1], got 1.5" in message


def test_an_unknown_key_is_refused_with_the_closest_known_one():
    message = error_of(set_key("pretrain.schemas.contrastive.learning_rte", 1e-4))
    assert "config key 'pretrain.schemas.contrastive.learning_rte': unknown key 'learning_rte'" in message
    assert "did you mean 'learning_rate'?" in message


def test_a_value_outside_the_allowed_ones_lists_them():
    message = error_of(set_key("finetune.params.pooling", "max"))
    assert "config key 'finetune.params.pooling': 'max' is not one of cls, mean" in message


@pytest.mark.parametrize(("key", "value", "expected"), [
    # pre-training schemas (PretrainParams)
    ("pretrain.schemas.bottleneck.lr_scheduler", "cosin", "'cosin' is not one of linear, cosine"),
    ("pretrain.schemas.cotmae.use_title", "yes", "expected true or false, got 'yes'"),
    # fine-tuning (FinetuneParams)
    ("finetune.params.per_device_batch_size", "8", "expected an integer, got '8'"),
    ("finetune.params.warmup_ratio", 1.0, "must be in [0, 1), got 1.0"),
    ("finetune.params.num_train_epoch", 1, "did you mean 'num_train_epochs'?"),
    # a generator's generation settings (GeneratorSpec) and its demo training (Doc2QueryParams)
    ("generators.d2q.top_p", 1.5, "must be in (0, 1], got 1.5"),
    ("generators.d2q.topk", 5, "did you mean 'top_k'?"),
    ("generators.smollm2.batch_size", "16", "expected an integer, got '16'"),
    ("generators.smollm2.dtype", "fp8", "'fp8' is not one of auto, float32, bfloat16, float16"),
    ("generators.d2q.train.max_step", 10, "did you mean 'max_steps'?"),
    ("generators.d2q.train.learning_rate", 0, "must be > 0, got 0"),
    # BM25 (retrieval.bm25.SearchParams) and evaluation (EvaluateParams)
    ("collections.demo.bm25.b", 1.5, "BM25 needs 0 ≤ b ≤ 1, got 1.5"),
    ("evalsets.demo-test.measures", ["MRR@10", "nDGC@10"], "unknown measure 'nDGC@10'"),
    # corpus stages (PunktParams, EncoderParams, PassageParams)
    ("punkt.source", "german", "must be 'train' or 'english', got 'german'"),
    ("encoder.embedded.num_heads", 3, "3 does not divide hidden_size 128"),
    ("encoder.embedded.max_position", 64, "did you mean 'max_position_embeddings'?"),
    ("passages.max_tokenz", 144, "did you mean 'max_tokens'?"),
    # the query files' consistency@k (ConsistencyParams)
    ("querygen.consistency.depth", 0, "must be ≥ 1, got 0"),
    ("querygen.consistency.max_querys", 5, "did you mean 'max_queries'?"),
])
def test_every_params_block_is_parsed_by_its_jobs_dataclass(key, value, expected):
    message = error_of(set_key(key, value))
    assert f"config key '{key}': " in message and expected in message, message


def test_dense_search_and_negatives_parameters_are_checked_too():
    message = error_of(set_key("external_encoders.minilm", {"model": "m", "pooling": "mean", "max_len": 1}))
    assert "config key 'external_encoders.minilm.max_len': must be ≥ 2, got 1" in message


def test_a_value_the_workflow_derives_names_the_key_it_derives_from():
    """A curriculum splits pretrain.schemas.<schema>.max_steps between its two stages."""
    message = error_of(set_key("pretrain.schemas.bottleneck.max_steps", 1))
    assert "config key 'pretrain.schemas.bottleneck.max_steps': the value grid cell bottleneck/curriculum-f0.75-" in message
    assert "must be > 0, got 0" in message
    missing = error_of(lambda cfg: cfg["pretrain"]["schemas"]["bottleneck"].pop("max_steps"))
    assert "config key 'pretrain.schemas.bottleneck.max_steps': needed for curriculum cells" in missing


def test_training_settings_of_a_generator_that_is_not_trained_are_refused():
    message = error_of(set_key("generators.smollm2.train", {"max_steps": 5}))
    assert "config key 'generators.smollm2.train': only the embedded-doc2query model is trained" in message


def test_every_bad_key_is_reported_in_one_run():
    def two_mistakes(cfg):
        set_key("pretrain.schemas.contrastive.batch_size", "sixteen")(cfg)
        set_key("querygen.shard_size", "sixty-four")(cfg)  # a schema error elsewhere
        set_key("finetune.params.pooling", "max")(cfg)
    message = error_of(two_mistakes)
    for key in ("pretrain.schemas.contrastive.batch_size", "querygen.shard_size", "finetune.params.pooling"):
        assert f"config key '{key}'" in message, message


@pytest.mark.parametrize("preset", ["config.yaml", *[f"configs/{p.name}" for p in sorted((ROOT / "configs").glob("*.yaml"))]])
def test_the_shipped_configs_validate(preset):
    qconfig.load(ROOT / preset)


# --------------------------------------------------------------------------- the shared parser


def test_parser_checks_json_types_from_the_dataclass_fields():
    from qcpt.core.params import ParamsError, parse_params
    from qcpt.retrieval.params import FinetuneParams

    with pytest.raises(ParamsError, match=r"params.train_n_passages: expected an integer, got 2.5"):
        parse_params(FinetuneParams, {"train_n_passages": 2.5})
    with pytest.raises(ParamsError, match=r"params.normalize: expected true or false, got 1"):
        parse_params(FinetuneParams, {"normalize": 1})
    with pytest.raises(ParamsError, match=r"params.pooling: expected a string, got None"):
        parse_params(FinetuneParams, {"pooling": None})
    parsed = parse_params(FinetuneParams, {"learning_rate": 1, "max_steps": None, "bf16": None})
    assert parsed.learning_rate == 1.0 and isinstance(parsed.learning_rate, float)


def test_scheduler_names_are_transformers_own():
    """qcpt.training.params reads them from transformers' source (validating a config must not
    import transformers); they must be exactly the SchedulerType values a run can use."""
    from transformers import SchedulerType

    from qcpt.training.params import LR_SCHEDULERS

    assert set(LR_SCHEDULERS) == {s.value for s in SchedulerType} - {"reduce_lr_on_plateau"}


def test_validating_a_config_imports_no_heavy_library():
    code = ("import sys, yaml; from qcpt import config; config.validate(yaml.safe_load(open('config.yaml')));"
            "heavy = {'torch', 'transformers', 'nltk', 'pyserini', 'faiss'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- before the first job


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("pretrain.schemas.contrastive.batch_size", "sixteen", "expected an integer, got 'sixteen'"),
    ("finetune.params.temperature", -1, "must be > 0, got -1"),
    ("generators.d2q.pool_sise", 3, "did you mean 'pool_size'?"),
    ("evalsets.demo-test.measures", ["MRR@10", "Recall@x"], "unknown measure 'Recall@x'"),
])
def test_snakemake_refuses_the_config_before_any_job(tmp_path: Path, key, value, expected):
    cfg = copy.deepcopy(DEMO)
    set_key(key, value)(cfg)
    cfg["results"] = str(tmp_path / "results")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"),
         f"--configfile={bad}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    message = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "WorkflowError" in message and f"config key '{key}': " in message and expected in message, message[-3000:]
    assert "Building DAG of jobs" not in message and "Job stats" not in message
    assert not (tmp_path / "results").exists()
