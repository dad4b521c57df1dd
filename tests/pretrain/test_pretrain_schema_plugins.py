"""A pre-training schema is a plug-in: a module of its own, found through the ``qcpt.schemas``
entry point of the package that holds it, with no file of qcpt changed. The toy schema here lives
in a temporary folder (its module and the ``dist-info`` a pip install would write) and a dry run of
the demo grid with one toy cell added plans its pre-training job; without the plug-in the same
config is refused naming the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from conftest import ROOT, fake_inputs, reload_plugins

from qcpt.pretrain.schemas import registry

TOY = textwrap.dedent('''
    """A toy schema: CoT-MAE's objective with a two-layer decoder and its own defaults."""
    from qcpt.pretrain.schemas.registry import Schema, register


    def build(encoder, p):
        from qcpt.pretrain.objectives.cotmae import CotMaeModel

        return CotMaeModel(encoder, decoder_layers=p.decoder_layers)


    register(Schema(name="toy", label="Toy MAE", description="CoT-MAE with two decoder layers",
                    builder="toy_schema:build", context_labels="context_mlm", accumulable=True, decoder=True,
                    defaults=dict(learning_rate=2e-4, global_batch_size=64, max_steps=100, mlm_probability=0.2,
                                  span_source="other", decoder_layers=2)))
''')


def install_toy(folder: Path) -> Path:
    """The toy schema's module and the metadata of an installed distribution that names it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy_schema.py").write_text(TOY, encoding="utf-8")
    info = folder / "toy_schema-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-schema\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\ntoy = toy_schema\n", encoding="utf-8")
    return folder


def toy_config(path: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["pretrain"]["grid"].append({"schema": ["toy"], "context": ["span"]})
    config["pretrain"].setdefault("schemas", {})["toy"] = {"batch_size": 4, "max_steps": 5}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def dry_run(config: Path, workdir: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    fake_inputs(config, workdir)  # stand-ins for the config's inputs (the demo's, relative to workdir)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [*pythonpath, ROOT])}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-n", "-p", "--cores", "1",
         "--configfile", str(config), "--directory", str(workdir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_toy_schema_from_its_own_package_dry_runs_in_the_grid(tmp_path):
    plugins = install_toy(tmp_path / "site")
    config = toy_config(tmp_path / "toy.yaml")
    proc = dry_run(config, tmp_path / "work", [plugins])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    params = [json.loads(line.split("--params '", 1)[1].split("'", 1)[0])
              for line in out.splitlines() if "pretrain.driver" in line and "/toy/span/" in line]
    assert len(params) == 1, "no pre-training job of the toy cell in the dry run"
    assert params[0]["schema"] == "toy" and params[0]["batch_size"] == 4 and params[0]["max_steps"] == 5


def test_without_the_plug_in_the_toy_grid_is_refused_naming_it(tmp_path):
    config = toy_config(tmp_path / "toy.yaml")
    proc = dry_run(config, tmp_path / "work", [])
    assert proc.returncode != 0
    block = len(yaml.safe_load(config.read_text(encoding="utf-8"))["pretrain"]["grid"]) - 1  # the toy's
    assert f"config key 'pretrain.grid.{block}.schema.0': 'toy' is not one of" in proc.stdout + proc.stderr


def test_the_toy_schema_is_registered_in_process_with_its_defaults_and_label(tmp_path, monkeypatch):
    reload_plugins(monkeypatch, install_toy(tmp_path / "site"), [registry.REGISTRY])
    assert registry.names()[:3] == ("contrastive", "cotmae", "bottleneck")
    assert registry.names()[3:] == ("toy",)
    toy = registry.get("toy")
    assert toy.label == "Toy MAE" and toy.defaults["decoder_layers"] == 2
