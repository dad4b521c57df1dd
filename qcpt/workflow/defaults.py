"""The workflow's defaults: what an optional config key means when it is left out, in one table.

Keys are config key paths; ``*`` stands for a name (an evalset, a collection) or a grid block's
index. :func:`setting` reads a key with its default, so no rule or job function writes a default of
its own (tests/test_workflow_jobs.py checks every key here is a key of the config schema).
A job's own parameters (learning rates, batch sizes …) default in its ``--params`` dataclass, not here.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "seed": 42,  # every seeded job's seed unless its own block sets one
    "querygen.order_seed": 42,  # the passage order that defines the generation shards
    "querygen.consistency.enabled": True,  # consistency@k of every selected query file
    "finetune.negatives.bm25_depth": 200,  # BM25 run depth for the BM25 negatives
    "finetune.negatives.bm25_keep": None,  # all of them; the QAC code: 128 (build_train.py --n_sample)
    "finetune.negatives.bm25_selection": "random",  # with bm25_keep: a seeded sample (build_train.py shuffles)
    "finetune.negatives.mined_depth": 200,  # dense run depth for the mined negatives
    "finetune.negatives.mined_keep": 128,
    "finetune.negatives.mined_selection": "top",
    "finetune.negatives.mined_depth_counts": "hits",  # the run's top mined_depth, then positives dropped
    "finetune.negatives.mined_search_depth": None,  # the mining run's depth; None: mined_depth
    "finetune.negatives.merge_bm25": False,
    "evalsets.*.depth": 1000,  # run depth of an evaluation search
    "evalsets.*.measures": ("MRR@10", "R@50", "R@1000", "nDCG@10"),
    "evalsets.*.relevance_level": 1,
    "encoder.amp": False,  # dense encoding under half-precision autocast
    "collections.*.encode_shards": 1,  # 0: each search job encodes the collection itself
    "collections.*.format": "auto",
    "corpus.format": "auto",
    "pretrain.grid.*.count": (5,),  # queries per passage of a query/mixed/curriculum cell
    "pretrain.grid.*.amount": ("all",),  # passages with generated queries
    # What zero-shot encoding uses under `encoder.pooling` when finetune.params leaves it out
    # (the fine-tuning dataclass's own defaults; tests/test_workflow_jobs.py checks they agree).
    "finetune.params.normalize": False,
    "finetune.params.p_max_len": 144,
    "finetune.params.q_max_len": 32,
}


def default(*keys: str | int) -> Any:
    """The default of config key ``keys`` (a name or index may stand where the table has ``*``)."""
    parts = [str(k) for k in keys]
    for i in range(len(parts) + 1):
        candidate = ".".join(parts if i == 0 else [*parts[:i - 1], "*", *parts[i:]])
        if candidate in DEFAULTS:
            return DEFAULTS[candidate]
    raise KeyError(f"no default for config key {'.'.join(parts)!r}")


def setting(config: dict[str, Any], *keys: str | int) -> Any:
    """Config key ``keys`` (e.g. ``"finetune", "negatives", "bm25_depth"``), else its default."""
    node: Any = config
    for key in keys:
        if not isinstance(node, (dict, list)) or (isinstance(node, dict) and key not in node):
            return default(*keys)
        node = node[key]
    return node


def resource(config: dict[str, Any], family: str, key: str, default: Any) -> Any:
    """Resources per family of rules from config ``resources`` (cluster profiles set these): the
    family's own row, else the ``default`` row, else ``default`` (the rule's local value)."""
    table = config.get("resources", {})
    return table.get(family, {}).get(key, table.get("default", {}).get(key, default))
