"""Jobs of rules/corpus.smk: documents, Punkt model, embedded encoder, passages."""

from __future__ import annotations

from typing import Any

from ..defaults import setting
from .base import Job, encoder_init_input, encoder_init_path, paths
from .data import data_input


def documents(config: dict[str, Any], corpus: str) -> Job:
    return Job({"source": data_input(config, config["corpus"]["source"])}, args={"fmt": setting(config, "corpus", "format")})


def train_punkt(config: dict[str, Any], corpus: str) -> Job:
    return Job({"documents": paths(config).of("documents", corpus=corpus)}, config.get("punkt", {}))


def build_encoder(config: dict[str, Any], corpus: str) -> Job:
    return Job({"documents": paths(config).of("documents", corpus=corpus)}, config["encoder"].get("embedded", {}))


def passages(config: dict[str, Any], corpus: str) -> Job:
    p = paths(config)
    inputs = {"documents": p.of("documents", corpus=corpus), "punkt": p.of("punkt", corpus=corpus),
              "tokenizer": encoder_init_input(config)}
    return Job(inputs, config.get("passages", {}), {"tokenizer": encoder_init_path(config)})
