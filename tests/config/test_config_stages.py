"""Stages declare their config (qcpt/workflow/stages.py): each top-level config key belongs to one
stage or to the workflow as a whole, the blocks a stage's jobs take as written are the ones the
config schema marks, and config validation knows the stages only through their declarations."""

from __future__ import annotations

import ast
import copy
import importlib.util
from dataclasses import dataclass

import pytest
import yaml
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.core.params import ParamsError
from qcpt.workflow.stages import WORKFLOW_KEYS, ParamsBlock, Stage

spec = importlib.util.spec_from_file_location("config_docs", ROOT / "tools" / "config_docs.py")
config_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config_docs)

DEMO = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def test_every_top_level_config_key_has_one_owner():
    schema = qconfig.schema_document()
    owners: dict[str, list[str]] = {key: [] for key in schema["properties"]}
    for stage in qconfig.stages():
        for key in stage.config_keys:
            assert key in owners, f"stage {stage.name} declares {key!r}, which is no key of the config schema"
            owners[key].append(stage.name)
    for key in WORKFLOW_KEYS:
        owners[key].append("workflow")
    assert {key: names for key, names in owners.items() if len(names) != 1} == {}


def test_the_blocks_passed_as_written_are_the_schemas_x_params():
    schema = config_docs.load_schema()
    marked = {key: config_docs.params_class(config_docs.resolve(schema, node)["x-params"])
              for key, node in config_docs.walk(schema) if config_docs.resolve(schema, node).get("x-params")}
    marked |= {key: config_docs.params_class(node["x-params"]) for key, node in schema["properties"].items()
               if node.get("x-params")}
    declared = {key: cls for stage in qconfig.stages() for key, cls in stage.params_blocks.items()}
    assert declared == marked
    for stage in qconfig.stages():  # a stage declares blocks under its own keys only
        assert all(key.split(".")[0] in stage.config_keys for key in stage.params_blocks), stage.name


def test_every_block_a_stage_checks_is_parsed_by_one_of_its_jobs_classes():
    config = qconfig.validate(copy.deepcopy(DEMO))
    seen = set()
    for stage in qconfig.stages():
        for block in stage.params(config):
            assert isinstance(block, ParamsBlock), (stage.name, block)  # the demo has no error
            assert block.where.split(".")[0] in stage.config_keys, (stage.name, block.where)
            seen.add(block.params.__name__)
    assert {"PunktParams", "PassageParams", "OrderParams", "GeneratorSpec", "PretrainParams", "FinetuneParams",
            "TrainDataParams", "SearchParams", "EvaluateParams"} <= seen


def test_validation_reports_a_bad_value_of_any_declared_stage(monkeypatch):
    """config.py knows the stages only as declarations: a stage added to them is checked like the others."""

    @dataclass
    class ToyParams:
        rounds: int = 1

        def validate(self) -> None:
            if self.rounds < 1:
                raise ParamsError("rounds", f"must be ≥ 1, got {self.rounds!r}")

    toy = Stage(name="toy", config_keys=(), params=lambda config: [
        ParamsBlock("toy.block", {"rounds": 0}, ToyParams),
        ParamsBlock("toy.derived", lambda: {"rounds": 0}, ToyParams, origin={"rounds": "toy.source"}),
        "config key 'toy.other': found on the way",
    ])
    declared = qconfig.stages()
    monkeypatch.setattr(qconfig, "stages", lambda: (*declared, toy))
    with pytest.raises(qconfig.ConfigError) as err:
        qconfig.validate(copy.deepcopy(DEMO))
    assert str(err.value).splitlines()[1:] == ["  config key 'toy.block.rounds': must be ≥ 1, got 0",
                                               "  config key 'toy.source': must be ≥ 1, got 0",
                                               "  config key 'toy.other': found on the way"]


def test_a_stages_own_cross_key_check_stops_validation(monkeypatch):
    def no_such_file(config):
        raise qconfig.ConfigError("config key 'toy.file': no such file")

    declared = qconfig.stages()
    monkeypatch.setattr(qconfig, "stages", lambda: (*declared, Stage(name="toy", config_keys=(),
                                                                      references=no_such_file)))
    with pytest.raises(qconfig.ConfigError, match="config key 'toy.file': no such file"):
        qconfig.validate(copy.deepcopy(DEMO))


def test_config_imports_no_stage_internals():
    """qcpt/config.py imports the stages' declarations, the workflow layer and the shared parser."""
    tree = ast.parse((ROOT / "qcpt" / "config.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            imported |= {node.module} if node.module else {alias.name for alias in node.names}
    allowed = {"core", "core.params", "corpus.declaration", "pretrain.declaration", "querygen.declaration",
               "report.declaration", "retrieval.declaration",
               # the registries the schema's enums are filled from
               "pretrain.schemas", "pretrain.contexts", "querygen.generators"}
    assert {m for m in imported if not m.startswith("workflow") and m not in allowed} == set()
