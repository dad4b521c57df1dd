"""docs/config.md explains every config key: every key of the schema has a description, the page is
rendered from them (tools/config_docs.py) and current, and every key the shipped configs use is on it."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from qcpt.core.config_files import read_config

spec = importlib.util.spec_from_file_location("config_docs", ROOT / "tools" / "config_docs.py")
config_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config_docs)

SHIPPED = [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]


def test_every_schema_key_has_a_description():
    schema = config_docs.load_schema()
    assert config_docs.undocumented(schema) == []
    keys = {key for key, _ in config_docs.walk(schema)}
    # the walk reaches named, <name> and [] keys at every depth (else the check above proves little)
    for key in ("corpus.num_passages", "collections.<name>.bm25.k1", "pretrain.grid[].amount",
                "evaluation.zeroshot.encoders", "resources.<name>.gpu", "include"):
        assert key in keys, key


def test_a_key_without_a_description_is_found():
    schema = copy.deepcopy(config_docs.load_schema())
    del schema["properties"]["collections"]["additionalProperties"]["properties"]["bm25"]["properties"]["k1"]["description"]
    schema["properties"]["evaluation"]["properties"]["bm25"]["description"] = "  "
    assert config_docs.undocumented(schema) == ["collections.<name>.bm25.k1", "evaluation.bm25"]


def test_docs_config_md_is_current():
    rendered = config_docs.render()
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == rendered, (
        "docs/config.md is stale: run `python tools/config_docs.py`")
    assert config_docs.main(["--check"]) == 0


def test_every_params_block_names_a_dataclass_whose_fields_are_listed():
    schema = config_docs.load_schema()
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    specs = {config_docs.resolve(schema, node).get("x-params") for _, node in config_docs.walk(schema)}
    specs |= {schema["properties"][k].get("x-params") for k in schema["properties"]}
    specs.discard(None)
    assert len(specs) >= 7
    for name in specs:
        cls = config_docs.params_class(name)
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in text, (name, field.name)
    with pytest.raises(SystemExit, match="not a dataclass"):
        config_docs.params_class("qcpt.core.config_files:NoSuchClass")


def test_every_params_field_has_a_meaning():
    """A field with neither a comment beside it nor an entry in FIELD_NOTES would be a blank cell."""
    schema = config_docs.load_schema()
    _, params = documented_paths(schema)
    blank = [f"{cls.__name__}.{f.name}" for cls in set(params.values()) for f in dataclasses.fields(cls)
             if not config_docs.field_meaning(cls, f.name, config_docs.field_comments(cls))]
    assert blank == []

    @dataclasses.dataclass
    class NewParams:
        explained: int = 1  # a comment
        learning_rate: float = 1.0
        unexplained_knob: int = 0

    comments = config_docs.field_comments(NewParams)
    assert [f.name for f in dataclasses.fields(NewParams) if not config_docs.field_meaning(NewParams, f.name, comments)] == [
        "unexplained_knob"]

    @dataclasses.dataclass
    class Derived(NewParams):  # a shared base's field comments reach its subclasses
        extra: int = 2  # its own

    assert config_docs.field_comments(Derived) == {"explained": "a comment", "extra": "its own"}


def test_field_comments_follow_continuation_lines():
    from qcpt.pretrain.arguments import PretrainParams

    comments = config_docs.field_comments(PretrainParams)
    assert comments["window"].startswith("bottleneck: None = plain causal decoder")
    assert "attn_window" in comments["window"]  # from the comment's second line
    from qcpt.training.params import TrainerParams

    # a trainer field's comment is the shared base's own, not one borrowed from a neighbouring line
    assert comments["warmup_ratio"] == config_docs.field_comments(TrainerParams)["warmup_ratio"]


def documented_paths(schema: dict) -> tuple[set[str], dict[str, type]]:
    keys: set[str] = set()
    params: dict[str, type] = {}
    for key, node in [*config_docs.walk(schema)]:
        keys.add(key)
        spec_name = config_docs.resolve(schema, node).get("x-params")
        if spec_name:
            params[key] = config_docs.params_class(spec_name)
    for key, node in schema["properties"].items():
        if node.get("x-params"):
            params[key] = config_docs.params_class(node["x-params"])
    return keys, params


def undocumented_keys(config: dict, keys: set[str], params: dict[str, type]) -> list[str]:
    """Key paths of ``config`` the page does not explain (a schema key, or a field of a params block)."""
    missing: list[str] = []

    def visit(value, pattern: str, where: str) -> None:
        if pattern in params:
            fields = {f.name for f in dataclasses.fields(params[pattern])}
            nested = {k[len(pattern) + 1:] for k in keys if k.startswith(pattern + ".")}
            for k, v in value.items():
                if k in nested:
                    visit(v, f"{pattern}.{k}", f"{where}.{k}")
                elif k not in fields:
                    missing.append(f"{where}.{k}")
            return
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    visit(item, f"{pattern}[]" if f"{pattern}[]" in keys else pattern, f"{where}[]")
            return
        if not isinstance(value, dict):
            return
        if pattern and not any(k.startswith(pattern + ".") for k in keys):
            return  # a leaf mapping ({measure: value})
        for k, v in value.items():
            for candidate in (f"{pattern}.{k}" if pattern else k, f"{pattern}.<name>"):
                if candidate in keys:
                    visit(v, candidate, f"{where}.{k}" if where else k)
                    break
            else:
                missing.append(f"{where}.{k}" if where else k)

    visit(config, "", "")
    return missing


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_key_of_the_shipped_configs_is_explained(path: Path):
    keys, params = documented_paths(config_docs.load_schema())
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert undocumented_keys(raw, keys, params) == []
    assert undocumented_keys(read_config(path), keys, params) == []


def test_an_unexplained_key_is_found():
    keys, params = documented_paths(config_docs.load_schema())
    config = {"corpus": {"name": "x", "colour": 1}, "pretrain": {"schemas": {"cotmae": {"no_such_knob": 1}}},
              "collections": {"c": {"bm25": {"k3": 1}}}}
    assert undocumented_keys(config, keys, params) == [
        "corpus.colour", "pretrain.schemas.cotmae.no_such_knob", "collections.c.bm25.k3"]


def test_a_workflow_default_is_written_once_and_shown_on_the_page():
    """qcpt/workflow/defaults.py is the one home of a key's default: the schema's description does
    not state it, the page appends it to the key's row."""
    from qcpt.workflow.defaults import DEFAULTS, dataclass_defaults

    schema = config_docs.load_schema()
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    shown = []
    for key, node in config_docs.walk(schema):
        value = config_docs.workflow_default(key)
        if value is None:
            continue
        shown.append(key)
        assert "default" not in str(node.get("description", "")), f"{key}: its default is written in the schema too"
        assert f"default `{config_docs.yaml_value(value)}`" in config_docs.described(key, node)
    # every default of the tables reaches a row (a None default: unset means what the description says)
    expected = {k for k, v in DEFAULTS.items() if v is not None}
    expected |= {k for k, (_, field) in dataclass_defaults().items() if field}
    assert expected - {k.replace("[]", ".*").replace("<name>", "*") for k in shown} == set()
    assert "| `evalsets.<name>.measures` |" in text and "default `[MRR@10, R@50, R@1000, nDCG@10]`" in text


def test_every_environment_variable_the_package_reads_is_documented():
    named = set()
    for path in [*(ROOT / "qcpt").rglob("*.py"), *(ROOT / "rules").glob("*.smk"), ROOT / "Snakefile"]:
        named |= set(re.findall(r"\bQCPT_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert named == set(config_docs.ENVIRONMENT)
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in text for name in named)
