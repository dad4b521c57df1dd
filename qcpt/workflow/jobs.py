"""Shared by the job modules: the models a job reads (an encoder tag or model key as a folder and the
inputs that folder is)."""

from __future__ import annotations

import json
from typing import Any

from . import cells
from .paths import Paths

EMBEDDED = "embedded"  # encoder.init: the workflow builds the initial encoder (the demo)
EMBEDDED_DOC2QUERY = "embedded-doc2query"  # a generator model the workflow trains (the demo)


def as_json(obj: Any) -> str:
    """Parameters travel to commands as one JSON object; Snakemake reruns a job when they change."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def describe_batch(plan: Any) -> str:
    """A training job's effective global batch (qcpt.training.batching.BatchPlan), as its log's first line."""
    return (f"global batch {plan.global_batch_size} = {plan.per_device_batch_size} per device x "
            f"{plan.devices} devices x {plan.gradient_accumulation_steps} accumulation")


def paths(config: dict[str, Any]) -> Paths:
    return Paths(config["results"])



def encoder_init_path(config: dict[str, Any]) -> str:
    if config["encoder"]["init"] == EMBEDDED:
        return paths(config).of("embedded_encoder", corpus=config["corpus"]["name"])
    return config["encoder"]["init"]


def encoder_init_input(config: dict[str, Any]) -> list[str]:
    """The initial encoder as an input when the workflow builds it, else nothing."""
    return [encoder_init_path(config)] if config["encoder"]["init"] == EMBEDDED else []


def encoder_model(config: dict[str, Any], tag: str) -> tuple[str, list[str]]:
    """The folder (or model spec) of an encoder tag, and the inputs it is (when the workflow builds it)."""
    encoder = cells.parse_encoder(tag)
    if encoder.kind == "base":
        return encoder_init_path(config), encoder_init_input(config)
    if encoder.kind == "ext":
        return config["external_encoders"][encoder.name]["model"], []
    path = paths(config).of("pretrain_model", corpus=encoder.corpus, schema=encoder.schema, context=encoder.context)
    return path, [path]


def model(config: dict[str, Any], modelkey: str) -> tuple[str, list[str]]:
    """The folder a model key encodes with, and its inputs (see :func:`encoder_model`)."""
    key = cells.parse_model_key(modelkey)
    if key.zeroshot:
        return encoder_model(config, key.encoder)
    path = paths(config).of("finetune_model", dataset=key.dataset, encoder=key.encoder, stage=key.stage)
    return path, [path]


def generator_model(config: dict[str, Any], gen: str) -> tuple[str, list[str]]:
    """A generator's model as the generation job gets it, and the inputs that makes it read: the
    model the workflow prepares, or a precomputed expansions file (a changed file regenerates)."""
    spec = config["generators"][gen]
    name = spec["model"]
    prepared = name == EMBEDDED_DOC2QUERY or name.startswith("gguf:")
    path = paths(config).of("generator_model", gen=gen) if prepared else name
    if spec["backend"] == "precomputed":
        return path, [] if name.startswith("package:") else [name]
    return path, [path] if prepared else []

