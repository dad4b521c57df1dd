"""The registry of pre-training schemas: what a schema declares, and the list every other part
reads (the ``--params`` check, the config schema's enums, the cell grammar, the report's labels,
the benches).

A schema is one module that calls :func:`register` when imported: the built-in ones are listed in
:data:`BUILTIN` (one line each), and a researcher's own package adds one through the entry point
group ``qcpt.schemas`` (``[project.entry-points."qcpt.schemas"] toy = "toy_schema"`` in its
pyproject), found on first use, so nothing of qcpt changes. Import-light: no torch here; a
schema's model builder is named as ``module:function`` and imported when a run starts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

ENTRY_POINT_GROUP = "qcpt.schemas"

# The schemas of this package, in the order the config docs and the report list them.
BUILTIN = (
    "qcpt.pretrain.schemas.contrastive",
    "qcpt.pretrain.schemas.cotmae",
    "qcpt.pretrain.schemas.bottleneck",
)

# What the collator makes of a context: "mlm" masks it at the encoder rate (mlm_probability),
# "context_mlm" at context_mlm_probability, "next_token" keeps it whole with next-token labels.
ContextLabels = Literal["mlm", "context_mlm", "next_token"]


@dataclass(frozen=True)
class Schema:
    name: str  # the config's and the cells' name (pretrain.grid[].schema, pt/<corpus>/<schema>/...)
    label: str  # how the report names it
    description: str  # one line: the paper it follows
    builder: str  # "module:function" taking (encoder, PretrainParams) and returning the loss module
    context_labels: ContextLabels
    # The loss is a mean of per-token terms, so gradient accumulation gives the update of one big
    # batch; a loss over in-batch negatives is not (its negatives are the batch).
    accumulable: bool
    decoder: bool = False  # needs decoder_layers >= 1
    gradient_caching: bool = False  # grad_cache_chunk applies
    # PretrainParams fields this schema sets (the paper's values); the config overrides any of them.
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTERED: dict[str, Schema] = {}
_loaded = False


def register(schema: Schema) -> Schema:
    """Add ``schema`` (a second registration of the same name must be the same declaration)."""
    held = _REGISTERED.get(schema.name)
    if held is not None and held != schema:
        raise ValueError(f"pre-training schema {schema.name!r} is registered twice, differently")
    _REGISTERED[schema.name] = schema
    return schema


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as err:  # a broken plug-in is named, not skipped
            raise ImportError(f"pre-training schema plug-in {entry.name!r} ({entry.value}): {err}") from err


def schemas() -> dict[str, Schema]:
    """Every registered schema by name, the built-in ones first."""
    _load()
    return dict(_REGISTERED)


def names() -> tuple[str, ...]:
    return tuple(schemas())


def get(name: str) -> Schema:
    found = schemas().get(name)
    if found is None:
        raise ValueError(f"unknown pre-training schema {name!r} (known: {', '.join(names())})")
    return found
