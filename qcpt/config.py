"""Configuration: validation against the JSON schema, across keys, and of every job's parameters.

:func:`validate` (called by the Snakefile before the first job) reports every bad key of a config
by its key path, in one error; each stage's job parameters are checked through the stage's own
declaration (:func:`stages`, :mod:`qcpt.workflow.stages`). What the config means as cells, paths and jobs is the workflow layer
(:mod:`qcpt.workflow`): ``cells`` (names), ``grid`` (the ablation grid), ``paths`` and ``jobs``;
the names of it other modules read through ``qcpt.config`` are re-exported below.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .core import config_files
from .core.params import ConfigError, ParamsError, parse_params
from .pretrain.contexts import registry as context_registry
from .pretrain.schemas import registry as schema_registry
from .querygen.generators import registry as generator_registry
from .workflow import cells, grid
from .workflow.cells import Context, parse_context, parse_model_key
from .workflow.grid import (
    evalset_measures,
    evalset_members,
    metrics_path,
    metrics_targets,
    pretrain_cells,
)
from .workflow.stages import ParamsBlock, Stage

__all__ = [
    "ConfigError", "Context", "evalset_measures", "evalset_members", "load", "metrics_path", "metrics_targets",
    "parse_context", "parse_model_key", "pretrain_cells", "validate",
]


# Enums of the config schema that are lists registered in code: ``{x-enum: NAME}`` in the YAML
# becomes ``{enum: [...]}`` when the schema is loaded.
REGISTERED_ENUMS = {"pretrain-schemas": schema_registry.names, "pretrain-contexts": context_registry.grid_names,
                    "generator-backends": generator_registry.names}


def schema_document(text: str | None = None) -> dict[str, Any]:
    """The config schema (``text``, else qcpt/schemas/config.schema.yaml) with its registered enums
    filled in: what validation and docs/config.md use."""
    if text is None:
        text = resources.files("qcpt").joinpath("schemas/config.schema.yaml").read_text()

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            if "x-enum" in node:
                node = {"enum": list(REGISTERED_ENUMS[node["x-enum"]]()),
                        **{k: v for k, v in node.items() if k != "x-enum"}}
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        return node

    return fill(yaml.safe_load(text))


def _schema() -> dict:
    return schema_document()


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the schema and across keys; return the config with defaults filled in."""
    config_files.check_merged(config)
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    lines = []
    for err in errors:
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        msg = err.message
        if err.validator == "additionalProperties":
            msg = "unknown key " + msg.split("(")[-1].rstrip(")").replace(" was unexpected", "")
        lines.append(f"config key '{key}': {msg}")
    if not errors:
        _check_references(config)
    # Every parameter that reaches a job's --params, through the dataclass the job parses it with
    # (also beside schema errors elsewhere, so one run names every bad key; a config too malformed
    # for the job parameters to be built reports its schema errors only).
    try:
        lines += _job_params_errors(config)
    except (KeyError, TypeError, AttributeError, ValueError):
        if not errors:
            raise
    if lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def load(path: str | Path) -> dict[str, Any]:
    return validate(config_files.read_config(path))


def _check_references(config: dict[str, Any]) -> None:
    def need(kind: str, name: str, where: str, table: dict) -> None:
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"config key '{where}': unknown {kind} {name!r} (known: {known})")

    for name, spec in config["evalsets"].items():
        if "mean_of" in spec:
            for i, member in enumerate(spec["mean_of"]):
                need("evalset", member, f"evalsets.{name}.mean_of.{i}", config["evalsets"])
                if "mean_of" in config["evalsets"][member]:
                    raise ConfigError(f"config key 'evalsets.{name}.mean_of.{i}': {member!r} is itself a mean")
                missing = set(evalset_measures(config, name)) - set(evalset_measures(config, member))
                if missing:
                    raise ConfigError(f"config key 'evalsets.{name}.mean_of.{i}': {member!r} does not compute "
                                      f"{', '.join(sorted(missing))}")
            continue
        need("collection", spec["collection"], f"evalsets.{name}.collection", config["collections"])
    for name, spec in config["finetune"]["datasets"].items():
        need("collection", spec["collection"], f"finetune.datasets.{name}.collection", config["collections"])
    for i, block in enumerate(config["pretrain"]["grid"]):
        problem = context_registry.block_problem(block)
        if problem:
            raise ConfigError(f"config key 'pretrain.grid.{i}': {problem}")
        for gen in block.get("generator", []):
            need("generator", gen, f"pretrain.grid.{i}.generator", config["generators"])
        for amount in block.get("amount", []):
            if amount != "all" and amount > config["corpus"]["num_passages"]:
                raise ConfigError(
                    f"config key 'pretrain.grid.{i}.amount': {amount} exceeds corpus.num_passages"
                )
    for stage in stages():  # what only a stage's own modules can check (a file exists, a dataset ID)
        stage.references(config)
    evaluation = config["evaluation"]
    for name in evaluation.get("bm25", []):
        need("evalset", name, "evaluation.bm25", config["evalsets"])
    known = set(grid.encoder_tags(config))
    for section in ("zeroshot", "finetuned"):
        for block in grid.evaluation_blocks(config, section):
            for name in block["evalsets"]:
                need("evalset", name, f"evaluation.{section}.evalsets", config["evalsets"])
            for name in block.get("datasets", []):
                need("fine-tuning dataset", name, f"evaluation.{section}.datasets", config["finetune"]["datasets"])
            for tag in block["encoders"]:
                if tag != "all" and tag not in known:
                    raise ConfigError(
                        f"config key 'evaluation.{section}.encoders': unknown encoder {tag!r}; "
                        f"known: {', '.join(sorted(known))}"
                    )
    targets = set(metrics_targets(config))
    for key, scores in config.get("expected", {}).get("scores", {}).items():
        try:
            evalset, _ = cells.parse_metrics_cell(key)
            built = metrics_path(config["results"], key) in targets
        except ConfigError:
            built = False
        if not built:
            raise ConfigError(f"config key 'expected.scores.{key}': not a metrics file this config builds "
                              f"(keys are '<evalset>/<system>' of the evaluation section, e.g. "
                              f"'{cells.metrics_cell(next(iter(config['evalsets'])), cells.BM25)}')")
        for measure in scores:
            if measure not in evalset_measures(config, evalset):
                raise ConfigError(f"config key 'expected.scores.{key}.{measure}': evalset {evalset!r} does not "
                                  f"compute {measure} (its measures: {', '.join(evalset_measures(config, evalset))})")


def stages() -> tuple[Stage, ...]:
    """Every stage's declaration (:mod:`qcpt.workflow.stages`), in the order the workflow runs
    them: the order their errors are listed in."""
    from .corpus.declaration import STAGE as corpus
    from .pretrain.declaration import STAGE as pretrain
    from .querygen.declaration import STAGE as querygen
    from .report.declaration import STAGE as report
    from .retrieval.declaration import STAGE as retrieval

    return corpus, querygen, pretrain, retrieval, report


def _job_params_errors(config: dict[str, Any]) -> list[str]:
    """Every ``--params`` object the stages' jobs get from the config, parsed by the dataclass of
    the command it goes to; one line per bad block, naming the config key path of the bad value."""
    errors: list[str] = []
    for stage in stages():
        for block in stage.params(config):
            if isinstance(block, str):
                errors.append(block)
                continue
            line = _params_error(block)
            if line is not None and line not in errors:
                errors.append(line)
    return errors


def _params_error(block: ParamsBlock) -> str | None:
    """What is wrong with ``block`` as one line naming the config key of the bad value, or None."""
    try:
        values = block.values() if callable(block.values) else block.values
        if block.parser is not None:
            block.parser(values)  # type: ignore[arg-type]
        else:
            parse_params(block.params, values)  # type: ignore[arg-type]
    except ParamsError as err:
        path = block.origin.get(err.key or "") or (f"{block.where}.{err.key}" if err.key else block.where)
        note = block.derived[1] if err.key in block.derived[0] else ""
        return f"config key '{path}': {note}{err.reason}"
    except ConfigError as err:
        return str(err)
    except (TypeError, ValueError) as err:  # a check that met a value of another type
        return f"config key '{block.where}': {err}"
    return None
