"""Generator backends come from a registry (qcpt/querygen/generators/): the generator spec's check,
the config schema's enum, the driver's dispatch and the jobs' resources read their declarations.
(A backend from a package of its own is dry-run by tests/test_docs_extending.py.)"""

from __future__ import annotations

import pytest

from qcpt import config as qconfig
from qcpt.core.params import ParamsError
from qcpt.querygen import jobs as querygen_jobs
from qcpt.querygen.backends import load_backend
from qcpt.querygen.generators import registry
from qcpt.querygen.spec import GeneratorSpec


def spec(backend: str) -> GeneratorSpec:
    return GeneratorSpec.from_dict({"name": "g", "model": "m.tsv", "prompt": "doct5query", "backend": backend})


def test_the_built_in_backends_in_order_and_in_the_config_schema():
    assert registry.names() == ("hf-seq2seq", "hf-causal", "vllm", "precomputed")
    generator = qconfig.schema_document()["properties"]["generators"]["additionalProperties"]
    assert generator["properties"]["backend"]["enum"] == list(registry.names())


def test_an_unregistered_backend_is_refused_naming_the_registered_ones():
    with pytest.raises(ParamsError, match="'llamacpp' is not one of hf-seq2seq, hf-causal, vllm, precomputed"):
        spec("llamacpp")


def test_a_reading_backend_has_no_sampler_and_a_declaration_names_exactly_one():
    with pytest.raises(ValueError, match="'precomputed' reads its queries; it has no sampler"):
        load_backend(spec("precomputed"))
    with pytest.raises(ValueError, match="give one of sampler and reader"):
        registry.GeneratorBackend(name="x", description="")
    with pytest.raises(ValueError, match="give one of sampler and reader"):
        registry.GeneratorBackend(name="x", description="", sampler="a:b", reader="a:c")


@pytest.mark.parametrize("backend, family, env", [
    ("hf-seq2seq", "generate", "../envs/train.yaml"),
    ("hf-causal", "generate", "../envs/train.yaml"),
    ("vllm", "generate_vllm", "../envs/vllm.yaml"),
    ("precomputed", "default", "../envs/train.yaml"),
])
def test_a_generators_jobs_take_their_backends_resources_and_environment(backend, family, env):
    config = {"generators": {"g": {"backend": backend, "model": "m", "prompt": "doct5query"}}}
    assert querygen_jobs.generator_family(config, "g") == family
    assert querygen_jobs.generator_env(config, "g") == env
    config["generators"]["g"]["resource_family"] = "big"
    assert querygen_jobs.generator_family(config, "g") == "big"
