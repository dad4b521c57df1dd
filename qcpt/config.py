"""Configuration: validation against the JSON schema, and the ablation grid as paths.

A cell's identity is its path. This module is the single place that turns config into path
fragments (and back), so the Snakefile's targets, the rules' wildcards and the report agree:

- pre-training context: ``span`` | ``query-<gen>-c<C>-n<amount>`` | ``mixed-<gen>-c<C>-n<amount>``
  | ``curriculum-f<frac>-<gen>-c<C>-n<amount>``; a curriculum's first stage is ``stage1-f<frac>``.
- encoder tag: ``base`` (the initial encoder), ``pt/<corpus>/<schema>/<context>`` (a pre-trained
  cell) or ``ext/<name>`` (an external encoder from ``external_encoders``).
- model key (what gets encoded and searched): ``zeroshot/<encoder>`` or
  ``<dataset>/<encoder>/<retriever1|retriever2>``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .querygen import sharding

SCHEMAS = ("contrastive", "cotmae", "bottleneck")
STAGES = ("retriever1", "retriever2")
DEFAULT_MEASURES = ("MRR@10", "R@50", "R@1000", "nDCG@10")  # an evalset without `measures:`

CONTEXT_RE = re.compile(
    r"^(?:(?P<span>span)"
    r"|(?P<ctx>query|mixed)-(?P<gen>[A-Za-z0-9_]+)-c(?P<count>\d+)-n(?P<amount>all|\d+)"
    r"|curriculum-f(?P<frac>0\.\d+)-(?P<cgen>[A-Za-z0-9_]+)-c(?P<ccount>\d+)-n(?P<camount>all|\d+)"
    r"|stage1-f(?P<sfrac>0\.\d+))$"
)
ENCODER_RE = re.compile(r"^(?:base|pt/[^/]+/[^/]+/[^/]+|ext/[^/]+)$")
MODEL_KEY_RE = re.compile(r"^(?:zeroshot/(?P<zenc>.+)|(?P<ds>[^/]+)/(?P<fenc>.+)/(?P<stage>retriever[12]))$")


class ConfigError(ValueError):
    """A config that does not validate; the message names the key."""


@dataclass(frozen=True)
class Context:
    kind: str  # span | query | mixed | curriculum | stage1
    generator: str | None = None
    count: int | None = None
    amount: int | str | None = None  # int or "all"
    fraction: float | None = None

    @property
    def tag(self) -> str:
        if self.kind == "span":
            return "span"
        if self.kind == "stage1":
            return f"stage1-f{self.fraction:g}"
        rest = f"{self.generator}-c{self.count}-n{self.amount}"
        if self.kind == "curriculum":
            return f"curriculum-f{self.fraction:g}-{rest}"
        return f"{self.kind}-{rest}"


def parse_context(tag: str) -> Context:
    m = CONTEXT_RE.match(tag)
    if not m:
        raise ConfigError(f"not a pre-training context: {tag!r}")
    if m["span"]:
        return Context("span")
    if m["sfrac"]:
        return Context("stage1", fraction=float(m["sfrac"]))
    if m["ctx"]:
        amount = m["amount"]
        return Context(m["ctx"], m["gen"], int(m["count"]), amount if amount == "all" else int(amount))
    amount = m["camount"]
    return Context(
        "curriculum", m["cgen"], int(m["ccount"]), amount if amount == "all" else int(amount),
        float(m["frac"]),
    )


def parse_model_key(key: str) -> tuple[str, str, str | None]:
    """``(dataset or "zeroshot", encoder tag, stage or None)``."""
    m = MODEL_KEY_RE.match(key)
    if not m or not ENCODER_RE.match(m["zenc"] or m["fenc"]):
        raise ConfigError(f"not a model key: {key!r}")
    if m["zenc"]:
        return "zeroshot", m["zenc"], None
    return m["ds"], m["fenc"], m["stage"]


# --------------------------------------------------------------------------- loading


def _schema() -> dict:
    text = resources.files("qcpt").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the schema and across keys; return the config with defaults filled in."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
            msg = err.message
            if err.validator == "additionalProperties":
                msg = "unknown key " + msg.split("(")[-1].rstrip(")").replace(" was unexpected", "")
            lines.append(f"config key '{key}': {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _check_references(config)
    return config


def load(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return validate(yaml.safe_load(handle))


def _check_references(config: dict[str, Any]) -> None:
    def need(kind: str, name: str, where: str, table: dict) -> None:
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"config key '{where}': unknown {kind} {name!r} (known: {known})")

    for name, spec in config["evalsets"].items():
        need("collection", spec["collection"], f"evalsets.{name}.collection", config["collections"])
    for name, spec in config["finetune"]["datasets"].items():
        need("collection", spec["collection"], f"finetune.datasets.{name}.collection", config["collections"])
    for i, block in enumerate(config["pretrain"]["grid"]):
        if set(block["context"]) - {"span"} and not block.get("generator"):
            raise ConfigError(f"config key 'pretrain.grid.{i}': query/mixed/curriculum contexts need 'generator'")
        if "curriculum" in block["context"] and not block.get("fraction"):
            raise ConfigError(f"config key 'pretrain.grid.{i}': the curriculum context needs 'fraction'")
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
    evaluation = config["evaluation"]
    for name in evaluation.get("bm25", []):
        need("evalset", name, "evaluation.bm25", config["evalsets"])
    known = set(encoder_tags(config))
    for section in ("zeroshot", "finetuned"):
        for block in evaluation_blocks(config, section):
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
        if metrics_path(config["results"], key) not in targets:
            raise ConfigError(f"config key 'expected.scores.{key}': not a metrics file this config builds "
                              f"(keys are '<evalset>/<system>' of the evaluation section, e.g. "
                              f"'{next(iter(config['evalsets']))}/bm25')")
        evalset = key.split("/")[0]
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


def evalset_measures(config: dict[str, Any], evalset: str) -> list[str]:
    return list(config["evalsets"][evalset].get("measures", DEFAULT_MEASURES))


def evaluation_blocks(config: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """``evaluation.zeroshot``/``finetuned`` as a list of product blocks (one block may be given bare)."""
    blocks = config["evaluation"].get(section, [])
    return [blocks] if isinstance(blocks, dict) else list(blocks)


# --------------------------------------------------------------------------- the grid


def pretrain_cells(config: dict[str, Any]) -> list[tuple[str, Context]]:
    """Every ``(schema, context)`` of the pre-training grid, in config order, without repeats."""
    cells: list[tuple[str, Context]] = []
    for block in config["pretrain"]["grid"]:
        for schema, kind in itertools.product(block["schema"], block["context"]):
            if kind == "span":
                combos = [Context("span")]
            else:
                combos = [
                    Context(kind, gen, count, amount, frac if kind == "curriculum" else None)
                    for gen, count, amount, frac in itertools.product(
                        block["generator"], block.get("count", [5]), block.get("amount", ["all"]),
                        block.get("fraction", [None]) if kind == "curriculum" else [None],
                    )
                ]
            for ctx in combos:
                if (schema, ctx) not in cells:
                    cells.append((schema, ctx))
    return cells


def encoder_tags(config: dict[str, Any]) -> list[str]:
    corpus = config["corpus"]["name"]
    tags = ["base"] + [f"pt/{corpus}/{schema}/{ctx.tag}" for schema, ctx in pretrain_cells(config)]
    tags += [f"ext/{name}" for name in config.get("external_encoders", {})]
    return tags


def _expand_encoders(config: dict[str, Any], listed: list[str]) -> list[str]:
    out: list[str] = []
    for tag in listed:
        for t in encoder_tags(config) if tag == "all" else [tag]:
            if t not in out:
                out.append(t)
    return out


def metrics_path(root: str, cell: str) -> str:
    """The metrics JSON of ``cell`` = ``<evalset>/<system>`` (e.g. ``scifact-test/bm25``)."""
    return f"{root}/eval/{cell}/metrics.json"


def metrics_targets(config: dict[str, Any]) -> list[str]:
    """Every metrics JSON the config asks for: the leaves of the DAG."""
    root = config["results"]
    ev = config["evaluation"]
    targets = [metrics_path(root, f"{e}/bm25") for e in ev.get("bm25", [])]
    for zs in evaluation_blocks(config, "zeroshot"):
        for enc, e in itertools.product(_expand_encoders(config, zs["encoders"]), zs["evalsets"]):
            targets.append(metrics_path(root, f"{e}/zeroshot/{enc}"))
    for ft in evaluation_blocks(config, "finetuned"):
        for ds, enc, stage, e in itertools.product(
            ft["datasets"], _expand_encoders(config, ft["encoders"]), ft["stages"], ft["evalsets"]
        ):
            targets.append(metrics_path(root, f"{e}/{ds}/{enc}/{stage}"))
    return list(dict.fromkeys(targets))


def query_sets(config: dict[str, Any]) -> list[tuple[str, int, int | str]]:
    """Every ``(generator, count, amount)`` query TSV the pre-training grid reads."""
    out: list[tuple[str, int, int | str]] = []
    for _, ctx in pretrain_cells(config):
        if ctx.kind in ("query", "mixed", "curriculum"):
            key = (ctx.generator, ctx.count, ctx.amount)
            if key not in out:
                out.append(key)
    return out


def shard_size(config: dict[str, Any], generator: str) -> int:
    """Passages per generation shard: the generator's own ``shard_size`` (LLMs are slower than
    docT5query, so they may want smaller jobs) or ``querygen.shard_size``."""
    return config["generators"][generator].get("shard_size", config["querygen"]["shard_size"])


def shards_for_amount(config: dict[str, Any], generator: str, amount: int | str) -> int:
    """Generation shards a query set of ``amount`` passages (or ``"all"``) reads: a prefix."""
    total = config["corpus"]["num_passages"]
    return sharding.shards_for_amount(total if amount == "all" else int(amount), shard_size(config, generator))


def topic_sets(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Named topic/qrels sets: every evalset, and ``train-<dataset>`` for fine-tuning datasets."""
    sets = {name: spec for name, spec in config["evalsets"].items()}
    for name, spec in config["finetune"]["datasets"].items():
        sets[f"train-{name}"] = spec
    return sets


def cell_config(config: dict[str, Any], evalset: str, system: str) -> dict[str, Any]:
    """Everything in the config that shaped one metrics file: the evaluation set, and for a dense
    model its pre-training cell (schema settings, context, generator) and fine-tuning settings.
    Recorded in the metrics JSON's provenance, so a number can be traced without the config."""
    cell: dict[str, Any] = {"evalset": evalset, "evalset_spec": config["evalsets"][evalset], "system": system}
    collection = config["evalsets"][evalset]["collection"]
    if system == "bm25":
        cell["bm25"] = config["collections"][collection].get("bm25", {})
        return cell
    dataset, encoder, stage = parse_model_key(system)
    cell.update(encoder=encoder, stage=stage or "zeroshot")
    if dataset != "zeroshot":
        cell["finetune"] = {
            "dataset": dataset,
            "spec": config["finetune"]["datasets"][dataset],
            "params": config["finetune"].get("params", {}),
            "negatives": config["finetune"].get("negatives", {}),
        }
    if encoder == "base":
        cell["init"] = config["encoder"]
    elif encoder.startswith("ext/"):
        cell["external"] = config["external_encoders"][encoder[4:]]
    else:
        _, corpus, schema, context = encoder.split("/")
        ctx = parse_context(context)
        cell["pretrain"] = {
            "corpus": config["corpus"],
            "schema": schema,
            "context": context,
            "params": config["pretrain"].get("schemas", {}).get(schema, {}),
            "passages": config.get("passages", {}),
            "encoder": config["encoder"],
        }
        if ctx.generator:
            cell["pretrain"]["generator"] = config["generators"][ctx.generator]
    return cell
