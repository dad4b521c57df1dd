"""The papers' numbers are data (qcpt/report/papers/*.yaml): shipped with the package, read and
checked against their tables' columns, with errors that name the file and the key."""

from __future__ import annotations

import fnmatch
import tomllib

import pytest
from conftest import ROOT

from qcpt.report import paper_tables as pt
from qcpt.report.paper_tables import PaperData


def test_paper_files_are_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["qcpt"]
    files = sorted((ROOT / "qcpt" / "report" / "papers").glob("*.yaml"))
    assert [f.name for f in files] == [
        "claims-demo.yaml", "claims-llm.yaml", "claims-qac.yaml", "llm.yaml", "qac.yaml", "roles.yaml"]
    for f in files:
        rel = f.relative_to(ROOT / "qcpt").as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in pyproject's package-data"


def test_numbers_read_as_floats_in_the_papers_order():
    assert pt.QAC_TABLE1[0] == ("BM25", None, "bm25", None, (18.7, 59.2, 85.7, 51.2, 47.7))
    assert list(pt.QAC_TABLE2)[:3] == ["trec-covid", "nfcorpus", "nq"]
    assert pt.QAC_TABLE2["nfcorpus"] == (0.333, 0.330, 0.319, 0.340)
    assert list(pt.QAC_TABLE3) == [(s, c) for s in ("contrastive", "cotmae") for c in (1, 5, 10, 20)]
    assert pt.LLM_TABLE2[("bottleneck", "tk_instruct_3b")] == (40.3, 88.7, 98.9, 70.7, 70.0)
    assert pt.LLM_TABLE3["webis-touche2020"][0] == 36.7 and pt.BEIR_LABELS["webis-touche2020"] == "Touché-2020"
    assert all(isinstance(v, float) for numbers in pt.LLM_TABLE3.values() for v in numbers)


def test_bad_paper_data_names_file_and_key():
    data = PaperData("papers/x.yaml", {"table1": {"bm25": [18.7, 59.2]}, "rows": [{"label": "a"}]})
    assert data.get("rows", 0, "label") == "a"
    with pytest.raises(ValueError, match=r"papers/x.yaml: table1.bm25 must be a list of 5 numbers"):
        data.numbers(5, "table1", "bm25")
    with pytest.raises(ValueError, match=r"papers/x.yaml: no table1.span"):
        data.numbers(2, "table1", "span")
    with pytest.raises(ValueError, match=r"papers/x.yaml: no rows.1"):
        data.get("rows", 1, "label")
    with pytest.raises(ValueError, match="must be a list of 1 numbers"):
        PaperData("papers/x.yaml", {"t": [True]}).numbers(1, "t")
