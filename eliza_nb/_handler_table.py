"""Handlers by key (an event name, a model type), each owned by the plugin that added it.

``EventEmitter`` and ``ModelRegistry`` keep one each: registering a plugin adds its handlers,
unregistering it drops exactly those. A key's list is replaced on every change, never changed
in place, so whoever iterates what :meth:`HandlerTable.get` returned (an emit in progress) is
not disturbed by a handler that registers or removes another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["HandlerTable"]

E = TypeVar("E")


class HandlerTable(Generic[E]):
    """Entries by key, each owned by a plugin.

    Args:
        owner: Names the plugin that owns an entry.
        order: Sort key of the entries of one key (the sort is stable: equal entries keep the
            order they were added in); None keeps the order they were added in.
    """

    __slots__ = ("_order", "_owner", "_rows")

    def __init__(self, owner: Callable[[E], str], order: Callable[[E], Any] | None = None) -> None:
        self._owner = owner
        self._order = order
        self._rows: dict[str, list[E]] = {}

    def add(self, key: str, entry: E, *, replace: bool = False) -> None:
        """Add ``entry`` under ``key``; with ``replace``, first drop its owner's entries there."""
        rows = self._rows.get(key, [])
        if replace:
            owner = self._owner(entry)
            rows = [e for e in rows if self._owner(e) != owner]
        rows = [*rows, entry]
        if self._order is not None:
            rows.sort(key=self._order)
        self._rows[key] = rows

    def keep(self, key: str, wanted: Callable[[E], bool]) -> int:
        """Keep only the entries of ``key`` that are ``wanted``; returns how many were dropped."""
        before = self._rows.get(key, [])
        kept = [e for e in before if wanted(e)]
        if kept:
            self._rows[key] = kept
        else:
            self._rows.pop(key, None)  # a key without entries is not served
        return len(before) - len(kept)

    def remove_owner(self, owner: str) -> None:
        """Drop every entry ``owner`` added."""
        for key in list(self._rows):
            self.keep(key, lambda e: self._owner(e) != owner)

    def get(self, key: str) -> Sequence[E]:
        """The entries of ``key`` in order (empty when it has none)."""
        return self._rows.get(key, ())

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def items(self) -> Iterator[tuple[str, Sequence[E]]]:
        """(key, entries) for every key that has entries, sorted by key."""
        for key in sorted(self._rows):
            yield key, self._rows[key]
