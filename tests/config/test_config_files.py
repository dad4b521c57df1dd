"""Config files that include others (qcpt/core/config_files.py): the paper presets share one datasets
file; conflicts and unmerged configs fail naming the key and the files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake

from qcpt import config as qconfig
from qcpt.core.config_files import ConfigFileError, merge_includes, read_config

PRESETS = [ROOT / "configs" / "query-as-context.yaml", ROOT / "configs" / "llm-expansion.yaml"]
DATASETS = ROOT / "configs" / "datasets" / "msmarco-beir.yaml"


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_both_paper_presets_take_collections_and_evalsets_from_one_file():
    shared = yaml.safe_load(DATASETS.read_text(encoding="utf-8"))
    for preset in PRESETS:
        raw = yaml.safe_load(preset.read_text(encoding="utf-8"))
        assert raw["include"] == "datasets/msmarco-beir.yaml"
        assert "evalsets" not in raw  # no second copy to drift
        # A preset adds to the shared collections only what the datasets file leaves unset: the LLM
        # preset's multifield BM25 (Table 3's BM25 column, docs/fidelity.md #15) and both presets'
        # 128-token MS MARCO search (#12), nothing else.
        added = raw.get("collections", {})
        assert added.pop("msmarco-passage") == {"max_len": 128}
        assert all(spec == {"bm25": {"fields": "multifield"}} and name.startswith("beir-")
                   for name, spec in added.items())
        merged = read_config(preset)
        assert "include" not in merged
        expected = {name: {**spec, "bm25": {**spec["bm25"], **added[name]["bm25"]}} if name in added else spec
                    for name, spec in shared["collections"].items()}
        expected["msmarco-passage"] = {**expected["msmarco-passage"], "max_len": 128}
        assert merged["collections"] == expected and merged["evalsets"] == shared["evalsets"]
        qconfig.validate(merged)


def test_a_relative_include_is_relative_to_the_file_that_names_it(tmp_path, monkeypatch):
    write(tmp_path / "cfg" / "parts" / "data.yaml", {"collections": {"a": {"source": "x"}}})
    main = write(tmp_path / "cfg" / "main.yaml", {"include": "parts/data.yaml", "results": "r"})
    monkeypatch.chdir(tmp_path)  # not the config's folder
    assert read_config(main) == {"collections": {"a": {"source": "x"}}, "results": "r"}


def test_mappings_merge_key_by_key_and_a_list_of_files_is_read_in_order(tmp_path):
    write(tmp_path / "one.yaml", {"collections": {"a": {"source": "x"}}})
    write(tmp_path / "two.yaml", {"evalsets": {"e": {"collection": "a"}}})
    main = write(tmp_path / "main.yaml", {"include": ["one.yaml", "two.yaml"],
                                          "collections": {"b": {"source": "y"}}})
    merged = read_config(main)
    assert merged["collections"] == {"a": {"source": "x"}, "b": {"source": "y"}}
    assert merged["evalsets"] == {"e": {"collection": "a"}}


def test_a_key_set_twice_is_an_error_naming_the_key_and_both_files(tmp_path):
    data = write(tmp_path / "data.yaml", {"collections": {"a": {"source": "x", "encode_shards": 4}}})
    main = write(tmp_path / "main.yaml", {"include": "data.yaml", "collections": {"a": {"encode_shards": 2}}})
    with pytest.raises(ConfigFileError) as err:
        read_config(main)
    message = str(err.value)
    assert "'collections.a.encode_shards'" in message and str(data) in message and str(main) in message
    # two included files that set the same key: named too
    write(tmp_path / "other.yaml", {"collections": {"a": {"source": "z"}}})
    both = write(tmp_path / "both.yaml", {"include": ["data.yaml", "other.yaml"]})
    with pytest.raises(ConfigFileError, match=r"'collections\.a\.source' is set both in .*data\.yaml and in .*other\.yaml"):
        read_config(both)


def test_a_missing_nested_or_malformed_include_fails_naming_the_file(tmp_path):
    main = write(tmp_path / "main.yaml", {"include": "absent.yaml"})
    with pytest.raises(ConfigFileError, match=r"main\.yaml: config key 'include' names .*absent\.yaml"):
        read_config(main)
    write(tmp_path / "inner.yaml", {"include": "deeper.yaml"})
    write(tmp_path / "main.yaml", {"include": "inner.yaml"})
    with pytest.raises(ConfigFileError, match=r"inner\.yaml .*cannot include others"):
        read_config(main)
    write(tmp_path / "main.yaml", {"include": {"not": "a list"}})
    with pytest.raises(ConfigFileError, match="must be a file name or a list"):
        read_config(main)
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    write(tmp_path / "main.yaml", {"include": "list.yaml"})
    with pytest.raises(ConfigFileError, match=r"list\.yaml .*must be a mapping"):
        read_config(main)


def test_validate_refuses_a_config_whose_includes_were_not_merged():
    raw = yaml.safe_load(PRESETS[0].read_text(encoding="utf-8"))
    with pytest.raises(ConfigFileError, match="config key 'include'.*read_config"):
        qconfig.validate(raw)


def test_merge_is_in_place_for_snakemakes_global_config(tmp_path):
    write(tmp_path / "data.yaml", {"seed": 1})
    main = write(tmp_path / "main.yaml", {"include": "data.yaml"})
    config = yaml.safe_load(main.read_text())
    same = merge_includes(config, [main])
    assert same is config and config == {"seed": 1}


def test_snakemake_stops_on_a_conflicting_include_naming_key_and_files(tmp_path):
    """The hook in rules/common.smk: the workflow merges before validating, and a conflict is a
    WorkflowError with the merge's message (not a schema error about a missing section)."""
    demo = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    shared = {"collections": demo.pop("collections"), "evalsets": demo.pop("evalsets")}
    write(tmp_path / "parts" / "shared.yaml", shared)
    demo["include"] = "parts/shared.yaml"
    demo["evalsets"] = {"demo-test": {"relevance_level": 2}}
    config = write(tmp_path / "cfg.yaml", demo)
    proc = snakemake("-n", f"--configfile={config}", "--directory", str(tmp_path), cwd=tmp_path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'evalsets.demo-test.relevance_level' is set both in" in out and "shared.yaml" in out, out[-2000:]
