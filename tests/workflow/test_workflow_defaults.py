"""One home per default (qcpt/workflow/defaults.py): the workflow's own defaults are keys of the
config schema, and a key whose value reaches a job's dataclass defaults to that field's default,
read from the field (never copied into the table)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.retrieval.evaluate import EvaluateParams
from qcpt.retrieval.params import EncodeParams, FinetuneParams
from qcpt.workflow import defaults
from qcpt.workflow.defaults import DEFAULTS, dataclass_defaults, default, setting

SCHEMA = qconfig.schema_document()
DEMO = qconfig.load(ROOT / "config.yaml")


def _schema_node(keys: list[str]) -> dict | None:
    """The config schema's node of key path ``keys`` ('*' for a name or an index), or None."""
    node: dict = SCHEMA
    for key in keys:
        while "$ref" in node:
            node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if key == "*":
            node = node.get("additionalProperties") or node.get("items")
        else:
            node = node.get("properties", {}).get(key)
        if not isinstance(node, dict):
            return None
    return node


def test_every_workflow_default_is_a_key_of_the_schema():
    missing = [key for key in DEFAULTS if _schema_node(key.split(".")) is None]
    assert missing == []
    assert _schema_node("finetune.negatives.nonsense".split(".")) is None  # the check can fail
    assert default("evalsets", "msmarco-dev", "depth") == 1000 and default("pretrain", "grid", 3, "count") == (5,)
    assert setting(DEMO, "finetune", "negatives", "mined_keep") == 128
    with pytest.raises(KeyError, match="no default"):
        default("finetune", "negatives", "nonsense")


def test_the_dataclass_backed_keys_are_schema_keys_and_not_copied():
    for key, (cls, name) in dataclass_defaults().items():
        node = _schema_node(key.split("."))
        assert node is not None, key
        if name is None:  # a block passed as written: the schema says which class parses it
            assert node.get("x-params") == f"{cls.__module__}:{cls.__name__}", key
        else:
            assert name in {f.name for f in dataclasses.fields(cls)}, key
        assert not any(k == key or k.startswith(f"{key}.") for k in DEFAULTS), f"{key} has two homes"


def test_defaults_of_dataclass_backed_keys_are_the_fields_defaults():
    bare = {"finetune": {"params": {}}, "evalsets": {"x": {}}, "encoder": {}}
    assert setting(bare, "finetune", "params", "p_max_len") == FinetuneParams().p_max_len == 144
    assert setting(bare, "finetune", "params", "normalize") is FinetuneParams().normalize
    assert setting(bare, "evalsets", "x", "measures") == EvaluateParams().measures
    assert setting(bare, "evalsets", "x", "relevance_level") == EvaluateParams().relevance_level
    assert setting(bare, "encoder", "amp") is EncodeParams().amp
    with pytest.raises(KeyError):
        setting(bare, "finetune", "params", "no_such_field")


def test_a_changed_field_default_is_what_the_workflow_reads(monkeypatch):
    """Read from the field at lookup time: change the field's default and the workflow follows."""

    @dataclasses.dataclass
    class Tuned:
        q_max_len: int = 48
        measures: list[str] = dataclasses.field(default_factory=lambda: ["nDCG@10"])

    monkeypatch.setattr(defaults, "dataclass_defaults", lambda: {
        "finetune.params": (Tuned, None), "evalsets.*.measures": (Tuned, "measures")})
    assert setting({}, "finetune", "params", "q_max_len") == 48
    assert setting({}, "evalsets", "x", "measures") == ["nDCG@10"]
