"""``--params JSON`` → dataclass: the shared parser (kept import-light for the vLLM venv)."""

from ..core.params import parse_params

__all__ = ["parse_params"]
