"""Jobs of rules/querygen.smk: passage order, generator models, generation shards, query selection."""

from __future__ import annotations

import shlex
from typing import Any

from ...querygen.generators import registry as backend_registry
from .. import grid
from ..defaults import setting
from .base import (
    EMBEDDED_DOC2QUERY,
    Job,
    as_json,
    encoder_init_input,
    encoder_init_path,
    generator_model,
    paths,
)

# Generator keys the workflow reads itself (interpreter, demo training, sharding, resources): not
# generation settings.
GENERATOR_WORKFLOW_KEYS = ("python", "train", "shard_size", "resource_family")


def passage_order(config: dict[str, Any], corpus: str) -> Job:
    return Job({"passages": paths(config).of("passages", corpus=corpus)},
               {"seed": setting(config, "querygen", "order_seed"),
                "expected_passages": config["corpus"]["num_passages"]})


def prepare_generator(config: dict[str, Any], gen: str) -> Job:
    """Train the demo's doc2query T5 (on the first fine-tuning dataset), or dequantise a GGUF once;
    ``args["command"]``: the command's name and arguments."""
    spec = config["generators"][gen]
    p = paths(config)
    out = p.of("generator_model", gen=gen)
    if spec["model"] != EMBEDDED_DOC2QUERY:
        return Job(args={"command": {"name": "querygen.gguf", "argv": ["--source", spec["model"][len("gguf:"):], "--out", out]}})
    dataset = next(iter(config["finetune"]["datasets"]))
    topicset = grid.train_topicset(dataset)
    inputs = {"collection": p.of("collection", collection=config["finetune"]["datasets"][dataset]["collection"]),
              "topics": p.of("topics", topicset=topicset), "qrels": p.of("qrels", topicset=topicset),
              "tokenizer": encoder_init_input(config)}
    argv = ["--collection", inputs["collection"], "--topics", inputs["topics"], "--qrels", inputs["qrels"],
            "--tokenizer", encoder_init_path(config), "--out", out, "--log", p.log("doc2query_train").format(gen=gen),
            "--params", as_json(spec.get("train", {}))]
    return Job(inputs, spec.get("train", {}), {"command": {"name": "querygen.doc2query", "argv": argv}})


def generator_job_spec(config: dict[str, Any], gen: str, model_path: str) -> dict[str, Any]:
    """The generation settings of generator ``gen`` (``--generator``), ``model_path`` its resolved model."""
    spec = {k: v for k, v in config["generators"][gen].items() if k not in GENERATOR_WORKFLOW_KEYS}
    spec["name"] = gen
    spec["model"] = model_path
    spec.setdefault("seed", setting(config, "seed"))
    return spec


def generate_queries(config: dict[str, Any], corpus: str, gen: str, shard: str) -> Job:
    p = paths(config)
    model_path, model_input = generator_model(config, gen)
    inputs = {"passages": p.of("passages", corpus=corpus), "order": p.of("passage_order", corpus=corpus),
              "model": model_input}
    return Job(inputs, generator_job_spec(config, gen, model_path), {"shard_size": grid.shard_size(config, gen)})


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


def select_queries(config: dict[str, Any], corpus: str, gen: str, qcount: str, amount: str) -> Job:
    p = paths(config)
    n = grid.shards_for_amount(config, gen, amount)
    inputs = {"shards": [p.of("query_shard", corpus=corpus, gen=gen, shard=f"{i:05d}") for i in range(n)],
              "order": p.of("passage_order", corpus=corpus), "index": []}
    settings = consistency(config)
    extra = ""
    if settings is not None:
        inputs["index"] = [p.of("passages_index", corpus=corpus)]
        extra = f" --consistency-index {shlex.quote(inputs['index'][0])} --consistency {shlex.quote(as_json(settings))}"
    everything = amount == "all"
    params = {"amount": None if everything else int(amount),
              "expected_passages": config["corpus"]["num_passages"] if everything else None}
    return Job(inputs, params, {"consistency": extra})
