"""Data by ID (issue 29): ``irds:<dataset-id>`` sources, their cache jobs, and ``python -m qcpt data``.

- SciFact through ``irds:beir/scifact/test`` from a hand-seeded ``IR_DATASETS_HOME`` (no request is
  made: ir_datasets reads ``beir/scifact/source.zip`` when it is there) gives the file route's
  collection, topics and qrels byte for byte, and BM25 flat nDCG@10 0.6789, through the workflow;
- a dataset neither cached nor downloadable, and a cached file with a wrong checksum, stop a real run
  before any job, naming the ID or the file (expected vs actual);
- a bad row from ir_datasets is located like a bad file line (ID, part, row, field);
- ``data --check`` on both paper presets lists exactly the dry run's external inputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections import namedtuple
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT, shared_data

from qcpt import inputs
from qcpt.core.io import InputError
from qcpt.corpus import documents, irds, topics

SCIFACT_MEMBERS = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv")
PRESETS = ("query-as-context", "llm-expansion")


def seed_scifact(home: Path, corrupt: str | None = None) -> Path:
    """An IR_DATASETS_HOME holding BEIR SciFact where ir_datasets' beir/scifact handler looks for its
    download (``beir/scifact/source.zip``, members ``scifact/...``), zipped here from the shared copy;
    ``corrupt``: a member whose first byte is changed."""
    data = shared_data("scifact")
    archive = home / "beir" / "scifact" / "source.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for member in SCIFACT_MEMBERS:
            body = (data / member).read_bytes()
            if member == corrupt:
                body = b"[" + body[1:]
            z.writestr(f"scifact/{member}", body)
    return home


def irds_env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "IR_DATASETS_HOME": str(home), "PYTHONPATH": str(ROOT), inputs.OFFLINE_ENV: "1", **extra}


def scifact_by_id(tmp_path: Path) -> Path:
    """configs/beir-scifact.yaml with every data source an ir_datasets ID."""
    cfg = yaml.safe_load((ROOT / "configs" / "beir-scifact.yaml").read_text(encoding="utf-8"))
    cfg["results"] = "results"
    for spec in (cfg["corpus"], cfg["collections"]["scifact"]):
        spec["source"] = "irds:beir/scifact/test"
        spec.pop("format")
    cfg["evalsets"]["scifact-test"].update(topics="irds:beir/scifact/test", qrels="irds:beir/scifact/test")
    cfg["finetune"]["datasets"]["scifact"].update(topics="irds:beir/scifact/train", qrels="irds:beir/scifact/train")
    path = tmp_path / "scifact-irds.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def run_snakemake(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


# --------------------------------------------------------------------------- SciFact by ID


def test_scifact_by_id_reproduces_bm25_flat_with_the_file_routes_rules(tmp_path):
    home = seed_scifact(tmp_path / "irds-home")
    config = scifact_by_id(tmp_path)
    target = "results/eval/scifact-test/bm25/metrics.json"
    proc = run_snakemake(tmp_path, irds_env(home), f"--configfile={config}", target)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # one cache job for the ID, then the same rules as the file route
    assert re.search(r"^irds_cache\s+1$", proc.stdout + proc.stderr, re.M), proc.stdout[-3000:]
    pointer = json.loads((tmp_path / "results/irds/beir/scifact/test.irds.json").read_text())
    assert pointer["counts"] == {"docs": 5183, "queries": 300, "qrels": 339}
    assert {f["state"] for f in pointer["files"]} == {"verified"}
    metrics = json.loads((tmp_path / target).read_text())
    assert metrics["num_queries"] == 300
    assert metrics["measures"]["nDCG@10"] == pytest.approx(0.6789, abs=5e-4)
    assert metrics["measures"]["R@100"] == pytest.approx(0.9253, abs=5e-4)
    # the same readers: the file route's normal forms, byte for byte
    data = shared_data("scifact")
    documents.prepare_collection(data, tmp_path / "file-collection.jsonl", "beir")
    topics.prepare_topics(data / "queries.jsonl", data / "qrels" / "test.tsv", tmp_path / "file-topics.tsv", tmp_path / "file.qrels")
    built = tmp_path / "results"
    assert (built / "data/scifact/collection.jsonl").read_bytes() == (tmp_path / "file-collection.jsonl").read_bytes()
    assert (built / "topics/scifact-test.tsv").read_bytes() == (tmp_path / "file-topics.tsv").read_bytes()
    assert (built / "topics/scifact-test.qrels").read_bytes() == (tmp_path / "file.qrels").read_bytes()


def test_a_dataset_neither_cached_nor_downloadable_stops_the_run_before_any_job(tmp_path):
    config = scifact_by_id(tmp_path)
    proc = run_snakemake(tmp_path, irds_env(tmp_path / "empty-home"), f"--configfile={config}",
                         "results/eval/scifact-test/bm25/metrics.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "irds:beir/scifact/test" in out and "neither in the ir_datasets cache" in out and "scifact.zip" in out, out[-3000:]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.irds.json"))
    assert "Finished jobid" not in out and "localrule irds_cache" not in out


def test_an_unknown_id_is_a_config_error_naming_it(tmp_path):
    config = scifact_by_id(tmp_path)
    text = config.read_text().replace("irds:beir/scifact/train", "irds:beir/scifakt/train")
    config.write_text(text)
    proc = run_snakemake(tmp_path, irds_env(tmp_path / "home"), "-n", f"--configfile={config}")
    assert proc.returncode != 0
    assert "irds:beir/scifakt/train is not a dataset ID of ir_datasets 0.6.3" in proc.stdout + proc.stderr


def test_a_corrupted_cache_file_is_caught_by_its_checksum(tmp_path):
    home = seed_scifact(tmp_path / "irds-home", corrupt="corpus.jsonl")
    config = scifact_by_id(tmp_path)
    proc = run_snakemake(tmp_path, irds_env(home), f"--configfile={config}", "results/eval/scifact-test/bm25/metrics.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    expected = "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6"
    assert re.search(rf"irds:beir/scifact/test: \S+/beir/scifact/source.zip: wrong checksum: .*scifact/corpus.jsonl: "
                     rf"sha256 expected {expected}, actual [0-9a-f]{{64}}", out), out[-3000:]
    assert "localrule irds_cache" not in out
    # ... and by the data command, which names it the same way
    check = subprocess.run([sys.executable, "-m", "qcpt", "data", f"--configfile={config}", "--check"], cwd=tmp_path,
                           env=irds_env(home), capture_output=True, text=True, timeout=300)
    assert check.returncode == 1
    assert "wrong checksum" in check.stdout and f"sha256 expected {expected}" in check.stdout + check.stderr


def test_the_cache_job_checks_a_derived_cache_file_too(tmp_path, monkeypatch):
    """ir_datasets' own copy of the queries (beir/scifact/queries.json) is read instead of the zip once
    it exists: a changed copy is a wrong checksum, named with expected and actual."""
    home = seed_scifact(tmp_path / "irds-home")
    env = irds_env(home)
    build = [sys.executable, "scripts/qcpt.py", "irds:cache", "--id", "beir/scifact/test", "--uses", "docs,topics"]
    ok = subprocess.run([*build, "--out", str(tmp_path / "a.irds.json")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]
    queries = home / "beir" / "scifact" / "queries.json"
    queries.write_text(queries.read_text().replace("0-dimensional", "1-dimensional", 1))
    bad = subprocess.run([*build, "--out", str(tmp_path / "b.irds.json")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "beir/scifact/queries.json: wrong checksum: sha256 expected 8ff84a7c" in bad.stderr
    assert not (tmp_path / "b.irds.json").exists()


# --------------------------------------------------------------------------- rows


Doc = namedtuple("Doc", "doc_id title text")
Query = namedtuple("Query", "query_id text")
Qrel = namedtuple("Qrel", "query_id doc_id relevance iteration")


def fake_dataset(docs=(), queries=(), qrels=()) -> SimpleNamespace:
    """What qcpt.corpus.irds reads of an ir_datasets dataset, over the rows given: ``has_<kind>()`` and
    ``<kind>_iter()`` for docs, queries and qrels."""
    dataset = SimpleNamespace()
    for kind, rows in (("docs", list(docs)), ("queries", list(queries)), ("qrels", list(qrels))):
        setattr(dataset, f"has_{kind}", partial(bool, rows))
        setattr(dataset, f"{kind}_iter", partial(iter, rows))
    return dataset


@pytest.fixture
def fake_irds(monkeypatch):
    datasets: dict[str, SimpleNamespace] = {}
    monkeypatch.setattr(irds.dataset, "known", lambda did: did in datasets)
    monkeypatch.setattr(irds.dataset, "load", lambda did: datasets[did])
    return datasets


def test_a_bad_row_is_located_like_a_bad_line(fake_irds, tmp_path):
    fake_irds["x/docs"] = fake_dataset(docs=[Doc("d1", "", "fine"), Doc("d2", "", "  ")])
    with pytest.raises(InputError, match=r"^irds:x/docs docs, row 2: field 'text': empty \(and no title\)$") as err:
        documents.prepare_collection("irds:x/docs", tmp_path / "c.jsonl")
    assert (err.value.line, err.value.field, err.value.unit) == (2, "text", "row")
    assert not (tmp_path / "c.jsonl").exists()
    fake_irds["x/dup"] = fake_dataset(docs=[Doc("d1", "", "a"), Doc("d1", "", "b")])
    with pytest.raises(InputError, match=r"irds:x/dup docs, row 2: field 'id': duplicate id 'd1' \(first on row 1\)"):
        documents.prepare_collection("irds:x/dup", tmp_path / "c.jsonl")
    fake_irds["x/none"] = fake_dataset(docs=[Doc("d1", "", None)])
    with pytest.raises(InputError, match=r"irds:x/none docs, row 1: field 'text': missing"):
        documents.prepare_documents("irds:x/none", tmp_path / "d.jsonl")


def test_bad_topic_and_qrel_rows_are_located(fake_irds, tmp_path):
    out = (tmp_path / "t.tsv", tmp_path / "q.trec")
    fake_irds["x/t"] = fake_dataset(queries=[Query("1", "a"), Query("2", "")], qrels=[Qrel("1", "d", 1, "0")])
    with pytest.raises(InputError, match=r"irds:x/t queries, row 2: field 'text': empty query text for '2'"):
        topics.prepare_topics("irds:x/t", "irds:x/t", *out)
    fake_irds["x/q"] = fake_dataset(queries=[Query("1", "a")], qrels=[Qrel("1", "d", 1, "0"), Qrel("9", "d", 1, "0")])
    with pytest.raises(InputError, match=r"irds:x/q qrels, row 2: field 'qid': query '9' is not in irds:x/q queries"):
        topics.prepare_topics("irds:x/q", "irds:x/q", *out)
    fake_irds["x/r"] = fake_dataset(queries=[Query("1", "a")], qrels=[Qrel("1", "d", "high", "0")])
    with pytest.raises(InputError, match=r"irds:x/r qrels, row 1: field 'relevance': not an integer: 'high'"):
        topics.prepare_topics("irds:x/r", "irds:x/r", *out)
    fake_irds["x/ok"] = fake_dataset(queries=[Query("1", " a\tb "), Query("2", "c")], qrels=[Qrel("1", "d", 2, "0")])
    assert topics.prepare_topics("irds:x/ok", "irds:x/ok", *out) == (2, 1)  # an ID's topics are kept whole
    assert out[0].read_text() == "1\ta b\n2\tc\n" and out[1].read_text() == "1 0 d 2\n"


def test_the_cache_jobs_of_one_download_group_run_one_after_another():
    from qcpt.corpus.jobs import data

    config = {"results": "r", "corpus": {"source": "x.tsv"},
              "collections": {"a": {"source": "irds:beir/scifact/test"}, "m": {"source": "irds:msmarco-passage", "format": "raw"}},
              "evalsets": {"e": {"topics": "irds:beir/scifact/test", "qrels": "irds:beir/scifact/test"},
                           "dl": {"topics": "irds:msmarco-passage/trec-dl-2019/judged", "qrels": "irds:msmarco-passage/trec-dl-2019/judged"}},
              "finetune": {"datasets": {"f": {"topics": "irds:beir/scifact/train", "qrels": "irds:beir/scifact/train"}}}}
    assert data.irds_uses(config) == {"beir/scifact/test": ["docs", "topics"], "beir/scifact/train": ["topics"],
                                      "msmarco-passage": ["raw"], "msmarco-passage/trec-dl-2019/judged": ["topics"]}
    assert data.previous_in_download_group(config, "beir/scifact/test") == []
    assert data.previous_in_download_group(config, "beir/scifact/train") == ["r/irds/beir/scifact/test.irds.json"]
    assert data.previous_in_download_group(config, "msmarco-passage/trec-dl-2019/judged") == ["r/irds/msmarco-passage.irds.json"]
    assert [irds.group(d) for d in ("beir/cqadupstack/tex", "beir/webis-touche2020/v2", "msmarco-passage/train")] == [
        "beir/cqadupstack", "beir/webis-touche2020", "msmarco-passage"]


# --------------------------------------------------------------------------- the data command


def dry_run_external_inputs(config: Path, workdir: Path) -> tuple[set[str], set[str]]:
    """The files a dry run of ``config`` needs that no rule makes (found by touching each missing
    input Snakemake names until the dry run passes), and the IDs of its irds_cache jobs."""
    touched: set[str] = set()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(50):
        proc = run_snakemake(workdir, env, "-n", f"--configfile={config}")
        out = proc.stdout + proc.stderr
        if proc.returncode == 0:
            pointers = re.findall(r"output: \S+/irds/(\S+)\.irds\.json", out)
            return touched, set(pointers)
        block = re.search(r"affected files:\n((?:\s+\S.*\n?)+)", out)
        assert block, out[-3000:]
        for line in block[1].splitlines():
            name = line.strip()
            touched.add(name)
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).touch()
    raise AssertionError("the dry run kept naming missing inputs")


@pytest.mark.parametrize("preset", PRESETS)
def test_data_check_lists_every_external_input_of_a_preset(preset, tmp_path):
    config = ROOT / "configs" / f"{preset}.yaml"
    files, ids = dry_run_external_inputs(config, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "qcpt", "data", f"--configfile={config}", "--check", "--json"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "IR_DATASETS_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]  # nothing is here: every input is missing
    listed = json.loads(proc.stdout)
    assert {e["name"] for e in listed if e["name"].startswith("irds:")} == {f"irds:{i}" for i in ids}
    assert {e["name"] for e in listed if not e["name"].startswith("irds:")} == files
    assert {e["state"] for e in listed} == {"missing"}
    for e in listed:
        assert e["source"], e
        if e["name"].startswith("irds:"):
            assert e["files"] and all(f["url"] and f["size"] for f in e["files"]), e
    # the paper's data, by ID: MS MARCO passage + documents, train, dev/small, DL19/20 judged, 14 BEIR sets
    wanted = {"msmarco-passage", "msmarco-passage/train", "msmarco-passage/dev/small",
              "msmarco-passage/trec-dl-2019/judged", "msmarco-passage/trec-dl-2020/judged", "beir/webis-touche2020/v2"}
    assert wanted <= ids
    assert len({i for i in ids if i.startswith("beir/cqadupstack/")}) == 12
    assert len({irds.group(i) for i in ids if i.startswith("beir/")}) == 14
    assert ("msmarco-document" in ids) == (preset == "query-as-context")


def test_fetch_without_a_network_fails_naming_the_id(tmp_path):
    """Where the download host is unreachable (here) --fetch really tries and fails; elsewhere
    QCPT_OFFLINE stands in for the missing network."""
    config = scifact_by_id(tmp_path)
    env = {**irds_env(tmp_path / "home"), "IR_DATASETS_DL_TRIES": "1", "IR_DATASETS_DL_TIMEOUT": "5"}
    if not inputs._reachable("https://public.ukp.informatik.tu-darmstadt.de/"):
        env.pop(inputs.OFFLINE_ENV)
    proc = subprocess.run([sys.executable, "-m", "qcpt", "data", f"--configfile={config}", "--fetch"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "error: irds:beir/scifact/test: download failed" in proc.stderr, proc.stderr[-2000:]


# --------------------------------------------------------------------------- format raw


def test_format_raw_reads_the_downloaded_file_as_it_is(tmp_path, monkeypatch):
    """MS MARCO passage by ID with `format: raw`: collection.tsv inside ir_datasets' cached archive,
    read by the TSV corpus reader (double-encoded UTF-8 kept, as pyserini and Tevatron index it); a
    bad line is located in that file."""
    import io
    import tarfile

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path))
    archive = tmp_path / "msmarco-passage" / "collectionandqueries.tar.gz"
    archive.parent.mkdir(parents=True)

    def pack(text: str) -> None:
        body = text.encode("utf-8")
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo("collection.tsv")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))

    pack("0\tThe presence of communication\n1\tcaf\u00c3\u00a9 au lait\n")
    records = list(documents.iter_records("irds:msmarco-passage", "raw"))
    assert [(r.id, r.text, r.line, r.unit) for r in records] == [
        ("0", "The presence of communication", 1, "line"), ("1", "caf\u00c3\u00a9 au lait", 2, "line")]
    pack("0\tfine\n1\n")
    with pytest.raises(InputError, match=r"irds:msmarco-passage raw collection.tsv \(in .*collectionandqueries.tar.gz\), line 2: "
                                         r"expected 4 tab-separated columns"):
        documents.prepare_collection("irds:msmarco-passage", tmp_path / "c.jsonl", "raw")


def test_format_raw_is_for_an_id_whose_raw_file_is_recorded():
    from qcpt.core.params import ConfigError
    from qcpt.corpus.declaration import check_data_sources as _check_data_sources

    with pytest.raises(ConfigError, match=r"'collections.c.format': 'raw' is for an irds: source"):
        _check_data_sources({"collections": {"c": {"source": "x.tsv", "format": "raw"}}})
    with pytest.raises(ConfigError, match=r"'collections.c.format': irds:beir/nq: format 'raw' needs a raw documents file"):
        _check_data_sources({"collections": {"c": {"source": "irds:beir/nq", "format": "raw"}}})
    with pytest.raises(ConfigError, match=r"'evalsets.e.qrels': irds:msmarco-passage has no qrels"):
        _check_data_sources({"evalsets": {"e": {"topics": "x.tsv", "qrels": "irds:msmarco-passage"}}})


def test_a_named_file_with_a_wrong_checksum_is_named_before_any_job(tmp_path, monkeypatch):
    """The file route (configs/beir-scifact.yaml): files with a recorded sha256 are verified by
    `data --check` and by the run's preflight, which names a wrong one with expected and actual."""
    import shutil

    from qcpt import config as qconfig

    shutil.copytree(shared_data("scifact"), tmp_path / "data" / "beir" / "scifact")
    monkeypatch.chdir(tmp_path)
    config = qconfig.load(ROOT / "configs" / "beir-scifact.yaml")
    assert {e.name: e.state for e in inputs.entries(config, check=True)} == {
        "data/beir/scifact": "verified", "data/beir/scifact/queries.jsonl": "verified",
        "data/beir/scifact/qrels/test.tsv": "verified", "data/beir/scifact/qrels/train.tsv": "verified"}
    inputs.preflight(config)  # all good: no error
    qrels = tmp_path / "data" / "beir" / "scifact" / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text().replace("\t1\n", "\t2\n", 1))
    with pytest.raises(inputs.DataError, match=r"data/beir/scifact/qrels/test.tsv: wrong checksum: sha256 expected "
                                               r"68c0ac63f1c24b9e8ce497649694f09b2d0850bab7ec2b103cc66996f5f8b3a3, actual [0-9a-f]{64}"):
        inputs.preflight(config)
    states = {e.name: (e.state, e.detail) for e in inputs.entries(config, check=True)}
    assert states["data/beir/scifact/qrels/test.tsv"][0] == "wrong checksum"
    assert "sha256 expected 68c0ac63" in states["data/beir/scifact/qrels/test.tsv"][1]
