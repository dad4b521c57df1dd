"""The workflow's defaults: what an optional config key means when it is left out, in one table.

Keys are config key paths; ``*`` stands for a name (an evalset, a collection) or a grid block's
index. :func:`setting` reads a key with its default, so no rule or job function writes a default of
its own (tests/workflow/test_workflow_defaults.py checks every key here is a key of the config schema).
A job's own parameters (learning rates, batch sizes …) default in its ``--params`` dataclass, not
here: where the workflow reads one of them (:func:`dataclass_defaults`), it reads the field's default.
"""

from __future__ import annotations

import dataclasses
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
    "collections.*.encode_shards": 1,  # 0: each search job encodes the collection itself
    "collections.*.format": "auto",
    "corpus.format": "auto",
    "pretrain.grid.*.count": (5,),  # queries per passage of a query/mixed/curriculum cell
    "pretrain.grid.*.amount": ("all",),  # passages with generated queries
}


def dataclass_defaults() -> dict[str, tuple[type, str | None]]:
    """Config keys whose default is the default of a ``--params`` dataclass field, by key: the class
    and the field, or None for a block the job takes as written (its every key is a field)."""
    # Imported here: light dataclass modules (no torch), needed only when such a key is read.
    from ..retrieval.evaluate import EvaluateParams
    from ..retrieval.params import EncodeParams, FinetuneParams

    return {
        # zero-shot encoding under `encoder.pooling` uses fine-tuning's lengths and normalisation
        "finetune.params": (FinetuneParams, None),
        "evalsets.*.measures": (EvaluateParams, "measures"),
        "evalsets.*.relevance_level": (EvaluateParams, "relevance_level"),
        "encoder.amp": (EncodeParams, "amp"),  # dense encoding under half-precision autocast
    }


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (a fresh one where it has a factory)."""
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            break
    raise KeyError(f"{cls.__name__}.{name} has no default")


def _patterns(parts: list[str]) -> list[str]:
    """``parts`` as a key of the tables: as written, then with a name or index as ``*``."""
    return [".".join(parts if i == 0 else [*parts[:i - 1], "*", *parts[i:]]) for i in range(len(parts) + 1)]


def default(*keys: str | int) -> Any:
    """The default of config key ``keys`` (a name or index may stand where the table has ``*``)."""
    parts = [str(k) for k in keys]
    for candidate in _patterns(parts):
        if candidate in DEFAULTS:
            return DEFAULTS[candidate]
    fields = dataclass_defaults()
    for candidate in _patterns(parts):  # one field's key
        if fields.get(candidate, (None, None))[1] is not None:
            return field_default(*fields[candidate])  # type: ignore[arg-type]
    for candidate in _patterns(parts[:-1]):  # a key of a block taken as written
        if candidate in fields and fields[candidate][1] is None:
            return field_default(fields[candidate][0], parts[-1])
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
