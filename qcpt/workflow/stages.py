"""What a stage of the workflow declares: the config keys it owns and the ``--params`` of its jobs.

Each stage (corpus, query generation, pre-training, retrieval, report) has one declaration,
``STAGE`` in its package's ``declaration`` module; :mod:`qcpt.config` validates a config by
iterating them, so it knows no stage's parameter classes or job functions. A declaration says

- ``config_keys``: the top-level config keys that are the stage's (tests/config/test_config_stages.py
  checks that every key of the config schema belongs to one stage or to the workflow as a whole);
- ``params_blocks``: the config blocks its jobs take as written, by key path (``<name>`` for a name
  the config chooses), and the dataclass each one is parsed with (the config schema marks the same
  blocks ``x-params``, which docs/config.md lists field by field);
- ``params(config)``: every ``--params`` object the config gives its jobs (:class:`ParamsBlock`),
  so a bad value is reported with its config key path before the first job runs;
- ``references(config)``: the checks across keys that need the stage's own modules (a file that
  must exist, a dataset ID), run once the config matches the schema; a
  :class:`~qcpt.core.params.ConfigError` names the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Top-level config keys that belong to no one stage.
WORKFLOW_KEYS = ("include", "results", "seed", "seeds", "report_to", "checkpoints", "resources")


@dataclass(frozen=True)
class ParamsBlock:
    """One ``--params`` object a job gets from the config, with what names a bad value.

    ``values``: the object, or a function making it when the block is checked (a failure there is
    then reported under ``where``); ``params``: the dataclass the job parses it with, through
    ``parser`` where the job has its own (else :func:`qcpt.core.params.parse_params`); ``where``: the
    config key path the values come from; ``origin``: keys whose value came from another key path;
    ``derived``: keys whose value the workflow computes from the key named, and the words that say how.
    """

    where: str
    values: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    params: type
    parser: Callable[[dict[str, Any]], Any] | None = None
    origin: Mapping[str, str] = field(default_factory=dict)
    derived: tuple[frozenset[str], str] = (frozenset(), "")


@dataclass(frozen=True)
class Stage:
    name: str
    config_keys: tuple[str, ...]
    params_blocks: Mapping[str, type] = field(default_factory=dict)
    # Every --params object of the stage's jobs for a config; a string is an error found on the way
    # (a config key path and what is wrong with it, as one line).
    params: Callable[[dict[str, Any]], Iterable[ParamsBlock | str]] = lambda config: ()
    references: Callable[[dict[str, Any]], None] = lambda config: None
