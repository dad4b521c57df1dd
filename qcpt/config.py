"""Configuration: validation against the JSON schema, across keys, and of every job's parameters.

:func:`validate` (called by the Snakefile before the first job) reports every bad key of a config
by its key path, in one error. What the config means as cells, paths and jobs is the workflow layer
(:mod:`qcpt.workflow`): ``cells`` (names), ``grid`` (the ablation grid), ``paths`` and ``jobs``;
the names of it other modules read through ``qcpt.config`` are re-exported below.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import config_files
from .params import ConfigError
from .pretrain.contexts import registry as context_registry
from .pretrain.schemas import registry as schema_registry
from .querygen.generators import registry as generator_registry
from .workflow import cells, grid
from .workflow.cells import Context, parse_context, parse_model_key
from .workflow.defaults import setting
from .workflow.grid import (
    evalset_measures,
    evalset_members,
    metrics_path,
    metrics_targets,
    pretrain_cells,
)
from .workflow.jobs import bm25 as bm25_jobs
from .workflow.jobs import evaluate as evaluate_jobs
from .workflow.jobs import finetune as finetune_jobs
from .workflow.jobs import pretrain as pretrain_jobs
from .workflow.jobs import querygen as querygen_jobs

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


def _check_data_sources(config: dict[str, Any]) -> None:
    """An ``irds:`` source names a dataset of ir_datasets that has the part it is read for;
    ``format: raw`` is for an ``irds:`` source only (qcpt.corpus.irds)."""
    from .corpus import irds
    from .workflow.jobs.data import config_sources

    part = {"docs": "docs", "raw": "docs", "topics": "queries", "qrels": "qrels"}
    for key, value, use in config_sources(config):
        if not irds.is_irds(value):
            if use == "raw":
                raise ConfigError(f"config key '{key.rsplit('.', 1)[0]}.format': 'raw' is for an irds: source "
                                  f"(the file ir_datasets downloaded), not {value!r}")
            continue
        did = irds.dataset_id(value)
        if use == "hard_negatives":
            raise ConfigError(f"config key '{key}': ir_datasets does not serve sentence-transformers' hard "
                              f"negatives; name the file ({value!r})")
        if not irds.known(did):
            raise ConfigError(f"config key '{key}': irds:{did} is not a dataset ID of ir_datasets "
                              f"{irds.IRDS_VERSION} (https://ir-datasets.com lists them)")
        dataset = irds.load(did)
        if not getattr(dataset, f"has_{part[use]}")():
            raise ConfigError(f"config key '{key}': irds:{did} has no {part[use]}")
        if use == "raw":
            try:
                irds.raw_docs(did)  # the registry names its raw file
            except irds.IrdsError as err:
                raise ConfigError(f"config key '{key.rsplit('.', 1)[0]}.format': {err}") from None


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
    for name, gen in config["generators"].items():
        if gen["backend"] == "precomputed":
            _check_expansions(gen["model"], f"generators.{name}.model")
    _check_data_sources(config)
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


def _check_expansions(model: str, where: str) -> None:
    """A precomputed generator's expansions file must exist before any job runs (its rows are
    checked by the generation job, which names file, line and field)."""
    from .querygen.precomputed import expansions_path

    try:
        expansions_path(model)
    except (OSError, ValueError) as err:
        raise ConfigError(f"config key '{where}': {err}") from err


def _job_params_errors(config: dict[str, Any]) -> list[str]:
    """Every parameter block of the config parsed by the dataclass of the script it goes to; one
    line per bad block, naming the config key path of the bad value."""
    # Imported here: these are the commands' own classes (import-light modules, no torch).
    from .corpus.params import EncoderParams, PassageParams, PunktParams
    from .params import ParamsError, parse_params
    from .pretrain.arguments import PretrainParams
    from .querygen.consistency import ConsistencyParams
    from .querygen.doc2query import Doc2QueryParams
    from .querygen.sharding import OrderParams
    from .querygen.spec import GeneratorSpec
    from .retrieval.bm25 import SearchParams as BM25SearchParams
    from .retrieval.evaluate import EvaluateParams
    from .retrieval.params import DenseSearchParams, EncodeParams, FinetuneParams
    from .retrieval.train_data import TrainDataParams

    errors: list[str] = []

    def check(parse, values: dict[str, Any], where: str, origin: dict[str, str] | None = None,
              derived: tuple[set[str], str] = (set(), "")) -> None:
        """``where``: the config block the values come from; ``origin``: keys that come from elsewhere;
        ``derived``: keys whose value the workflow computes from the named key, and how."""
        try:
            parse(values)
        except ParamsError as err:
            path = (origin or {}).get(err.key or "") or (f"{where}.{err.key}" if err.key else where)
            note = derived[1] if err.key in derived[0] else ""
            line = f"config key '{path}': {note}{err.reason}"
        except ConfigError as err:
            line = str(err)
        except (TypeError, ValueError) as err:  # a check that met a value of another type
            line = f"config key '{where}': {err}"
        else:
            return
        if line not in errors:
            errors.append(line)

    def dataclass_parser(cls):
        return lambda values: parse_params(cls, values)

    seed_origin = {"seed": "seed"}
    check(dataclass_parser(PunktParams), config.get("punkt", {}), "punkt")
    if config["encoder"]["init"] == "embedded":
        check(dataclass_parser(EncoderParams), config["encoder"].get("embedded", {}), "encoder.embedded")
    check(dataclass_parser(PassageParams), config.get("passages", {}), "passages")
    check(dataclass_parser(OrderParams), {"seed": setting(config, "querygen", "order_seed")}, "querygen",
          {"seed": "querygen.order_seed"})
    consistency = {k: v for k, v in config["querygen"].get("consistency", {}).items() if k != "enabled"}
    check(dataclass_parser(ConsistencyParams), consistency, "querygen.consistency")

    for gen, spec in config["generators"].items():
        where = f"generators.{gen}"
        origin = {"name": where, **({} if "seed" in spec else seed_origin)}
        check(GeneratorSpec.from_dict, querygen_jobs.generator_job_spec(config, gen, spec["model"]), where, origin)
        if "train" in spec:
            if spec["model"] != querygen_jobs.EMBEDDED_DOC2QUERY:
                errors.append(f"config key '{where}.train': only the embedded-doc2query model is trained "
                              f"(this generator's model is {spec['model']!r})")
            else:
                check(dataclass_parser(Doc2QueryParams), spec["train"], f"{where}.train")

    schemas = config["pretrain"].get("schemas", {})
    for schema, block in schemas.items():
        if "init" in block and not isinstance(block["init"], str):
            errors.append(f"config key 'pretrain.schemas.{schema}.init': expected a string (a model), "
                          f"got {block['init']!r}")
    cell_list = list(pretrain_cells(config))
    cell_list += [(schema, ctx.stage1()) for schema, ctx in cell_list if ctx.kind == "curriculum"]
    # Each schema block as written, too: a curriculum derives some of its values (a bad one would
    # otherwise pass unseen), and a span cell of any schema can be asked for as a target.
    cell_list += [(schema, Context(cells.SPAN)) for schema in schemas if (schema, cells.SPAN) not in
                  {(s, c.kind) for s, c in cell_list}]
    for schema, ctx in cell_list:
        where = f"pretrain.schemas.{schema}"
        block = schemas.get(schema, {})
        origin = {} if "seed" in block else dict(seed_origin)
        derived = {"max_steps", "lr_scheduler", "warmup_ratio"} if ctx.kind in ("stage1", "curriculum") else set()

        def parse_pretrain(_values: dict[str, Any], schema: str = schema, ctx: Context = ctx) -> None:
            parse_params(PretrainParams, pretrain_jobs.pretrain_job_params(config, schema, ctx))

        check(parse_pretrain, {}, where, origin,
              (derived, f"the value grid cell {schema}/{ctx.tag} derives from it: "))

    for dataset, ds_spec in config["finetune"]["datasets"].items():
        settings = finetune_jobs.finetune_settings(config, dataset)
        finetune_origin = {} if "seed" in settings else dict(seed_origin)
        # A dataset's own params override finetune.params: name the key where the bad value came from.
        finetune_origin.update({k: f"finetune.datasets.{dataset}.params.{k}" for k in ds_spec.get("params", {})})
        check(dataclass_parser(FinetuneParams), finetune_jobs.finetune_job_params(config, dataset), "finetune.params",
              finetune_origin)
        for stage, stage_params in config["finetune"].get("stage_params", {}).items():
            stage_origin = {**finetune_origin, **{k: f"finetune.stage_params.{stage}.{k}" for k in stage_params
                                                  if k not in ds_spec.get("params", {})}}
            check(dataclass_parser(FinetuneParams), finetune_jobs.finetune_job_params(config, dataset, stage=stage),
                  "finetune.params", stage_origin)
    check(dataclass_parser(TrainDataParams), bm25_jobs.bm25_negatives_job_params(config), "finetune.negatives",
          {"depth": "finetune.negatives.bm25_depth", "keep": "finetune.negatives.bm25_keep",
           "selection": "finetune.negatives.bm25_selection"})
    check(dataclass_parser(TrainDataParams), finetune_jobs.mined_negatives_job_params(config, None), "finetune.negatives",
          {"depth": "finetune.negatives.mined_depth", "keep": "finetune.negatives.mined_keep"})

    for topicset, spec in grid.topic_sets(config).items():
        collection = spec["collection"]
        depth_key = ("finetune.negatives.bm25_depth" if grid.training_dataset(config, topicset)
                     else f"evalsets.{topicset}.depth")
        check(dataclass_parser(BM25SearchParams), bm25_jobs.bm25_search_job_params(config, topicset),
              f"collections.{collection}.bm25", {"depth": depth_key})
    for name in config.get("external_encoders", {}):
        where = f"external_encoders.{name}"
        key = cells.model_key(cells.ZEROSHOT, cells.external(name)).key
        check(dataclass_parser(EncodeParams), evaluate_jobs.encode_shard_job_params(config, key, None), where)
        for topicset in grid.topic_sets(config):
            depth_key = ("finetune.negatives.mined_depth" if grid.training_dataset(config, topicset)
                         else f"evalsets.{topicset}.depth")
            check(dataclass_parser(DenseSearchParams), evaluate_jobs.dense_search_job_params(config, topicset, key),
                  where, {"depth": depth_key})
    for evalset in config["evalsets"]:
        check(dataclass_parser(EvaluateParams), evaluate_jobs.evaluate_job_params(config, evalset, None), f"evalsets.{evalset}")
    return errors
