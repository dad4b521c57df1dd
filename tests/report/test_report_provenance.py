"""Provenance: cell, versions, git commit, checksums (size + mtime above 1 GiB)."""

from __future__ import annotations

import hashlib
import re

from conftest import ROOT

from qcpt.core import provenance
from qcpt.core.io import sha256_tree


def test_collect_records_versions_and_checksums(tmp_path):
    f = tmp_path / "run.trec"
    f.write_text("q1 Q0 d1 1 2.0 x\n")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    cell = {"evalset": "demo-test", "system": "bm25"}
    prov = provenance.collect(cell, [str(f), str(folder), str(tmp_path / "absent")])
    assert prov["cell"] == cell
    for package in ("torch", "transformers", "snakemake", "nltk", "qcpt"):
        assert re.match(r"^\d+\.\d+", prov["versions"][package]), package
    assert set(provenance.PACKAGES) == set(prov["versions"])
    assert prov["python"].count(".") == 2 and prov["hostname"]
    inputs = prov["inputs"]
    assert inputs[str(f)]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert inputs[str(folder)]["sha256"] == sha256_tree(folder) and inputs[str(folder)]["kind"] == "directory"
    assert inputs[str(tmp_path / "absent")] == {"missing": True}
    if (ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])


def test_big_inputs_get_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "BIG_INPUT_BYTES", 10)
    f = tmp_path / "index.bin"
    f.write_bytes(b"x" * 100)
    entry = provenance.collect({}, [str(f)])["inputs"][str(f)]
    assert entry["sha256"] is None and entry["size"] == 100
    assert "1 GiB" in entry["note"] and entry["mtime"].startswith("20")
