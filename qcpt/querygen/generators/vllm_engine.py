"""``vllm``: a vLLM offline engine, in the interpreter a generator's ``python:`` names (README, "The
vLLM path"); its jobs take the ``generate_vllm`` resources and the vLLM conda environment."""

from __future__ import annotations

from typing import Any

from .registry import GeneratorBackend, register


def load(spec: Any) -> Any:
    from ..backends import VLLMBackend

    return VLLMBackend(spec)


BACKEND = register(GeneratorBackend(
    name="vllm", description="a vLLM engine", sampler=f"{__name__}:load",
    resource_family="generate_vllm", conda_env="../envs/vllm.yaml",
))
