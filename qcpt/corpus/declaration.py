"""The corpus stage's declaration (:mod:`qcpt.workflow.stages`): documents, the Punkt model, the
embedded encoder and the passages (rules/corpus.smk), and the data sources it reads (corpus,
collections, topics, qrels: an ``irds:`` source must name a dataset that has them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.params import ConfigError
from ..workflow.stages import ParamsBlock, Stage
from .params import EncoderParams, PassageParams, PunktParams


def job_params(config: dict[str, Any]) -> Iterator[ParamsBlock]:
    yield ParamsBlock("punkt", config.get("punkt", {}), PunktParams)
    if config["encoder"]["init"] == "embedded":
        yield ParamsBlock("encoder.embedded", config["encoder"].get("embedded", {}), EncoderParams)
    yield ParamsBlock("passages", config.get("passages", {}), PassageParams)


def check_data_sources(config: dict[str, Any]) -> None:
    """An ``irds:`` source names a dataset of ir_datasets that has the part it is read for;
    ``format: raw`` is for an ``irds:`` source only (qcpt.corpus.irds)."""
    from . import irds
    from .jobs.data import config_sources

    part = {"docs": "docs", "raw": "docs", "topics": "queries", "qrels": "qrels"}
    for key, value, use in config_sources(config):
        if not irds.is_irds(value):
            if use == "raw":
                raise ConfigError(f"config key '{key.rsplit('.', 1)[0]}.format': 'raw' is for an irds: source "
                                  f"(the file ir_datasets downloaded), not {value!r}")
            continue
        did = irds.dataset_id(value)
        if use == "hard_negatives":
            raise ConfigError(f"config key '{key}': ir_datasets does not serve sentence-transformers' hard "
                              f"negatives; name the file ({value!r})")
        if not irds.known(did):
            raise ConfigError(f"config key '{key}': irds:{did} is not a dataset ID of ir_datasets "
                              f"{irds.IRDS_VERSION} (https://ir-datasets.com lists them)")
        dataset = irds.load(did)
        if not getattr(dataset, f"has_{part[use]}")():
            raise ConfigError(f"config key '{key}': irds:{did} has no {part[use]}")
        if use == "raw":
            try:
                irds.raw_docs(did)  # the registry names its raw file
            except irds.IrdsError as err:
                raise ConfigError(f"config key '{key.rsplit('.', 1)[0]}.format': {err}") from None


STAGE = Stage(
    name="corpus",
    config_keys=("corpus", "punkt", "encoder", "passages"),
    params_blocks={"punkt": PunktParams, "encoder.embedded": EncoderParams, "passages": PassageParams},
    params=job_params,
    references=check_data_sources,
)
