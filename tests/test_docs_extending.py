"""docs/extending.md runs as written: its files (``file=<path>`` code blocks) become a package installed
in a temporary folder (the entry points of its pyproject block) and data files in the workflow's
directory, its config blocks (``yaml config``) are merged into the demo config, and the dry run of
that config plans the cells, generation and evaluation each example adds. The plug-ins then run in
process: the context draws, the generator fills pools."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, install_plugin, plugin_dry_run, reload_plugins

from qcpt.pretrain.contexts import registry as context_registry
from qcpt.pretrain.schemas import registry as schema_registry
from qcpt.querygen.generators import registry as generator_registry

DOC = ROOT / "docs" / "extending.md"
_BLOCK = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.M | re.S)


def blocks() -> list[tuple[str, str, str]]:
    """``(language, info after it, body)`` of every fenced block of the page."""
    return [(m[1], m[2].strip(), m[3]) for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def merge(base: Any, extra: Any) -> Any:
    """``extra`` merged into ``base``: mappings key by key, lists extended."""
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def set_up(tmp: Path) -> tuple[Path, Path, Path]:
    """The page's package (in ``tmp/site``), data files (in ``tmp/work``) and merged config."""
    site, work = tmp / "site", tmp / "work"
    files = {info.removeprefix("file="): body for _, info, body in blocks() if info.startswith("file=")}
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    install_plugin(site, project["name"], project["entry-points"],
                   {name: body for name, body in files.items() if name.endswith(".py")})
    for name, body in files.items():
        if not name.endswith(".py"):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(body, encoding="utf-8")
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    for _, info, body in blocks():
        if info == "config":
            config = merge(config, yaml.safe_load(body))
    path = tmp / "extended.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return site, work, path


def test_every_code_block_of_the_page_is_a_file_or_a_config_the_test_uses():
    found = blocks()
    assert found, "no code blocks in docs/extending.md"
    for language, info, body in found:
        assert info.startswith("file=") or info == "config", f"a {language} block the test does not run:\n{body}"
    names = {info for _, info, _ in found}
    assert {"file=toy_schema.py", "file=first_sentence.py", "file=keywords_backend.py", "file=pyproject.toml"} <= names


def test_the_pages_examples_dry_run_in_the_demo_grid(tmp_path):
    site, work, config = set_up(tmp_path)
    proc = plugin_dry_run(config, work, [site])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()

    def params(command: str, cell: str) -> dict[str, Any]:
        found = [line for line in lines if command in line and cell in line]
        assert len(found) == 1, f"no single {command} job of {cell} in the dry run"
        return json.loads(found[0].split("--params '", 1)[1].split("'", 1)[0])

    toy = params("pretrain.driver", "/toy/span/")
    assert toy["schema"] == "toy" and toy["max_steps"] == 5  # the config's values; the rest the schema's defaults
    assert params("pretrain.driver", "/contrastive/firstsentence/")["context"] == "firstsentence"
    assert params("pretrain.driver", "/contrastive/query-words-c5-nall/")["context"] == "query"
    generate = [line for line in lines if "querygen.driver" in line and '"backend":"keywords"' in line]
    assert generate, "no generation job of the keywords backend"
    for system in ("bm25", "zeroshot/pt/demo/contrastive/firstsentence"):
        assert any(f"eval/demo-mine/{system}/metrics.json" in line for line in lines), f"demo-mine is not scored for {system}"


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The page's package on sys.path (its dist-info too, so its entry points are found), and the
    registries as if nothing had been loaded yet."""
    site, work, _ = set_up(tmp_path)
    reload_plugins(monkeypatch, site, [schema_registry.REGISTRY, context_registry.REGISTRY, generator_registry.REGISTRY])
    return work


def test_the_pages_plug_ins_register_and_run(plugins):
    from qcpt.querygen.driver import Passage, generate_pools
    from qcpt.querygen.spec import GeneratorSpec

    assert schema_registry.get("toy").label == "Toy MAE"
    assert context_registry.grid_names()[-1] == "firstsentence"
    spec = GeneratorSpec.from_dict({"name": "words", "backend": "keywords", "model": "none",
                                    "prompt": "doct5query", "pool_size": 5})
    backend = generator_registry.get("keywords").load(spec)
    text = "Comet Ferreira is a periodic comet first observed by Dr. Ingrid Ferreira at Calar Alto in 1980."
    pools, counters = generate_pools(spec, backend, [Passage("d1", "", text)], 0, progress=False)
    queries = pools["d1"].queries
    assert len(queries) == 5 and all(len(q.split()) == 4 and set(q.split()) <= set(text.split()) for q in queries)
    assert generate_pools(spec, backend, [Passage("d1", "", text)], 0, progress=False)[0]["d1"].queries == queries
    draw = context_registry.get("firstsentence").draw

    class Source:
        def passage_text(self, passage: int) -> str:
            return " Tides rise twice a day. The moon pulls the sea!"

    assert draw(Source(), 0, None) == ("Tides rise twice a day.", "span")
