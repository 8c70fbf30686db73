"""``Registry``: a named set of entries (encodings, metrics, augmentors) that people extend.

One registry per concept is the one place that knows its members: CLI choices, help text,
config validation and error messages all read from it, so adding an entry is a local change.

Registries are built from torch-free modules (``qsdaqec --help`` reads them); an entry whose
implementation needs torch imports it inside its factory function.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order. ``what`` names the concept in error messages."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry ``name``; an unknown name is a ``ConfigError`` listing the choices."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}"
            ) from None

    __getitem__ = get

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def choices(self) -> str:
        """``"a | b | c"``, for help text."""
        return " | ".join(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()

    def __len__(self) -> int:
        return len(self._entries)
