"""The values the rules of rules/*.smk cannot read off a path template: one module per rule file
(rules/evaluate.smk -> jobs/evaluate.py), one function per value, named for what it returns.

A rule states its inputs, params and command line itself; where an input or a value depends on the
config or on a parsed wildcard (the shards a search reads, the run a metrics file scores, a job's
``--params`` object), it calls a function here, ``fn(config, <wildcards>)``, through rules/common.smk's
``per_job``. Values are passed on as written in the config (not parsed), so a job's parameters, and
hence Snakemake's params rerun trigger, depend only on the config; qcpt.config.validate parses every
``--params`` object built here through the command's own dataclass before the first job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import base, bm25, corpus, data, evaluate, finetune, pretrain, publish, querygen, report
from .base import as_json

# rule name -> the `resources:` row of one of its jobs, for rules whose row depends on the job
FAMILIES: dict[str, Callable[..., str]] = {
    "generate_queries": querygen.generator_family,
    "finetune": finetune.finetune_family,
}


def family(config: dict[str, Any], rule: str, **wildcards: str) -> str:
    return FAMILIES[rule](config, **wildcards)


__all__ = ["FAMILIES", "as_json", "base", "bm25", "corpus", "data", "evaluate", "family", "finetune", "pretrain",
           "publish", "querygen", "report"]
