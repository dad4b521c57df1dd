"""``precomputed``: queries read from a published expansions file (the generator's ``model``), not
sampled (:mod:`qcpt.querygen.precomputed`); its jobs need no accelerator."""

from __future__ import annotations

from .registry import GeneratorBackend, register

BACKEND = register(GeneratorBackend(
    name="precomputed", description="an expansions file",
    reader="qcpt.querygen.precomputed:precomputed_pools", resource_family="default",
))
