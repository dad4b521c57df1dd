"""Config files that share sections: a config's ``include:`` names YAML files merged into it at load
time, before validation.

The two paper presets evaluate on the same collections and evalsets (MS MARCO passage, TREC DL,
14 BEIR sets); they name one datasets file instead of each carrying a copy of it:

    include: datasets/msmarco-beir.yaml      # (a list for several files)

A relative path is relative to the config file that names it. Mappings merge key by key (a preset
may add a collection of its own beside the included ones); a value set both by the config and by an
included file, or by two included files, is an error naming the key and both files, so nothing is
ever overridden silently. An included file holds sections only: it cannot include further files.

Snakemake loads the config files itself (``--configfile``); ``rules/common.smk`` calls
:func:`merge_includes` on the loaded config with ``workflow.configfiles`` before validating it.
Python code reads a config file with :func:`read_config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

INCLUDE_KEY = "include"


class ConfigFileError(ValueError):
    """A config file, or a file it includes, cannot be read or merged (the message names both)."""


def _names(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigFileError(f"{where}: config key '{INCLUDE_KEY}' must be a file name or a list of file names, "
                          f"not {value!r}")


def _read_yaml(path: Path, named_by: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigFileError(f"{named_by}: config key '{INCLUDE_KEY}' names {path}, which cannot be read "
                              f"({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{path} (included by {named_by}): not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path} (included by {named_by}): must be a mapping of config sections")
    return data


def _merge(base: dict[str, Any], base_origin: dict[str, str], extra: Mapping[str, Any], origin: str,
           prefix: str = "") -> dict[str, Any]:
    """``base`` with ``extra`` merged in: mappings key by key, anything else only where ``base`` does
    not set it. ``base_origin`` maps each dotted key of ``base`` that came from a file to that file."""
    out = dict(base)
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if key not in out:
            out[key] = value
            base_origin[dotted] = origin
        elif isinstance(out[key], Mapping) and isinstance(value, Mapping):
            # The first file to set a mapping owns its top: its children are attributed to it.
            out[key] = _merge(dict(out[key]), base_origin, value, origin, dotted + ".")
        else:
            first = next((base_origin[k] for k in (dotted, *_parents(dotted)) if k in base_origin), "the config")
            raise ConfigFileError(f"config key '{dotted}' is set both in {first} and in {origin}; "
                                  f"set it in one of them")
    return out


def _parents(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def merge_includes(config: dict[str, Any], config_files: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Merge the files named by ``config['include']`` into ``config`` (in place, so Snakemake's global
    ``config`` is the merged one) and drop the key; return ``config``.

    ``config_files`` are the files the config was loaded from (Snakemake's ``workflow.configfiles``):
    a relative include is resolved against the directory of the file that names it; one named
    elsewhere (``--config include=...``) against the working directory."""
    if INCLUDE_KEY not in config:
        return config
    where: dict[str, tuple[Path, str]] = {}
    for file in config_files:
        file = Path(file)
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # Snakemake has read it already; a file it could not read never got this far
        if isinstance(raw, dict) and INCLUDE_KEY in raw:
            for name in _names(raw[INCLUDE_KEY], str(file)):
                where.setdefault(name, (file.parent / name, str(file)))
    names = _names(config[INCLUDE_KEY], "the config")
    own = {k: v for k, v in config.items() if k != INCLUDE_KEY}
    origin: dict[str, str] = {}
    merged: dict[str, Any] = {}
    for name in names:
        path, named_by = where.get(name, (Path(name), "the config"))
        data = _read_yaml(path, named_by)
        if INCLUDE_KEY in data:
            raise ConfigFileError(f"{path} (included by {named_by}): an included file cannot include "
                                  f"others (config key '{INCLUDE_KEY}'); name them all in {named_by}")
        merged = _merge(merged, origin, data, str(path))
    # The config's own keys last: a key it shares with an included file is reported, not overridden.
    file_of_config = next(iter(v for _, v in where.values()), "the config")
    merged = _merge(merged, origin, own, file_of_config)
    config.clear()
    config.update(merged)
    return config


def read_config(path: str | Path) -> dict[str, Any]:
    """A config file as Snakemake's ``--configfile`` gives it to the workflow, includes merged."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict):
        raise ConfigFileError(f"{path}: a config file must be a mapping of config keys")
    return merge_includes(config, [path])


def check_merged(config: Mapping[str, Any]) -> None:
    """Refuse a config whose includes were never merged (read with plain ``yaml.safe_load``): its
    included sections would be reported missing, which points at the wrong cause."""
    if INCLUDE_KEY in config:
        raise ConfigFileError(f"config key '{INCLUDE_KEY}' ({config[INCLUDE_KEY]!r}) was not merged: read the "
                              f"file with qcpt.core.config_files.read_config (Snakemake merges it itself)")
