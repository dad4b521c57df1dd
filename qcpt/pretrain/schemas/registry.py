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

from dataclasses import dataclass, field
from typing import Any, Literal

from ...core.plugins import Registry

ENTRY_POINT_GROUP = "qcpt.schemas"

# The schemas of this package, in the order the config docs and the report list them.
BUILTIN = (
    "qcpt.pretrain.schemas.contrastive",
    "qcpt.pretrain.schemas.cotmae",
    "qcpt.pretrain.schemas.bottleneck",
)

REGISTRY: Registry[Schema] = Registry("pre-training schema", ENTRY_POINT_GROUP, BUILTIN)

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


def register(schema: Schema) -> Schema:
    """Add ``schema`` (a second registration of the same name must be the same declaration)."""
    return REGISTRY.register(schema)


def schemas() -> dict[str, Schema]:
    """Every registered schema by name, the built-in ones first."""
    return REGISTRY.items()


def names() -> tuple[str, ...]:
    return REGISTRY.names()


def get(name: str) -> Schema:
    return REGISTRY.get(name)
