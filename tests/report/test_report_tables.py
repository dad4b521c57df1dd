"""Paper tables: numbers as printed, rows mapped onto our metrics files, partial grids reported."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import ROOT

from qcpt import config as qconfig
from qcpt.core.config_files import read_config
from qcpt.core.io import InputError
from qcpt.report import artifacts, metrics_inputs, needed_metrics, output_files
from qcpt.report.build import ReportBuilder, main

QAC = ROOT / "configs" / "query-as-context.yaml"
LLM = ROOT / "configs" / "llm-expansion.yaml"


def load(path: Path, results: Path) -> dict:
    config = read_config(path)
    config["results"] = str(results)
    return qconfig.validate(config)


def write_metrics(path: str | Path, values: dict[str, list[float]]) -> None:
    """A metrics file in the documented format; ``values`` are per-query values per measure."""
    per_query = {m: {f"q{i}": v for i, v in enumerate(vs)} for m, vs in values.items()}
    measures = {m: sum(vs) / len(vs) for m, vs in values.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"measures": measures, "per_query": per_query, "num_queries": 4}))


def table(config: dict, name: str):
    (art,) = artifacts(config, [name])
    return art


def row(tab, label: str, section: str | None = None):
    return next(r for r in tab.rows if r.label == label and (section is None or r.section == section))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_paper_numbers_spot_checks(tmp_path):
    qac = load(QAC, tmp_path / "r")
    qac_row = row(table(qac, "qac-table1"), "w/ query-as-context (120K) - retriever 2")
    assert qac_row.paper["MS MARCO MRR@10"] == 39.4
    assert qac_row.paper["DL20 nDCG@10"] == 71.8
    llm = load(LLM, tmp_path / "r")
    llm_row = row(table(llm, "llm-table2"), "+ tk-instruct 3b queries", "Bottlenecked Query Generation")
    assert llm_row.paper["MS MARCO MRR@10"] == 40.3
    assert llm_row.paper["DL20 nDCG@10"] == 70.0
    beir = row(table(qac, "qac-table2"), "arguana")
    assert beir.paper == {"coCondenser w/o": 0.389, "coCondenser w/": 0.447, "CoT-MAE w/o": 0.312, "CoT-MAE w/": 0.416}


def test_rows_map_onto_our_paths(tmp_path):
    results = tmp_path / "r"
    qac = load(QAC, results)
    cells = row(table(qac, "qac-table1"), "w/ query-as-context (120K) - retriever 2").cells
    enc = "msmarco/pt/msmarco_doc/contrastive"
    assert cells["MS MARCO MRR@10"].path(str(results)) == (
        f"{results}/eval/msmarco-dev/{enc}/query-doct5query-c5-nall/retriever2/metrics.json")
    assert cells["DL19 nDCG@10"].path(str(results)) == (
        f"{results}/eval/dl19/{enc}/query-doct5query-c5-nall/retriever2/metrics.json")
    assert cells["MS MARCO R@1k"].measure == "R@1000"
    assert cells["MS MARCO MRR@10"].baseline == f"{enc}/span/retriever2"
    bm25 = row(table(qac, "qac-table1"), "BM25").cells["DL20 nDCG@10"]
    assert (bm25.evalset, bm25.system, bm25.baseline) == ("dl20", "bm25", None)
    t3 = row(table(qac, "qac-table3"), "20 queries", "CoT-MAE (50K)").cells["R1 MS MARCO MRR@10"]
    assert t3.system == "msmarco/pt/msmarco_doc/cotmae/query-doct5query-c20-nall/retriever1"
    llm = load(LLM, results)
    zs = row(table(llm, "llm-table1"), "+ Alpaca 13b queries").cells["MS MARCO MRR@10"]
    assert zs.system == "zeroshot/pt/msmarco_passage/contrastive/query-alpaca_13b-c10-nall"
    fig = table(llm, "llm-figure3")
    amounts = [a for a, _ in fig.lines[0].points]
    assert amounts == [50_000, 100_000, 400_000, 800_000, 1_000_000, 4_000_000, 8_841_823]
    assert fig.lines[0].points[-1][1].endswith("bottleneck/curriculum-f0.75-alpaca_13b-c10-nall/retriever2")


def test_mapping_follows_the_configs_names(tmp_path):
    """Corpus, generator and evalset names come from the config, not from the paper presets."""
    config = read_config(QAC)
    config.pop("expected")  # its cells are named after msmarco-dev, which this test renames
    config["results"] = str(tmp_path / "r")
    config["corpus"]["name"] = "marco2"
    config["generators"] = {"t5gen": config["generators"]["doct5query"]}
    for block in config["pretrain"]["grid"]:
        if "generator" in block:
            block["generator"] = ["t5gen"]
    config["evalsets"]["dev-small"] = config["evalsets"].pop("msmarco-dev")
    config["evaluation"]["bm25"] = ["dev-small", "dl19", "dl20"]
    for block in config["evaluation"]["finetuned"]:
        block["evalsets"] = ["dev-small" if e == "msmarco-dev" else e for e in block["evalsets"]]
        block["encoders"] = [e.replace("msmarco_doc", "marco2").replace("doct5query", "t5gen") for e in block["encoders"]]
    config["evalsets"]["dev-small"]["topics"] = "x"  # names only; nothing is read
    qconfig.validate(config)
    # t5gen is no name papers/roles.yaml lists: it plays docT5query only once report.roles says so
    unnamed = row(table(config, "qac-table1"), "w/ query-as-context (120K) - retriever 2").cells["MS MARCO MRR@10"]
    assert unnamed.system == "msmarco/pt/marco2/contrastive/query-doct5query-c5-nall/retriever2"
    config["report"]["roles"] = {"doct5query": "t5gen"}
    qconfig.validate(config)
    cell = row(table(config, "qac-table1"), "w/ query-as-context (120K) - retriever 2").cells["MS MARCO MRR@10"]
    assert cell.system == "msmarco/pt/marco2/contrastive/query-t5gen-c5-nall/retriever2"
    # "dev-small" is not an alias of MS MARCO dev: the paper's name is kept and the cell reported missing
    assert cell.evalset == "msmarco-dev"
    config["evalsets"]["msmarco-passage-dev"] = config["evalsets"].pop("dev-small")
    config["evaluation"]["bm25"] = ["msmarco-passage-dev"]
    for block in config["evaluation"]["finetuned"]:
        block["evalsets"] = ["msmarco-passage-dev" if e == "dev-small" else e for e in block["evalsets"]]
    qconfig.validate(config)
    cell = row(table(config, "qac-table1"), "BM25").cells["MS MARCO MRR@10"]
    assert cell.evalset == "msmarco-passage-dev"
    assert set(metrics_inputs(config)) <= set(qconfig.metrics_targets(config))


def test_report_inputs_are_built_by_the_config(tmp_path):
    for preset in (QAC, LLM, ROOT / "config.yaml"):
        config = load(preset, tmp_path / "r")
        inputs = metrics_inputs(config)
        assert inputs and set(inputs) <= set(qconfig.metrics_targets(config))
        assert set(inputs) <= set(needed_metrics(config))
    llm = load(LLM, tmp_path / "r")
    # the LLM preset runs BM25 on BEIR (issue 12 row 13): Table 3's BM25 column is an input
    bm25_beir = f"{tmp_path / 'r'}/eval/beir-nq/bm25/metrics.json"
    assert bm25_beir in needed_metrics(llm) and bm25_beir in metrics_inputs(llm)
    # a cell no config builds is needed but not an input
    qac = load(QAC, tmp_path / "r")
    qac_bm25_beir = f"{tmp_path / 'r'}/eval/beir-nq/bm25/metrics.json"
    assert qac_bm25_beir not in metrics_inputs(qac)
    assert output_files(llm)[-1] == "index.md" and "llm-figure3.png" in output_files(llm)
    with pytest.raises(ValueError, match="unknown table 'qac-table9'"):
        output_files(llm, ["qac-table9"])


def test_partial_grid_reports_ours_beside_paper(tmp_path):
    results = tmp_path / "r"
    config = load(QAC, results)
    r2 = "msmarco/pt/msmarco_doc/contrastive/{}/retriever2"
    write_metrics(f"{results}/eval/msmarco-dev/{r2.format('query-doct5query-c5-nall')}/metrics.json",
                  {"MRR@10": [0.5, 0.3, 0.4, 0.4], "R@50": [1, 1, 0, 1], "R@1000": [1, 1, 1, 1]})
    write_metrics(f"{results}/eval/msmarco-dev/{r2.format('span')}/metrics.json",
                  {"MRR@10": [0.4, 0.3, 0.2, 0.3], "R@50": [1, 0, 0, 1], "R@1000": [1, 1, 1, 0]})
    out = tmp_path / "report"
    ReportBuilder(config, out, names=["qac-table1", "qac-table2"]).build()
    assert sorted(p.name for p in out.iterdir()) == sorted(output_files(config, ["qac-table1", "qac-table2"]))
    rows = {r["row"]: r for r in read_csv(out / "qac-table1.csv")}
    qac = rows["w/ query-as-context (120K) - retriever 2"]
    assert float(qac["MS MARCO MRR@10 ours"]) == pytest.approx(40.0)
    assert qac["MS MARCO MRR@10 paper"] == "39.4"
    assert qac["DL19 nDCG@10 ours"] == "" and qac["DL19 nDCG@10 paper"] == "73.1"
    assert qac["MS MARCO MRR@10 p"] != ""  # both cells and per-query values present: tested
    assert rows["BM25"]["MS MARCO MRR@10 ours"] == "" and rows["BM25"]["MS MARCO MRR@10 paper"] == "18.7"
    md = (out / "qac-table1.md").read_text()
    assert "| w/ query-as-context (120K) - retriever 2 | 40.0 | 39.4 | 75.0 | 88.6 | 100.0 | 99.0 | – | 73.1 | – | 71.8 |" in md
    assert f"`{results}/eval/dl19/bm25/metrics.json` (not built yet)" in md
    beir = {r["row"]: r for r in read_csv(out / "qac-table2.csv")}
    assert beir["Average"]["coCondenser w/ paper"] == "0.456" and beir["Average"]["coCondenser w/ ours"] == ""
    index = (out / "index.md").read_text()
    assert "[qac-table1.md](qac-table1.md)" in index and "6 of 45 numbers of ours present" in index


def test_average_row_is_the_mean_when_all_datasets_are_present(tmp_path):
    results = tmp_path / "r"
    config = load(QAC, results)
    tab = table(config, "qac-table2")
    for i, data_row in enumerate(r for r in tab.rows if not r.average):
        ref = data_row.cells["CoT-MAE w/"]
        write_metrics(ref.path(str(results)), {"nDCG@10": [i / 20, i / 20]})
    ReportBuilder(config, tmp_path / "out", names=["qac-table2"]).build()
    average = {r["row"]: r for r in read_csv(tmp_path / "out" / "qac-table2.csv")}["Average"]
    assert float(average["CoT-MAE w/ ours"]) == pytest.approx(sum(range(14)) / 20 / 14)
    assert average["CoT-MAE w/o ours"] == ""


def test_cli_reads_only_the_metrics_it_is_given(tmp_path):
    results = tmp_path / "r"
    config = load(ROOT / "config.yaml", results)
    targets = qconfig.metrics_targets(config)
    for path in targets:
        write_metrics(path, {"MRR@10": [0.5, 0.25], "R@50": [1, 1], "R@1000": [1, 1], "nDCG@10": [0.5, 0.5]})
    given = [t for t in targets if "/bm25/" in t]
    out = tmp_path / "report"
    assert main(["--config-json", json.dumps(config), "--out", str(out), "--metrics", *given]) == 0
    rows = read_csv(out / "demo-demo-test.csv")
    assert [r["MRR@10 ours"] for r in rows if r["row"] == "BM25"] == ["0.375000"]
    assert all(r["MRR@10 ours"] == "" for r in rows if r["row"] != "BM25")  # present on disk, not given
    assert "paper" not in " ".join(rows[0])  # the demo has no paper columns
    with pytest.raises(ValueError, match="unknown key 'alfa'"):
        main(["--config-json", json.dumps(config), "--out", str(out), "--params", '{"alfa": 0.05}'])


def test_bad_metrics_file_is_an_input_error(tmp_path):
    results = tmp_path / "r"
    config = load(ROOT / "config.yaml", results)
    path = Path(qconfig.metrics_targets(config)[0])
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(InputError, match="bad JSON"):
        ReportBuilder(config, tmp_path / "out").build()


def test_report_roles_name_a_known_role_and_a_config_generator(tmp_path):
    config = load(QAC, tmp_path / "r")
    config["report"]["roles"] = {"alpaca_30b": "doct5query"}
    with pytest.raises(ValueError, match=r"report.roles.alpaca_30b: .*not declared in qcpt/report/papers/roles.yaml"):
        artifacts(config, ["qac-table1"])
    config["report"]["roles"] = {"doct5query": "t5gen"}
    with pytest.raises(ValueError, match=r"report.roles.doct5query: 't5gen' is not a generator of this config"):
        artifacts(config, ["qac-table1"])


def test_each_preset_plays_the_papers_roles_with_the_generators_roles_yaml_names(tmp_path):
    """Roles come from papers/roles.yaml (no pattern over names or models): a generator it does not
    list plays no role, whatever its model."""
    from qcpt.report.spec import GENERATOR_ROLES, Grid, check_role

    played = {path.name: {role: Grid(load(path, tmp_path / "r")).generator(role) for role in GENERATOR_ROLES}
              for path in (QAC, LLM, ROOT / "config.yaml")}
    assert played == {
        "query-as-context.yaml": {"doct5query": "doct5query", "tk_instruct_3b": "tk_instruct_3b",
                                  "alpaca_7b": "alpaca_7b", "alpaca_13b": "alpaca_13b"},
        "llm-expansion.yaml": {"doct5query": "doct5query", "tk_instruct_3b": "tk_instruct_3b",
                               "alpaca_7b": "alpaca_7b", "alpaca_13b": "alpaca_13b"},
        "config.yaml": {"doct5query": "d2q", "tk_instruct_3b": "tk_instruct_3b",
                        "alpaca_7b": "alpaca_7b", "alpaca_13b": "alpaca_13b"},
    }
    config = load(LLM, tmp_path / "r")
    config["generators"]["my_alpaca_7b"] = config["generators"].pop("alpaca_7b")
    assert Grid(config).generator("alpaca_7b") == "alpaca_7b"  # not played: its cells are reported missing
    with pytest.raises(ValueError, match=r"^x.yaml: generator role 'alpaca_30b' is not declared in qcpt/report/papers/roles.yaml"):
        check_role("alpaca_30b", "x.yaml")
