"""Shared test helpers: the repository root, the reference data folder, Snakemake dry runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# This checkout's qcpt, also for scripts that import this file from elsewhere (bench/, the baseline
# job dumper), where an installed qcpt of another checkout would come first.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from qcpt.core.config_files import read_config  # noqa: E402

# QCPT_SHARED_DATA: the reference data elsewhere (a worktree's ../shared is not the main checkout's)
SHARED_DATA = Path(os.environ.get("QCPT_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test where the reference data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not present: {path} (only the project's dev machines have it)")
    return path


def scifact_test_split(folder: Path) -> tuple[Path, Path, Path]:
    """SciFact's collection, test topics and qrels prepared in ``folder`` from the reference data, as
    the workflow prepares a BEIR folder; skips where the data is absent."""
    from qcpt.corpus.documents import prepare_collection
    from qcpt.corpus.topics import prepare_topics

    data = shared_data("scifact")
    collection, topics, qrels = folder / "c.jsonl", folder / "t.tsv", folder / "q.trec"
    prepare_collection(data, collection, "beir")
    prepare_topics(data / "queries.jsonl", data / "qrels" / "test.tsv", topics, qrels)
    return collection, topics, qrels


def snakemake(*args: str, cwd: Path = ROOT, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats" table (empty when nothing is to be done)."""
    from qcpt.plan.dryrun import job_stats

    return job_stats(output)


def dry_run(*args: str, cwd: Path = ROOT) -> dict[str, int]:
    proc = snakemake("-n", "--cores", "2", *args, cwd=cwd)
    return job_counts(proc.stdout + proc.stderr)


def with_embedded_models(cfg: dict) -> dict:
    """``cfg`` (the demo config) with the workflow's own small models instead of the demo's real ones:
    the random BERT of rule build_encoder for MiniLM, and as d2q the tiny doc2query T5 trained on the
    demo's training queries (rule prepare_generator) for the shipped expansions. Training jobs take
    seconds, and the stages that build those models stay covered."""
    cfg["encoder"] = {"init": "embedded", "embedded": cfg["encoder"]["embedded"]}
    cfg["generators"]["d2q"] = {"backend": "hf-seq2seq", "model": "embedded-doc2query", "prompt": "doct5query",
                                "pool_size": 10, "batch_size": 32, "train": {"max_steps": 200}}
    return cfg


def fake_inputs(config_path: Path, workdir: Path) -> None:
    """Create empty stand-ins for every external input a preset names, under ``workdir``, so a dry
    run can expand the full grid without the (large) real data."""
    cfg = read_config(config_path)  # with its `include:` files, as Snakemake gets it

    def touch(rel: str, is_dir: bool = False) -> None:
        if rel.startswith("irds:"):  # data by ID: the workflow's irds_cache job makes its input
            return
        p = workdir / rel
        if is_dir:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()

    touch(cfg["corpus"]["source"], cfg["corpus"].get("format") == "beir")
    for spec in cfg["collections"].values():
        touch(spec["source"], spec.get("format") == "beir")
    for spec in [*cfg["evalsets"].values(), *cfg["finetune"]["datasets"].values()]:
        if "mean_of" in spec:  # a mean of other evalsets has no files of its own
            continue
        touch(spec["topics"])
        touch(spec["qrels"])
        if spec.get("hard_negatives"):
            touch(spec["hard_negatives"])
        if spec.get("negatives_file"):
            touch(spec["negatives_file"])
    for spec in cfg["generators"].values():
        model = spec["model"]
        if spec["backend"] == "precomputed":  # an expansions file, read like the corpus
            touch(model)
        elif model.startswith("data/"):
            touch(model, True)


def fake_irds_pointers(config_path: Path, workdir: Path) -> None:
    """Stand-ins for the pointer files of a preset's irds_cache jobs (as if every ir_datasets dataset
    were laid out), for runs that do not run those jobs (e.g. `--allowed-rules` without irds_cache)."""
    from qcpt.corpus.jobs.data import irds_uses
    from qcpt.workflow.paths import Paths

    cfg = read_config(config_path)
    for did in irds_uses(cfg):
        pointer = workdir / Paths(cfg["results"]).of("irds_dataset", irdsid=did)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(json.dumps({"id": did}), encoding="utf-8")


def fake_conda(folder: Path) -> dict[str, str]:
    """The environment with a stand-in `conda` first on PATH that answers the three queries Snakemake
    makes before a dry run with ``--software-deployment-method conda`` (version, info, channel
    priority) and fails anything else, so such a dry run builds its DAG on a machine without conda
    (it never creates an environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = json.dumps({"conda_version": "24.7.1", "platform": "linux-64", "root_prefix": str(folder),
                       "conda_prefix": str(folder), "envs_dirs": [str(folder / "envs")]})
    script = folder / "conda"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "conda 24.7.1";;\n'
        f"  info) echo '{info}';;\n"
        """  config) echo '{"get": {"channel_priority": "strict"}}';;\n"""
        '  *) echo "stand-in conda: $* is not supported" >&2; exit 1;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def install_plugin(folder: Path, dist: str, entry_points: dict[str, dict[str, str]], files: dict[str, str]) -> Path:
    """A plug-in package as pip would leave it in ``folder``: its files, and the ``dist-info`` whose
    ``entry_points.txt`` names ``{group: {name: module}}``. ``folder`` then goes on PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {module}\n" for name, module in names.items()) + "\n"
        for group, names in entry_points.items()), encoding="utf-8")
    return folder


def plugin_dry_run(config: Path, workdir: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    """``snakemake -n -p`` of ``config`` in ``workdir`` (with stand-ins for its inputs), plug-in
    folders first on PYTHONPATH."""
    fake_inputs(config, workdir)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [*pythonpath, ROOT])}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-n", "-p", "--cores", "1",
         "--configfile", str(config), "--directory", str(workdir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def reload_plugins(monkeypatch: pytest.MonkeyPatch, site: Path, registries: list[Any]) -> None:
    """In this test, ``registries`` load again (their built-in modules, then the entry points) with
    ``site`` first on sys.path; its modules are imported afresh (another test may have imported a
    module of the same name from its own folder)."""
    monkeypatch.syspath_prepend(str(site))
    for module in site.glob("*.py"):
        monkeypatch.delitem(sys.modules, module.stem, raising=False)
    for registry in registries:
        monkeypatch.setattr(registry, "_items", dict(registry._items))
        monkeypatch.setattr(registry, "_loaded", False)


def tiny_config(tmp_path: Path, documents: Path | None = None) -> Path:
    """The demo config with a small grid and few steps, writing under tmp_path."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    with_embedded_models(cfg)
    if documents is not None:
        cfg["corpus"]["source"] = str(documents)
        cfg["collections"]["demo"]["source"] = str(documents)
    cfg["generators"] = {"d2q": {**cfg["generators"]["d2q"], "pool_size": 3, "train": {"max_steps": 20}}}
    cfg["querygen"]["shard_size"] = 256
    for params in cfg["pretrain"]["schemas"].values():
        params.update(max_steps=4, save_steps=2, batch_size=8)
        if params.get("head_warmup_steps"):  # the demo's warm-up must leave steps to train the encoder
            params["head_warmup_steps"] = 1
    cfg["pretrain"]["grid"] = [
        {"schema": ["contrastive"], "context": ["span"]},
        {"schema": ["contrastive"], "context": ["query"], "generator": ["d2q"], "count": [2]},
    ]
    cfg["collections"]["demo"]["encode_shards"] = 1
    cfg["finetune"]["params"].update(num_train_epochs=1, train_n_passages=4)
    cfg["evaluation"] = {
        "bm25": ["demo-test"],
        "zeroshot": {"encoders": ["all"], "evalsets": ["demo-test"]},
        "finetuned": {"datasets": ["demo"], "encoders": ["pt/demo/contrastive/query-d2q-c2-nall"],
                      "stages": ["retriever1", "retriever2"], "evalsets": ["demo-test"]},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
