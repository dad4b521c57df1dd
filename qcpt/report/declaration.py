"""The report stage's declaration (:mod:`qcpt.workflow.stages`): the paper tables and figures and
the expected-score verdicts (rules/report.smk). Its jobs take no ``--params`` from the config."""

from __future__ import annotations

from ..workflow.stages import Stage

STAGE = Stage(name="report", config_keys=("report", "expected"))
