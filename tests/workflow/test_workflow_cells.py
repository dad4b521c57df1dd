"""The cell grammar (qcpt/workflow/cells.py) and the artifact templates (qcpt/workflow/paths.py):
every name parses back to what built it, the Snakefile's wildcard constraints accept exactly the
names the grid builds, and every path template fills and parses back."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.core.params import ConfigError
from qcpt.workflow import cells, grid
from qcpt.workflow.paths import LOGS, TEMPLATES, Paths

CONFIGS = [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]


def _config(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("tag", ["span", "query-d2q-c5-nall", "mixed-alpaca_7b-c10-n50000",
                                 "curriculum-f0.75-alpaca_13b-c10-n400000", "stage1-f0.75"])
def test_context_tags_round_trip(tag):
    ctx = cells.parse_context(tag)
    assert ctx.tag == tag
    assert ctx.reads_queries == (ctx.kind in ("query", "mixed", "curriculum"))


@pytest.mark.parametrize("bad", ["query-c5", "query-d-2q-c5-nall", "curriculum-f1.5-g-c5-nall", "spans"])
def test_a_bad_context_is_named(bad):
    with pytest.raises(ConfigError, match=re.escape(repr(bad))):
        cells.parse_context(bad)


def test_a_curriculum_continues_from_its_stage1():
    ctx = cells.parse_context("curriculum-f0.75-smollm2-c5-n16")
    assert ctx.stage1().tag == "stage1-f0.75"


@pytest.mark.parametrize("tag", ["base", "ext/contriever", "pt/msmarco_doc/contrastive/curriculum-f0.5-g-c5-nall"])
def test_encoder_tags_round_trip(tag):
    assert cells.parse_encoder(tag).tag == tag


@pytest.mark.parametrize("key", ["zeroshot/base", "zeroshot/ext/contriever", "msmarco/pt/c/cotmae/span/retriever2",
                                 "msmarco-beir/base/retriever1"])
def test_model_keys_round_trip(key):
    parsed = cells.parse_model_key(key)
    assert parsed.key == key and cells.model_key(*parsed).key == key
    assert parsed.zeroshot == key.startswith("zeroshot/")


@pytest.mark.parametrize("bad", ["zeroshot/pt/c/s", "msmarco/base", "msmarco/base/retriever3", "base"])
def test_a_bad_model_key_is_named(bad):
    with pytest.raises(ConfigError, match="not a model key"):
        cells.parse_model_key(bad)


def test_metrics_cells_and_counterparts():
    assert cells.parse_metrics_cell("msmarco-dev/bm25") == ("msmarco-dev", "bm25")
    assert cells.parse_metrics_cell("e/d/pt/c/s/query-g-c5-nall/retriever1") == ("e", "d/pt/c/s/query-g-c5-nall/retriever1")
    with pytest.raises(ConfigError):
        cells.parse_metrics_cell("msmarco-dev")
    assert cells.counterpart("d/pt/c/s/query-g-c5-nall/retriever1") == "d/pt/c/s/span/retriever1"
    assert cells.counterpart("zeroshot/pt/c/s/span", "query-g-c1-nall") == "zeroshot/pt/c/s/query-g-c1-nall"
    assert cells.counterpart("zeroshot/pt/c/s/span") is None
    assert cells.counterpart("zeroshot/ext/x") is None and cells.counterpart("bm25") is None


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_the_wildcard_constraints_accept_every_name_the_grid_builds(path):
    config = _config(path)
    patterns = {name: re.compile(f"(?:{regex})") for name, regex in cells.WILDCARDS.items()}
    system = re.compile(f"(?:{cells.SYSTEM_WILDCARD})")
    for evalset, name in grid.metrics_cells(config):
        assert patterns["evalset"].fullmatch(evalset), evalset
        assert system.fullmatch(name), name
        if name != cells.BM25:
            key = cells.parse_model_key(name)
            assert patterns["modelkey"].fullmatch(key.key), key
            assert patterns["encoder"].fullmatch(key.encoder), key
            assert key.stage is None or patterns["stage"].fullmatch(key.stage)
            assert key.zeroshot or patterns["dataset"].fullmatch(key.dataset)
    for schema, ctx in grid.pretrain_cells(config):
        assert patterns["schema"].fullmatch(schema)
        assert re.fullmatch(cells.CONTEXT_WILDCARD, ctx.tag) and cells.parse_context(ctx.tag) == ctx
    for gen, count, amount in grid.query_sets(config):
        assert patterns["gen"].fullmatch(gen) and patterns["qcount"].fullmatch(str(count))
        assert patterns["amount"].fullmatch(str(amount))
    assert not patterns["modelkey"].fullmatch("zeroshot/pt/c/s")  # a truncated key is no model key


def test_evalset_wildcards_split_scored_and_mean_evalsets():
    scored, mean = cells.evalset_wildcards(["beir-cqadupstack"])
    assert re.fullmatch(mean, "beir-cqadupstack") and not re.fullmatch(mean, "beir-scifact")
    # Inside the metrics path the evalset is followed by "/": a mean evalset is not a scored one.
    path = re.compile(rf"eval/(?P<evalset>{scored})/(?P<system>.+)/metrics\.json")
    assert path.fullmatch("eval/beir-scifact/bm25/metrics.json")
    assert not path.fullmatch("eval/beir-cqadupstack/bm25/metrics.json")
    scored, mean = cells.evalset_wildcards([])
    assert re.fullmatch(scored, "anything") and not re.fullmatch(mean, "")


VALUES = {"corpus": "msmarco_doc", "gen": "alpaca_7b", "shard": "00003", "qcount": "5", "amount": "all",
          "schema": "cotmae", "context": "curriculum-f0.5-alpaca_7b-c5-nall", "collection": "beir-scifact",
          "topicset": "train-msmarco", "dataset": "msmarco", "encoder": "pt/msmarco_doc/cotmae/span",
          "stage": "retriever2", "modelkey": "msmarco/pt/msmarco_doc/cotmae/span/retriever1", "nshards": "8",
          "evalset": "msmarco-dev", "system": "zeroshot/ext/contriever", "irdsid": "beir/cqadupstack/android",
          "trained": "finetune/msmarco/pt/msmarco_doc/cotmae/span/retriever2"}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_fills_and_parses_back(name):
    paths = Paths("results/qac")
    fields = set(re.findall(r"\{(\w+)\}", TEMPLATES[name]))
    assert fields <= set(VALUES), fields - set(VALUES)
    values = {f: VALUES[f] for f in fields}
    path = paths.of(name, **values)
    assert path.startswith("results/qac/") and "{" not in path
    assert paths.parse(name, path) == values
    assert paths.parse(name, "./" + path) == values  # compared as normalised paths
    assert paths.parse(name, "elsewhere/" + path) is None


def test_every_wildcard_of_a_template_is_constrained_somewhere():
    """A wildcard without a constraint would match across path segments in any rule."""
    # constrained in their rules (pretrain, encode, evaluate, irds_cache, model_card and publish)
    rule_level = {"context", "nshards", "system", "irdsid", "trained"}
    used = {f for t in [*TEMPLATES.values(), *LOGS.values()] for f in re.findall(r"\{(\w+)\}", t)}
    assert used <= set(cells.WILDCARDS) | rule_level, used - set(cells.WILDCARDS) - rule_level


def test_metrics_paths_round_trip_through_the_grid():
    for path in (ROOT / "configs").glob("*.yaml"):
        config = _config(path)
        for target in grid.metrics_targets(config)[:50]:
            evalset, system = grid.parse_metrics_path(config["results"], target)
            assert grid.metrics_path(config["results"], cells.metrics_cell(evalset, system)) == target


def test_the_config_schema_offers_exactly_the_pretraining_schemas():
    schema = qconfig.schema_document()
    pretrain = schema["properties"]["pretrain"]["properties"]
    assert pretrain["schemas"]["propertyNames"]["enum"] == list(cells.SCHEMAS)
    assert pretrain["grid"]["items"]["properties"]["schema"]["items"]["enum"] == list(cells.SCHEMAS)
    assert cells.WILDCARDS["schema"] == "|".join(cells.SCHEMAS)
