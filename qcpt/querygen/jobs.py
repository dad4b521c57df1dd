"""What rules/querygen.smk's jobs read and get beyond their templates: the passage order's and the
selection's settings, how a generator's model is prepared, a generator's settings, model and
resources, and the shards a query set reads."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..workflow import grid
from ..workflow.defaults import setting
from ..workflow.jobs import (
    EMBEDDED_DOC2QUERY,
    as_json,
    encoder_init_input,
    encoder_init_path,
    generator_model,
    paths,
)
from .generators import registry as backend_registry

# Generator keys the workflow reads itself (interpreter, demo training, sharding, resources): not
# generation settings.
GENERATOR_WORKFLOW_KEYS = ("python", "train", "shard_size", "resource_family")


def passage_order_job_params(config: dict[str, Any]) -> dict[str, Any]:
    return {"seed": setting(config, "querygen", "order_seed"),
            "expected_passages": config["corpus"]["num_passages"]}


class Preparation(NamedTuple):
    """How a generator's model is made: the command, its arguments and the files it reads."""

    command: str
    argv: list[str]
    inputs: dict[str, str | list[str]]


def generator_preparation(config: dict[str, Any], gen: str) -> Preparation:
    """Train the demo's doc2query T5 (on the first fine-tuning dataset), or dequantise a GGUF once: two commands with
    their own arguments and inputs, so the rule takes the whole command line from here."""
    spec = config["generators"][gen]
    p = paths(config)
    out = p.of("generator_model", gen=gen)
    if spec["model"] != EMBEDDED_DOC2QUERY:
        return Preparation("querygen.gguf", ["--source", spec["model"][len("gguf:"):], "--out", out], {})
    dataset = next(iter(config["finetune"]["datasets"]))
    topicset = grid.train_topicset(dataset)
    inputs = {"collection": p.of("collection", collection=config["finetune"]["datasets"][dataset]["collection"]),
              "topics": p.of("topics", topicset=topicset), "qrels": p.of("qrels", topicset=topicset),
              "tokenizer": encoder_init_input(config)}
    argv = ["--collection", inputs["collection"], "--topics", inputs["topics"], "--qrels", inputs["qrels"],
            "--tokenizer", encoder_init_path(config), "--out", out, "--log", p.log("doc2query_train").format(gen=gen),
            "--params", as_json(spec.get("train", {}))]
    return Preparation("querygen.doc2query", argv, inputs)


def generator_job_spec(config: dict[str, Any], gen: str, model_path: str) -> dict[str, Any]:
    """The generation settings of generator ``gen`` (``--generator``), ``model_path`` its resolved model."""
    spec = {k: v for k, v in config["generators"][gen].items() if k not in GENERATOR_WORKFLOW_KEYS}
    spec["name"] = gen
    spec["model"] = model_path
    spec.setdefault("seed", setting(config, "seed"))
    return spec


def generation_spec(config: dict[str, Any], gen: str) -> dict[str, Any]:
    """A generation job's ``--generator`` settings, with the generator's model as the job gets it."""
    return generator_job_spec(config, gen, generator_model(config, gen)[0])


def generator_model_inputs(config: dict[str, Any], gen: str) -> list[str]:
    """The generator's model (or expansions file) as an input of a generation job."""
    return generator_model(config, gen)[1]


def generator_family(config: dict[str, Any], gen: str, **_: str) -> str:
    """A generator's row of `resources:`: its own `resource_family` (e.g. a 13B model with tensor
    parallelism over 2 GPUs), else its backend's (qcpt/querygen/generators/)."""
    spec = config["generators"][gen]
    return spec.get("resource_family") or backend_registry.get(spec["backend"]).resource_family


def generator_env(config: dict[str, Any], gen: str) -> str:
    return backend_registry.get(config["generators"][gen]["backend"]).conda_env


def consistency(config: dict[str, Any]) -> dict[str, Any] | None:
    """Round-trip consistency@k settings of the selection jobs (InPars/Promptagator's filter, here a
    measure in the stats JSON), None where `querygen.consistency: {enabled: false}` turns it off."""
    block = config["querygen"].get("consistency", {})
    if not setting(config, "querygen", "consistency", "enabled"):
        return None
    return {k: v for k, v in block.items() if k != "enabled"}


def selected_shards(config: dict[str, Any], corpus: str, gen: str, amount: str) -> list[str]:
    """The generation shards a query set of ``amount`` passages reads: a prefix of them."""
    p = paths(config)
    return [p.of("query_shard", corpus=corpus, gen=gen, shard=f"{i:05d}")
            for i in range(grid.shards_for_amount(config, gen, amount))]


def selection_job_params(config: dict[str, Any], amount: str) -> dict[str, Any]:
    everything = amount == "all"
    return {"amount": None if everything else int(amount),
            "expected_passages": config["corpus"]["num_passages"] if everything else None}
