"""The query-generation stage's declaration (:mod:`qcpt.workflow.stages`): the passage order, the
generators and their query pools, consistency and selection (rules/querygen.smk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.params import ConfigError
from ..workflow.defaults import setting
from ..workflow.stages import ParamsBlock, Stage
from . import jobs as querygen_jobs
from .consistency import ConsistencyParams
from .doc2query import Doc2QueryParams
from .sharding import OrderParams
from .spec import GeneratorSpec


def job_params(config: dict[str, Any]) -> Iterator[ParamsBlock | str]:
    yield ParamsBlock("querygen", {"seed": setting(config, "querygen", "order_seed")}, OrderParams,
                      origin={"seed": "querygen.order_seed"})
    consistency = {k: v for k, v in config["querygen"].get("consistency", {}).items() if k != "enabled"}
    yield ParamsBlock("querygen.consistency", consistency, ConsistencyParams)
    for gen, spec in config["generators"].items():
        where = f"generators.{gen}"
        origin = {"name": where, **({} if "seed" in spec else {"seed": "seed"})}
        yield ParamsBlock(where, querygen_jobs.generator_job_spec(config, gen, spec["model"]), GeneratorSpec,
                          parser=GeneratorSpec.from_dict, origin=origin)
        if "train" in spec:
            if spec["model"] != querygen_jobs.EMBEDDED_DOC2QUERY:
                yield (f"config key '{where}.train': only the embedded-doc2query model is trained "
                       f"(this generator's model is {spec['model']!r})")
            else:
                yield ParamsBlock(f"{where}.train", spec["train"], Doc2QueryParams)


def check_expansions(config: dict[str, Any]) -> None:
    """A precomputed generator's expansions file must exist before any job runs (its rows are
    checked by the generation job, which names file, line and field)."""
    from .precomputed import expansions_path

    for name, gen in config["generators"].items():
        if gen["backend"] == "precomputed":
            try:
                expansions_path(gen["model"])
            except (OSError, ValueError) as err:
                raise ConfigError(f"config key 'generators.{name}.model': {err}") from err


STAGE = Stage(
    name="querygen",
    config_keys=("generators", "querygen"),
    params_blocks={"generators.<name>": GeneratorSpec, "generators.<name>.train": Doc2QueryParams,
                   "querygen.consistency": ConsistencyParams},
    params=job_params,
    references=check_expansions,
)
