"""Values of rules/corpus.smk's jobs that come from the config: the documents' source and format."""

from __future__ import annotations

from typing import Any

from ...workflow.defaults import setting
from .data import data_input


def documents_source(config: dict[str, Any]) -> str:
    """The corpus documents as a job input (an ``irds:`` ID as its cache's pointer file)."""
    return data_input(config, config["corpus"]["source"])


def documents_format(config: dict[str, Any]) -> str:
    return setting(config, "corpus", "format")
