"""The corpus stage's declaration (:mod:`qcpt.workflow.stages`): documents, the Punkt model, the
embedded encoder and the passages (rules/corpus.smk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..workflow.stages import ParamsBlock, Stage
from .params import EncoderParams, PassageParams, PunktParams


def job_params(config: dict[str, Any]) -> Iterator[ParamsBlock]:
    yield ParamsBlock("punkt", config.get("punkt", {}), PunktParams)
    if config["encoder"]["init"] == "embedded":
        yield ParamsBlock("encoder.embedded", config["encoder"].get("embedded", {}), EncoderParams)
    yield ParamsBlock("passages", config.get("passages", {}), PassageParams)


STAGE = Stage(
    name="corpus",
    config_keys=("corpus", "punkt", "encoder", "passages"),
    params_blocks={"punkt": PunktParams, "encoder.embedded": EncoderParams, "passages": PassageParams},
    params=job_params,
)
