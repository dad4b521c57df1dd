"""What rules/data.smk and the rules reading external data need: the config's data sources, each
ir_datasets ID's uses, and a source as a job input."""

from __future__ import annotations

from typing import Any

from ...workflow.defaults import setting
from ...workflow.jobs import paths
from .. import irds


def config_sources(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every data source the config names: ``(config key, value, use)`` with use ``docs`` (a corpus
    or collection; ``raw`` where its format is raw), ``topics``, ``qrels`` or ``hard_negatives``."""
    out: list[tuple[str, str, str]] = []

    def docs_use(*keys: str) -> str:
        return "raw" if setting(config, *keys, "format") == "raw" else "docs"

    if "corpus" in config:
        out.append(("corpus.source", config["corpus"]["source"], docs_use("corpus")))
    for name, spec in config.get("collections", {}).items():
        out.append((f"collections.{name}.source", spec["source"], docs_use("collections", name)))
    topic_sets = [(f"evalsets.{n}", s) for n, s in config.get("evalsets", {}).items() if "mean_of" not in s]
    topic_sets += [(f"finetune.datasets.{n}", s) for n, s in config.get("finetune", {}).get("datasets", {}).items()]
    for key, spec in topic_sets:
        out += [(f"{key}.topics", spec["topics"], "topics"), (f"{key}.qrels", spec["qrels"], "qrels")]
        if spec.get("hard_negatives"):
            out.append((f"{key}.hard_negatives", spec["hard_negatives"], "hard_negatives"))
    return out


def irds_uses(config: dict[str, Any]) -> dict[str, list[str]]:
    """Each ``irds:`` dataset ID of the config and what it is read for (qcpt.corpus.irds.parts_of):
    ``docs``/``raw`` and ``topics`` (topics and qrels read the queries and qrels together)."""
    uses: dict[str, list[str]] = {}
    for _, value, use in config_sources(config):
        if irds.is_irds(value):
            wanted = "topics" if use in ("topics", "qrels") else use
            found = uses.setdefault(irds.dataset_id(value), [])
            if wanted not in found:
                found.append(wanted)
    return {did: sorted(found) for did, found in sorted(uses.items())}


def data_input(config: dict[str, Any], value: str) -> str:
    """A config's data source as a job input: a file as named, an ``irds:`` ID as the pointer file
    its irds_cache job writes (the reading job then reads the built cache)."""
    if irds.is_irds(value):
        return paths(config).of("irds_dataset", irdsid=irds.dataset_id(value))
    return value


def previous_in_download_group(config: dict[str, Any], irdsid: str) -> list[str]:
    """The pointer file of the ID before ``irdsid`` in its download group (qcpt.corpus.irds.group: IDs that
    share files of ir_datasets' cache), in ID order, else nothing: the cache jobs of one group run
    one after the other, so no two jobs ever build the same cache file."""
    same_group = [did for did in irds_uses(config) if irds.group(did) == irds.group(irdsid)]
    before = same_group[:same_group.index(irdsid)] if irdsid in same_group else []
    return [paths(config).of("irds_dataset", irdsid=before[-1])] if before else []
