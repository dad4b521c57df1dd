"""The ablation grid of a (validated) config, as cell names: what the Snakefile builds.

``metrics_targets`` are the leaves of the DAG; the other functions name the cells in between
(pre-training cells, encoders, query sets, topic sets) in config order, without repeats.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from ..pretrain.contexts import registry as contexts
from ..querygen import sharding
from . import cells
from .cells import Context
from .defaults import setting
from .paths import Paths


def evaluation_blocks(config: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """``evaluation.zeroshot``/``finetuned`` as a list of product blocks (one block may be given bare)."""
    blocks = config["evaluation"].get(section, [])
    return [blocks] if isinstance(blocks, dict) else list(blocks)


def evalset_members(config: dict[str, Any], evalset: str) -> list[str]:
    """The evalsets a mean evalset averages (``mean_of``), else ``[]``."""
    return list(config["evalsets"][evalset].get("mean_of", []))


def evalset_measures(config: dict[str, Any], evalset: str) -> list[str]:
    return list(setting(config, "evalsets", evalset, "measures"))


def block_seeds(config: dict[str, Any], block: dict[str, Any]) -> list[int | None]:
    """A grid block's seed replicates: its ``seeds``, else the config's ``seeds``, else one run; the
    config's ``seed`` is None (its cells keep their unseeded names)."""
    default = setting(config, "seed")
    seeds = block.get("seeds", config.get("seeds", [default]))
    return list(dict.fromkeys(None if seed == default else int(seed) for seed in seeds))


def pretrain_cells(config: dict[str, Any]) -> list[tuple[str, Context]]:
    """Every ``(schema, context)`` of the pre-training grid, in config order, without repeats; a
    block's seed replicates follow each of its cells."""
    out: list[tuple[str, Context]] = []
    for i, block in enumerate(config["pretrain"]["grid"]):
        seeds = block_seeds(config, block)
        for schema, kind in itertools.product(block["schema"], block["context"]):
            named = contexts.get(kind).fields  # the block's lists this kind's tags take values from
            combos = [
                Context(kind, gen, count, amount, frac)
                for gen, count, amount, frac in itertools.product(
                    block["generator"] if "generator" in named else [None],
                    setting(config, "pretrain", "grid", i, "count") if "count" in named else [None],
                    setting(config, "pretrain", "grid", i, "amount") if "amount" in named else [None],
                    block.get("fraction", [None]) if "fraction" in named else [None],
                )
            ]
            for ctx in (c.with_seed(seed) for c in combos for seed in seeds):
                if (schema, ctx) not in out:
                    out.append((schema, ctx))
    return out


def seed_replicates(config: dict[str, Any], system: str) -> list[str]:
    """The systems of every seed replicate of ``system``'s pre-trained cell in the grid, sorted by
    seed (the config's seed as its number); ``[system]`` for BM25, the base and external encoders
    and cells without replicates."""
    if system == cells.BM25:
        return [system]
    key = cells.parse_model_key(system)
    encoder = cells.parse_encoder(key.encoder)
    if encoder.kind != "pt":
        return [system]
    base = cells.parse_context(encoder.context).with_seed(None)
    default = setting(config, "seed")
    found = sorted(
        (default if ctx.seed is None else ctx.seed, ctx) for schema, ctx in pretrain_cells(config)
        if schema == encoder.schema and ctx.with_seed(None) == base
    )
    if len(found) < 2:
        return [system]
    return [key.with_encoder(encoder.with_context(ctx.tag)).key for _, ctx in found]


def encoder_tags(config: dict[str, Any]) -> list[str]:
    corpus = config["corpus"]["name"]
    tags = [cells.Encoder("base").tag]
    tags += [cells.pretrained(corpus, schema, ctx).tag for schema, ctx in pretrain_cells(config)]
    tags += [cells.external(name).tag for name in config.get("external_encoders", {})]
    return tags


def expand_encoders(config: dict[str, Any], listed: list[str]) -> list[str]:
    """An evaluation block's ``encoders`` with ``all`` expanded to every encoder tag, and a listed
    pre-trained cell to its seed replicates."""
    out: list[str] = []
    for tag in listed:
        if tag == "all":
            tags = encoder_tags(config)
        else:
            replicates = seed_replicates(config, cells.model_key(cells.ZEROSHOT, tag).key)
            tags = [tag, *(cells.parse_model_key(s).encoder for s in replicates)]
        for t in tags:
            if t not in out:
                out.append(t)
    return out


def metrics_cells(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(evalset, system)`` the config evaluates."""
    ev = config["evaluation"]
    out = [(e, cells.BM25) for e in ev.get("bm25", [])]
    for zs in evaluation_blocks(config, "zeroshot"):
        for enc, e in itertools.product(expand_encoders(config, zs["encoders"]), zs["evalsets"]):
            out.append((e, cells.model_key(cells.ZEROSHOT, enc).key))
    for ft in evaluation_blocks(config, "finetuned"):
        for ds, enc, stage, e in itertools.product(
            ft["datasets"], expand_encoders(config, ft["encoders"]), ft["stages"], ft["evalsets"]
        ):
            out.append((e, cells.model_key(ds, enc, stage).key))
    return list(dict.fromkeys(out))


def metrics_path(root: str, cell: str) -> str:
    """The metrics JSON of ``cell`` = ``<evalset>/<system>`` (e.g. ``scifact-test/bm25``)."""
    evalset, system = cells.parse_metrics_cell(cell)
    return Paths(root).of("metrics", evalset=evalset, system=system)


def parse_metrics_path(root: str, path: str) -> tuple[str, str]:
    """``(evalset, system)`` of a metrics file under ``root`` (the inverse of :func:`metrics_path`)."""
    values = Paths(root).parse("metrics", path)
    if values is None:
        raise cells.ConfigError(f"not a metrics file under {root}: {path}")
    return cells.parse_metrics_cell(cells.metrics_cell(values["evalset"], values["system"]))


def metrics_targets(config: dict[str, Any]) -> list[str]:
    """Every metrics JSON the config asks for: the leaves of the DAG."""
    paths = Paths(config["results"])
    return [paths.of("metrics", evalset=e, system=s) for e, s in metrics_cells(config)]


def query_sets(config: dict[str, Any]) -> list[tuple[str, int, int | str]]:
    """Every ``(generator, count, amount)`` query TSV the pre-training grid reads."""
    out: list[tuple[str, int, int | str]] = []
    for _, ctx in pretrain_cells(config):
        if ctx.reads_queries and (ctx.generator, ctx.count, ctx.amount) not in out:
            out.append((ctx.generator, ctx.count, ctx.amount))
    return out


def shard_size(config: dict[str, Any], generator: str) -> int:
    """Passages per generation shard: the generator's own ``shard_size`` (LLMs are slower than
    docT5query, so they may want smaller jobs) or ``querygen.shard_size``."""
    return config["generators"][generator].get("shard_size", config["querygen"]["shard_size"])


def shards_for_amount(config: dict[str, Any], generator: str, amount: int | str) -> int:
    """Generation shards a query set of ``amount`` passages (or ``"all"``) reads: a prefix."""
    total = config["corpus"]["num_passages"]
    return sharding.shards_for_amount(total if amount == "all" else int(amount), shard_size(config, generator))


TRAIN_PREFIX = "train-"  # a fine-tuning dataset's training topics: topic set train-<dataset>


def train_topicset(dataset: str) -> str:
    return f"{TRAIN_PREFIX}{dataset}"


def training_dataset(config: dict[str, Any], topicset: str) -> str | None:
    """The fine-tuning dataset whose training topics ``topicset`` is, else None (an evalset)."""
    return next((ds for ds in config["finetune"]["datasets"] if train_topicset(ds) == topicset), None)


def topic_sets(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Named topic/qrels sets: every evalset, and ``train-<dataset>`` for fine-tuning datasets."""
    sets = {name: spec for name, spec in config["evalsets"].items() if "mean_of" not in spec}
    for name, spec in config["finetune"]["datasets"].items():
        sets[train_topicset(name)] = spec
    return sets


def search_depth(config: dict[str, Any], topicset: str, negatives_key: str = "mined_depth") -> int:
    """Run depth: the evalset's ``depth``; for a fine-tuning dataset's training topics, the depth the
    negatives are drawn from (``finetune.negatives.<negatives_key>``)."""
    if training_dataset(config, topicset) is not None:
        searched = setting(config, "finetune", "negatives", "mined_search_depth") if negatives_key == "mined_depth" else None
        return searched or setting(config, "finetune", "negatives", negatives_key)
    return setting(config, "evalsets", topicset, "depth")


def hard_negatives_datasets_pattern(config: dict[str, Any]) -> str:
    """The ``dataset`` wildcard constraint of rule ``finetune_beir``: the fine-tuning datasets
    trained on a hard-negatives file (QAC Table 2's BEIR retriever), or a pattern matching nothing."""
    names = [d for d, spec in config["finetune"]["datasets"].items() if spec.get("hard_negatives")]
    return "|".join(re.escape(d) for d in names) or r"(?!)"
