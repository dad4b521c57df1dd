"""`python -m qcpt why`: the dry run's reasons summed per rule, a parameter change spelled out."""

from __future__ import annotations

from qcpt.rerun_reasons import classify, render, summarise

DRY_RUN = """
rule pretrain:
    output: results/pretrain/demo/contrastive/span/model
    reason: Params have changed since last execution: Union of exclusive params before and now across all output: before: '{"learning_rate":0.0001,"max_steps":20}' now: '{"learning_rate":0.0005,"max_steps":20}'
rule evaluate:
    reason: Params have changed since last execution: Union of exclusive params before and now across all output: before: 'retrieval.evaluate@1' now: 'retrieval.evaluate@2'
rule evaluate:
    reason: Input files updated by another job: results/run.trec
localrule summary:
    reason: Input files updated by another job: results/eval/x/metrics.json
rule pretrain:
    reason: Missing output files: results/pretrain/demo/contrastive/query-d2q-c1-nall/model
"""


def test_reasons_are_summed_per_rule_and_a_parameter_change_is_spelled_out():
    summary = summarise(DRY_RUN)
    assert summary["pretrain"]["jobs"] == 2
    assert summary["pretrain"]["parameter learning_rate changed from 0.0001 to 0.0005"] == 1
    assert summary["pretrain"]["new (output missing)"] == 1
    assert summary["evaluate"]["command version bumped: retrieval.evaluate@1 -> @2"] == 1
    assert summary["evaluate"]["an input is rebuilt upstream"] == 1
    assert summary["summary"]["jobs"] == 1
    text = render(summary)
    assert text.splitlines()[0] == "evaluate: 2 jobs" or text.splitlines()[0] == "pretrain: 2 jobs"


def test_nothing_to_do_says_so():
    assert render(summarise("Building DAG of jobs...\nNothing to be done (all requested files are present).")) \
        .startswith("Nothing to be done")


def test_an_unknown_reason_is_kept_as_printed():
    assert classify(" Something new ") == ["Something new"]


def test_a_param_new_since_the_last_run_is_named():
    reason = ("Params have changed since last execution: Union of exclusive params before and now across all "
              "output: before: <nothing exclusive> now: 'pretrain.driver@1' ")
    assert classify(reason) == ["command version recorded: pretrain.driver@1"]
