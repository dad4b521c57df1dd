"""The registry of generator backends: what a backend declares, and the lists every other part reads
(the generator spec's check, the config schema's enum, the driver's dispatch, the jobs' resources).

A backend is one module that registers a :class:`GeneratorBackend` when imported: the built-in ones
are listed in :data:`BUILTIN` (one line each), and a researcher's own package adds one through the
entry point group ``qcpt.generators`` (``[project.entry-points."qcpt.generators"] mine = "my_backend"``
in its pyproject), found on first use, so nothing of qcpt changes. Standard library only: the
generation driver may run in a vLLM interpreter where nothing else is installed, and a backend's
code is named as ``module:function`` and imported when a shard starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...core.plugins import Registry, function

# The backends of this package, in the order the config docs and error messages list them.
BUILTIN = (
    "qcpt.querygen.generators.hf_seq2seq",
    "qcpt.querygen.generators.hf_causal",
    "qcpt.querygen.generators.vllm_engine",
    "qcpt.querygen.generators.precomputed",
)
REGISTRY: Registry[GeneratorBackend] = Registry("generator backend", "qcpt.generators", BUILTIN)


@dataclass(frozen=True)
class GeneratorBackend:
    name: str  # generators.<name>.backend in the config
    description: str  # one line
    # One of the two: ``sampler`` "module:function" taking the GeneratorSpec and returning a
    # qcpt.querygen.backends.Backend (its tokenizer and ``generate``), whose samples fill the pools;
    # ``reader`` "module:function" taking (spec, passage ids) and returning (pools, counters): the
    # queries are read (published expansions), not sampled.
    sampler: str | None = None
    reader: str | None = None
    resource_family: str = "generate"  # its jobs' row of `resources:` (a generator's own resource_family wins)
    conda_env: str = "../envs/train.yaml"  # its jobs' conda environment, relative to rules/

    def __post_init__(self) -> None:
        if (self.sampler is None) == (self.reader is None):
            raise ValueError(f"generator backend {self.name!r}: give one of sampler and reader")

    def load(self, spec: Any) -> Any:
        """The sampling backend for ``spec`` (its model loaded)."""
        if self.sampler is None:
            raise ValueError(f"generator backend {self.name!r} reads its queries; it has no sampler")
        return function(self.sampler)(spec)


def register(backend: GeneratorBackend) -> GeneratorBackend:
    return REGISTRY.register(backend)


def names() -> tuple[str, ...]:
    return REGISTRY.names()


def get(name: str) -> GeneratorBackend:
    return REGISTRY.get(name)
