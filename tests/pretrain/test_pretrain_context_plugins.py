"""A pre-training context kind is a plug-in: a module of its own, found through the ``qcpt.contexts``
entry point of the package that holds it, with no file of qcpt changed. The toy kind here (the
context is the passage's first sentence) lives in a temporary folder, and a dry run of the demo
grid with one toy cell added plans its pre-training job; without the plug-in the same config is
refused naming the kind. The built-in kinds' grammar and lists come from the same registry."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, install_plugin, plugin_dry_run, reload_plugins

from qcpt.pretrain.contexts import registry
from qcpt.workflow import cells

TOY = textwrap.dedent('''
    """A toy context kind: the passage's first sentence."""
    import re

    from qcpt.pretrain.contexts.registry import ContextKind, register


    def draw(source, passage, rng):
        return re.split(r"(?<=[.!?])\\s+", source.passage_text(passage).strip(), maxsplit=1)[0], "span"


    register(ContextKind(name="firstsentence", description="the passage's first sentence", draw=draw))
''')


def install_toy(folder: Path) -> Path:
    return install_plugin(folder, "toy-context", {registry.REGISTRY.group: {"firstsentence": "toy_context"}},
                          {"toy_context.py": TOY})


def toy_config(path: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["pretrain"]["grid"].append({"schema": ["contrastive"], "context": ["firstsentence"]})
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_a_toy_context_from_its_own_package_dry_runs_in_the_grid(tmp_path):
    plugins = install_toy(tmp_path / "site")
    proc = plugin_dry_run(toy_config(tmp_path / "toy.yaml"), tmp_path / "work", [plugins])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = [line for line in (proc.stdout + proc.stderr).splitlines()
            if "pretrain.driver" in line and "/contrastive/firstsentence/" in line]
    assert len(jobs) == 1, "no pre-training job of the toy cell in the dry run"
    params = json.loads(jobs[0].split("--params '", 1)[1].split("'", 1)[0])
    assert params["context"] == "firstsentence" and params["schema"] == "contrastive"
    assert "--queries" not in jobs[0]  # the kind reads no generated queries
    assert "zeroshot/pt/demo/contrastive/firstsentence" in proc.stdout + proc.stderr  # evaluated (encoders: all)


def test_without_the_plug_in_the_toy_grid_is_refused_naming_it(tmp_path):
    config = toy_config(tmp_path / "toy.yaml")
    proc = plugin_dry_run(config, tmp_path / "work", [])
    assert proc.returncode != 0
    block = len(yaml.safe_load(config.read_text(encoding="utf-8"))["pretrain"]["grid"]) - 1
    assert f"config key 'pretrain.grid.{block}.context.0': 'firstsentence' is not one of" in proc.stdout + proc.stderr


class _Passages:
    def __init__(self, texts: list[str]):
        self.texts = texts
        self.single_passage_documents = len(texts)
        self.num_documents = len(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def text(self, row: int) -> str:
        return self.texts[row]


def test_the_toy_context_is_registered_after_the_built_ins_and_draws_first_sentences(tmp_path, monkeypatch):
    reload_plugins(monkeypatch, install_toy(tmp_path / "site"), [registry.REGISTRY])
    assert registry.grid_names() == ("span", "query", "mixed", "curriculum", "firstsentence")
    assert registry.drawn_names() == ("span", "query", "mixed", "firstsentence")
    assert cells.parse_context("firstsentence-s3") == cells.Context("firstsentence", seed=3)
    assert not cells.parse_context("firstsentence").reads_queries

    from qcpt.pretrain.data import PretrainDataset

    dataset = PretrainDataset(_Passages(["One. Two and more.", "Only one sentence"]), context="firstsentence")
    assert [dataset[i]["context"] for i in range(2)] == ["One.", "Only one sentence"]
    assert dataset[0]["passage"] == "One. Two and more."


@pytest.mark.parametrize("tag, kind", [
    ("span", cells.Context("span")),
    ("span-s7", cells.Context("span", seed=7)),
    ("query-d2q-c5-nall", cells.Context("query", "d2q", 5, "all")),
    ("mixed-d2q-c1-n300-s2", cells.Context("mixed", "d2q", 1, 300, seed=2)),
    ("curriculum-f0.75-d2q-c10-n100", cells.Context("curriculum", "d2q", 10, 100, 0.75)),
    ("stage1-f0.5-s1", cells.Context("stage1", fraction=0.5, seed=1)),
])
def test_the_built_in_kinds_keep_their_tags(tag, kind):
    assert cells.parse_context(tag) == kind and kind.tag == tag


@pytest.mark.parametrize("tag", ["spam", "span-x", "query-d2q-c5", "stage1-f1.5", "curriculum-d2q-c1-nall",
                                 "query-d-2-c5-nall", "mixed-d2q-c5-nall-s"])
def test_a_tag_no_kind_reads_is_refused(tag):
    with pytest.raises(cells.ConfigError, match="not a pre-training context"):
        cells.parse_context(tag)


def test_a_kind_that_reads_queries_must_name_its_query_file():
    with pytest.raises(ValueError, match="reads queries: its fields need generator, count, amount"):
        registry.ContextKind(name="bad", description="", reads_queries=True, draw=lambda s, p, r: ("", "query"))
    with pytest.raises(ValueError, match="tags split on"):
        registry.ContextKind(name="first-sentence", description="")


def test_mixed_draws_as_before():
    """The built-in draws take the same random numbers in the same order as before they were plug-ins:
    mixed asks one uniform, then the query's or the span's own draws."""
    class Source:
        mixed_query_probability = 0.5

        def span(self, passage, rng):
            return f"span{int(rng.integers(10))}", "span"

        def query(self, passage, rng):
            return f"query{int(rng.integers(10))}", "query"

    draw = registry.get("mixed").draw
    for seed in range(20):
        rng, expect = np.random.default_rng(seed), np.random.default_rng(seed)
        u = expect.random()
        want = f"query{int(expect.integers(10))}" if u < 0.5 else f"span{int(expect.integers(10))}"
        assert draw(Source(), 0, rng)[0] == want


def test_the_config_schema_offers_exactly_the_grid_kinds():
    from qcpt import config as qconfig

    grid_block = qconfig.schema_document()["properties"]["pretrain"]["properties"]["grid"]["items"]
    assert grid_block["properties"]["context"]["items"]["enum"] == list(registry.grid_names())
    assert registry.grid_names()[:4] == ("span", "query", "mixed", "curriculum")  # stage1 is derived
