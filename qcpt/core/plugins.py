"""A registry of plug-ins (context kinds, generator backends): declarations registered by the modules
that hold them, the built-in modules first, then those a researcher's installed package names through
an entry point group.

A plug-in module calls :meth:`Registry.register` when imported. Built-in ones are listed by module name
(one line each); a package adds its own with ``[project.entry-points."<group>"] name = "module"`` in its
pyproject, found on first use, so nothing of qcpt changes. Standard library only: a generator runs
in a vLLM interpreter where nothing else may be installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any, Generic, Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    def __init__(self, what: str, group: str, builtin: Iterable[str]):
        self.what = what  # how errors name one ("pre-training context")
        self.group = group  # the entry point group plug-in packages register under
        self.builtin = tuple(builtin)  # modules whose import registers the built-in ones, in order
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, item: T) -> T:
        """Add ``item`` (a second registration of the same name must be the same declaration)."""
        held = self._items.get(item.name)
        if held is not None and held != item:
            raise ValueError(f"{self.what} {item.name!r} is registered twice, differently")
        self._items[item.name] = item
        return item

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin:
            importlib.import_module(module)
        for entry in entry_points(group=self.group):
            try:
                entry.load()
            except Exception as err:  # a broken plug-in is named, not skipped
                raise ImportError(f"{self.what} plug-in {entry.name!r} ({entry.value}): {err}") from err

    def items(self) -> dict[str, T]:
        """Every registered declaration by name, the built-in ones first."""
        self._load()
        return dict(self._items)

    def names(self) -> tuple[str, ...]:
        return tuple(self.items())

    def get(self, name: str) -> T:
        found = self.items().get(name)
        if found is None:
            raise ValueError(f"unknown {self.what} {name!r} (known: {', '.join(self.names())})")
        return found


def function(name: str) -> Callable[..., Any]:
    """The function ``module:function`` names (a declaration's code, imported when it is used)."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)
