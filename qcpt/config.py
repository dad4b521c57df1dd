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
    with open(path, encoding="utf-8") as handle:
        return validate(yaml.safe_load(handle))


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


def evalset_members(config: dict[str, Any], evalset: str) -> list[str]:
    """The evalsets a mean evalset averages (``mean_of``), else ``[]``."""
    return list(config["evalsets"][evalset].get("mean_of", []))


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
    sets = {name: spec for name, spec in config["evalsets"].items() if "mean_of" not in spec}
    for name, spec in config["finetune"]["datasets"].items():
        sets[f"train-{name}"] = spec
    return sets


def cell_config(config: dict[str, Any], evalset: str, system: str) -> dict[str, Any]:
    """Everything in the config that shaped one metrics file: the evaluation set, and for a dense
    model its pre-training cell (schema settings, context, generator) and fine-tuning settings.
    Recorded in the metrics JSON's provenance, so a number can be traced without the config."""
    cell: dict[str, Any] = {"evalset": evalset, "evalset_spec": config["evalsets"][evalset], "system": system}
    members = evalset_members(config, evalset)
    collections = [config["evalsets"][m]["collection"] for m in members] or [config["evalsets"][evalset]["collection"]]
    if system == "bm25":
        bm25 = [config["collections"][c].get("bm25", {}) for c in collections]
        cell["bm25"] = bm25[0] if len(bm25) == 1 else dict(zip(collections, bm25, strict=True))
        return cell
    dataset, encoder, stage = parse_model_key(system)
    cell.update(encoder=encoder, stage=stage or "zeroshot")
    if dataset != "zeroshot":
        cell["finetune"] = {
            "dataset": dataset,
            "spec": config["finetune"]["datasets"][dataset],
            "params": {**config["finetune"].get("params", {}), **config["finetune"]["datasets"][dataset].get("params", {})},
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


# --------------------------------------------------------------------------- job parameters
# What each job gets as --params, built from the config in one place: the rules (rules/common.smk)
# send these dicts to the scripts, and validate() parses every one through the script's own dataclass
# before the first job runs. Values are passed on as written (not the parsed dataclass), so a job's
# parameters, and hence Snakemake's params rerun trigger, depend only on the config.

# Generator keys the workflow reads itself (interpreter, demo training, sharding, resources): not
# generation settings.
GENERATOR_WORKFLOW_KEYS = ("python", "train", "shard_size", "resource_family")


def pretrain_job_params(config: dict[str, Any], schema: str, ctx: Context) -> dict[str, Any]:
    """Pre-training parameters of one cell: the schema's settings, the seed, and what the context
    implies (a curriculum's stage 1 runs spans on a cosine schedule for ``fraction`` of the steps,
    stage 2 queries on a constant schedule for the rest)."""
    params = dict(config["pretrain"].get("schemas", {}).get(schema, {}))
    params.pop("init", None)
    params.setdefault("seed", config.get("seed", 42))
    params["schema"] = schema
    total = params.get("max_steps")
    if ctx.kind in ("stage1", "curriculum") and not total:
        raise ConfigError(f"config key 'pretrain.schemas.{schema}.max_steps': needed for curriculum cells")
    if ctx.kind == "stage1":
        params.update(context="span", max_steps=round(total * ctx.fraction), lr_scheduler="cosine")
    elif ctx.kind == "curriculum":
        params.update(
            context="query", max_steps=total - round(total * ctx.fraction),
            lr_scheduler="constant", warmup_ratio=0.0,
        )
    else:
        params["context"] = ctx.kind
    return params


def finetune_settings(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """finetune.params, with the dataset's own ``params`` over them (the BEIR retriever's recipe)."""
    return {**config["finetune"].get("params", {}), **config["finetune"]["datasets"][dataset].get("params", {})}


def finetune_job_params(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    return {"seed": config.get("seed", 42), **finetune_settings(config, dataset)}


def generator_job_spec(config: dict[str, Any], gen: str, model: str) -> dict[str, Any]:
    """The generation settings of generator ``gen`` (``--generator``), ``model`` its resolved path."""
    spec = {k: v for k, v in config["generators"][gen].items() if k not in GENERATOR_WORKFLOW_KEYS}
    spec["name"] = gen
    spec["model"] = model
    spec.setdefault("seed", config.get("seed", 42))
    return spec


def bm25_search_job_params(config: dict[str, Any], topicset: str) -> dict[str, Any]:
    spec = topic_sets(config)[topicset]
    bm25 = config["collections"][spec["collection"]].get("bm25", {})
    train = topicset.startswith("train-")
    depth = config["finetune"].get("negatives", {}).get("bm25_depth", 200) if train else spec.get("depth", 1000)
    return {**bm25, "depth": depth, "threads": 2, "tag": "bm25"}


def bm25_negatives_job_params(config: dict[str, Any]) -> dict[str, Any]:
    return {"depth": config["finetune"].get("negatives", {}).get("bm25_depth", 200), "keep": None}


def mined_negatives_job_params(config: dict[str, Any], merge_with: str | None) -> dict[str, Any]:
    negatives = config["finetune"].get("negatives", {})
    return {"depth": negatives.get("mined_depth", 200), "keep": negatives.get("mined_keep", 128),
            "selection": negatives.get("mined_selection", "top"), "seed": config.get("seed", 42),
            "merge_with": merge_with}


def encode_job_params(config: dict[str, Any], modelkey: str) -> dict[str, Any]:
    """Pooling for external encoders comes from the config; fine-tuned ones carry qcpt_pooling.json.
    Where ``encoder.pooling`` is set, the base and pre-trained encoders at zero-shot are encoded the
    way fine-tuning encodes (that pooling, finetune.params' normalisation and lengths), not as the
    init model folder declares (MiniLM: mean, normalised, 256 tokens): like with like."""
    dataset, encoder, _ = parse_model_key(modelkey)
    if encoder.startswith("ext/") and dataset == "zeroshot":
        spec = config["external_encoders"][encoder[4:]]
        return {k: spec[k] for k in ("pooling", "normalize", "max_len") if k in spec}
    if dataset == "zeroshot" and config["encoder"].get("pooling"):
        tuned = config["finetune"].get("params", {})
        return {"pooling": config["encoder"]["pooling"], "normalize": bool(tuned.get("normalize", False)),
                "max_len": int(tuned.get("p_max_len", 144)), "q_max_len": int(tuned.get("q_max_len", 32))}
    return {}


def search_depth(config: dict[str, Any], topicset: str) -> int:
    if topicset.startswith("train-"):
        return config["finetune"].get("negatives", {}).get("mined_depth", 200)
    return topic_sets(config)[topicset].get("depth", 1000)


def dense_search_job_params(config: dict[str, Any], topicset: str, modelkey: str) -> dict[str, Any]:
    return {**encode_job_params(config, modelkey), "depth": search_depth(config, topicset)}


def evaluate_job_params(config: dict[str, Any], evalset: str, system: str | None) -> dict[str, Any]:
    """``system`` None: without the provenance record (``cell``), for validation."""
    params: dict[str, Any] = {
        "measures": evalset_measures(config, evalset),
        "relevance_level": config["evalsets"][evalset].get("relevance_level", 1),
        # Evaluation conventions of the benchmark (MS MARCO script recall, BEIR identical ids).
        **{k: config["evalsets"][evalset][k] for k in ("recall", "ignore_identical_ids")
           if k in config["evalsets"][evalset]},
    }
    if system is not None:
        params["cell"] = cell_config(config, evalset, system)
    return params


def _job_params_errors(config: dict[str, Any]) -> list[str]:
    """Every parameter block of the config parsed by the dataclass of the script it goes to; one
    line per bad block, naming the config key path of the bad value."""
    # Imported here: these are the scripts' own classes (import-light modules, no torch).
    from .corpus_params import EncoderParams, PassageParams, PunktParams
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
    check(dataclass_parser(OrderParams), {"seed": config["querygen"].get("order_seed", 42)}, "querygen",
          {"seed": "querygen.order_seed"})
    consistency = {k: v for k, v in config["querygen"].get("consistency", {}).items() if k != "enabled"}
    check(dataclass_parser(ConsistencyParams), consistency, "querygen.consistency")

    for gen, spec in config["generators"].items():
        where = f"generators.{gen}"
        origin = {"name": where, **({} if "seed" in spec else seed_origin)}
        check(GeneratorSpec.from_dict, generator_job_spec(config, gen, spec["model"]), where, origin)
        if "train" in spec:
            if spec["model"] != "embedded-doc2query":
                errors.append(f"config key '{where}.train': only the embedded-doc2query model is trained "
                              f"(this generator's model is {spec['model']!r})")
            else:
                check(dataclass_parser(Doc2QueryParams), spec["train"], f"{where}.train")

    schemas = config["pretrain"].get("schemas", {})
    for schema, block in schemas.items():
        if "init" in block and not isinstance(block["init"], str):
            errors.append(f"config key 'pretrain.schemas.{schema}.init': expected a string (a model), "
                          f"got {block['init']!r}")
    cells = [(schema, ctx) for schema, ctx in pretrain_cells(config)]
    for schema, ctx in list(cells):
        if ctx.kind == "curriculum":
            cells.append((schema, Context("stage1", fraction=ctx.fraction)))
    # Each schema block as written, too: a curriculum derives some of its values (a bad one would
    # otherwise pass unseen), and a span cell of any schema can be asked for as a target.
    cells += [(schema, Context("span")) for schema in schemas if (schema, "span") not in
              {(s, c.kind) for s, c in cells}]
    for schema, ctx in cells:
        where = f"pretrain.schemas.{schema}"
        block = schemas.get(schema, {})
        origin = {} if "seed" in block else dict(seed_origin)
        derived = {"max_steps", "lr_scheduler", "warmup_ratio"} if ctx.kind in ("stage1", "curriculum") else set()

        def parse_pretrain(_values: dict[str, Any], schema: str = schema, ctx: Context = ctx) -> None:
            parse_params(PretrainParams, pretrain_job_params(config, schema, ctx))

        check(parse_pretrain, {}, where, origin,
              (derived, f"the value grid cell {schema}/{ctx.tag} derives from it: "))

    for dataset, ds_spec in config["finetune"]["datasets"].items():
        settings = finetune_settings(config, dataset)
        finetune_origin = {} if "seed" in settings else dict(seed_origin)
        # A dataset's own params override finetune.params: name the key where the bad value came from.
        finetune_origin.update({k: f"finetune.datasets.{dataset}.params.{k}" for k in ds_spec.get("params", {})})
        check(dataclass_parser(FinetuneParams), finetune_job_params(config, dataset), "finetune.params",
              finetune_origin)
    check(dataclass_parser(TrainDataParams), bm25_negatives_job_params(config), "finetune.negatives",
          {"depth": "finetune.negatives.bm25_depth"})
    check(dataclass_parser(TrainDataParams), mined_negatives_job_params(config, None), "finetune.negatives",
          {"depth": "finetune.negatives.mined_depth", "keep": "finetune.negatives.mined_keep"})

    for topicset, spec in topic_sets(config).items():
        collection = spec["collection"]
        depth_key = ("finetune.negatives.bm25_depth" if topicset.startswith("train-")
                     else f"evalsets.{topicset}.depth")
        check(dataclass_parser(BM25SearchParams), bm25_search_job_params(config, topicset),
              f"collections.{collection}.bm25", {"depth": depth_key})
    for name in config.get("external_encoders", {}):
        where = f"external_encoders.{name}"
        check(dataclass_parser(EncodeParams), encode_job_params(config, f"zeroshot/ext/{name}"), where)
        for topicset in topic_sets(config):
            depth_key = ("finetune.negatives.mined_depth" if topicset.startswith("train-")
                         else f"evalsets.{topicset}.depth")
            check(dataclass_parser(DenseSearchParams), dense_search_job_params(config, topicset, f"zeroshot/ext/{name}"),
                  where, {"depth": depth_key})
    for evalset in config["evalsets"]:
        check(dataclass_parser(EvaluateParams), evaluate_job_params(config, evalset, None), f"evalsets.{evalset}")
    return errors
