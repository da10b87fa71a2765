"""HandlerTable: the per-plugin handler bookkeeping that events and models share."""

from __future__ import annotations

from eliza_nb._handler_table import HandlerTable


def owner(entry: tuple[str, int]) -> str:
    return entry[0]


def test_entries_keep_the_order_they_were_added_in() -> None:
    table: HandlerTable[tuple[str, int]] = HandlerTable(owner)
    table.add("PING", ("a", 1))
    table.add("PING", ("b", 2))
    table.add("PING", ("a", 3))
    assert list(table.get("PING")) == [("a", 1), ("b", 2), ("a", 3)]
    assert list(table.get("PONG")) == [] and "PONG" not in table


def test_replace_drops_the_owners_entries_and_order_sorts_stably() -> None:
    table: HandlerTable[tuple[str, int]] = HandlerTable(owner, order=lambda e: -e[1])
    table.add("TEXT", ("a", 1))
    table.add("TEXT", ("b", 1))
    table.add("TEXT", ("a", 5), replace=True)
    assert list(table.get("TEXT")) == [("a", 5), ("b", 1)]


def test_removing_an_owner_drops_its_entries_and_empty_keys() -> None:
    table: HandlerTable[tuple[str, int]] = HandlerTable(owner)
    table.add("X", ("a", 1))
    table.add("Y", ("a", 2))
    table.add("Y", ("b", 3))
    table.remove_owner("a")
    assert list(table.items()) == [("Y", [("b", 3)])]
    assert "X" not in table


def test_keep_says_how_many_went_and_leaves_what_was_read_unchanged() -> None:
    table: HandlerTable[tuple[str, int]] = HandlerTable(owner)
    table.add("X", ("a", 1))
    table.add("X", ("b", 2))
    seen = table.get("X")
    assert table.keep("X", lambda e: e[1] != 1) == 1
    table.add("X", ("c", 3))
    assert list(seen) == [("a", 1), ("b", 2)]  # an emit in progress is not disturbed
    assert table.keep("X", lambda e: False) == 2 and "X" not in table
