"""The argument checks the public entries share: one function for each promise about input.

A public method checks what it was given with these before anything reaches the store, a
frame, a handler or a log line, so a bad value gives the same one-line ``ValidationError``
(naming the argument) whichever entry it came through:

- :func:`shown`, :func:`printable` and :func:`one_line` render any value for a message, never
  raising (an object whose ``repr``/``str`` raises, or one too deep to render, gets a
  placeholder);
- :func:`text_arg`, :func:`room_arg`, :func:`int_arg`, :func:`number_arg`, :func:`time_arg`
  and :func:`mapping_arg` check one argument of that kind;
- :func:`check_text` refuses lone surrogates, :func:`check_nesting` cycles and deep nesting;
- :func:`from_pydantic` turns a pydantic validation error into our one-line ``ValidationError``.
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eliza_nb.errors import ValidationError

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "check_nesting",
    "check_text",
    "from_pydantic",
    "int_arg",
    "mapping_arg",
    "number_arg",
    "one_line",
    "printable",
    "pydantic_problem",
    "room_arg",
    "shown",
    "text_arg",
    "time_arg",
]

#: The largest integer SQLite (and numpy's int64) can hold.
MAX_INT = 2**63 - 1
#: How deeply a setting value may nest lists and dicts (JSON itself rarely goes past 20).
MAX_DEPTH = 100
_SHOWN = 60


def shown(value: Any, limit: int = _SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters, or a placeholder if it cannot be had."""
    try:
        text = repr(value)
    except Exception as exc:  # RecursionError too: a value nested past the interpreter's limit
        return f"<{type(value).__name__}: repr() failed ({type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(value: Any) -> str:
    """``str(value)``, or a placeholder when the value cannot print itself."""
    try:
        return str(value)
    except Exception as exc:
        return f"<{type(value).__name__}: unprintable ({type(exc).__name__})>"


def one_line(value: Any) -> str:
    """:func:`printable` with every run of whitespace (newlines too) made one space."""
    return " ".join(printable(value).split())


def check_text(text: str, field: str) -> str:
    """``text``, if it encodes to UTF-8: lone surrogates can be neither stored nor shown.

    Raises:
        ValidationError: it holds a lone surrogate (the position is given).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{field} is not valid Unicode: lone surrogate at position {exc.start}", field=field
        ) from None
    return text


def _wrong(field: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(
        f"{field} must be {expected}, got {type(value).__name__} {shown(value, 30)}", field=field
    )


def text_arg(value: Any, field: str) -> str:
    """``value``, if it is a string of valid Unicode.

    Raises:
        ValidationError: it is not a string, or holds a lone surrogate.
    """
    if not isinstance(value, str):
        raise _wrong(field, "a string", value)
    return check_text(value, field)


def room_arg(value: Any, field: str = "room_id") -> str:
    """A room id as text: a string of valid Unicode or a ``UUID``.

    Raises:
        ValidationError: anything else.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise _wrong(field, "a string or a UUID", value)
    return check_text(value, field)


def int_arg(value: Any, field: str, minimum: int = 0) -> int:
    """``value``, if it is an int (not a bool) from ``minimum`` to 2**63 - 1.

    Raises:
        ValidationError: anything else (the range is given).
    """
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_INT:
        raise _wrong(field, f"an integer from {minimum} to 2**63 - 1", value)
    return value


def number_arg(value: Any, field: str) -> float:
    """``value`` as a float, if it is a finite real number (int, float, numpy's; not a bool).

    Raises:
        ValidationError: anything else (nan and the infinities included).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _wrong(field, "a finite number", value)
    try:
        number = float(value)
    except OverflowError:
        raise _wrong(field, "a finite number", value) from None
    if not math.isfinite(number):
        raise _wrong(field, "a finite number", value)
    return number


def time_arg(value: Any, field: str) -> Any:
    """``value``, if it can be a time bound: None, a datetime, an ISO string or epoch seconds.

    The store parses the string; this checks the type and that a number fits a float.

    Raises:
        ValidationError: another type, or a number too large for a float.
    """
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, float) and not isinstance(value, bool):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        number_arg(value, field)
        return value
    raise _wrong(field, "a datetime, an ISO 8601 string or epoch seconds", value)


def mapping_arg(value: Any, field: str) -> dict[str, Any]:
    """``value`` as a dict, if it is None (an empty dict) or a mapping.

    Raises:
        ValidationError: anything else.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _wrong(field, "a dict", value)
    return dict(value)


def check_nesting(value: Any, field: str, limit: int = MAX_DEPTH) -> Any:
    """``value``, if its lists, tuples, sets and dicts nest at most ``limit`` deep, with no cycle.

    Walked without recursion, so a value of any depth is checked (and refused) safely.

    Raises:
        ValidationError: it contains itself, or nests deeper than ``limit``.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    open_ids: set[int] = set()  # the containers on the path being walked
    checked: dict[int, int] = {}  # container id -> the depth it passed at (shared parts)
    while stack:
        item, depth = stack.pop()
        if depth < 0:  # the marker that all of item's children are checked
            open_ids.discard(id(item))
            checked[id(item)] = -depth - 1
            continue
        children = _children(item)
        if children is None or checked.get(id(item), -1) >= depth:
            continue
        if id(item) in open_ids:
            raise ValidationError(f"{field} contains itself (a cycle)", field=field)
        if depth >= limit:
            raise ValidationError(f"{field} nests deeper than {limit} levels", field=field)
        open_ids.add(id(item))
        stack.append((item, -depth - 1))
        stack.extend((child, depth + 1) for child in children)
    return value


def _children(item: Any) -> list[Any] | None:
    """The items of a container (a dict's values), None for anything else."""
    if isinstance(item, Mapping):
        return list(item.values())
    if isinstance(item, list | tuple | set | frozenset):
        return list(item)
    return None


def pydantic_problem(exc: Any) -> tuple[str, str]:
    """``(where, what)`` of a pydantic ``ValidationError``: the first bad field, on one line.

    ``what`` says what was expected and the type given, and how many other problems there are.
    """
    problems = exc.errors(include_url=False)
    first = problems[0]
    where = ".".join(p if isinstance(p, str) else shown(p, 20) for p in first["loc"])
    what = " ".join(str(first["msg"]).split())
    if "input" in first and first.get("type") != "missing":
        what += f" (got {type(first['input']).__name__})"
    if len(problems) > 1:
        what += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return where, what


def from_pydantic(
    exc: Any, subject: str, *, field: str | None = None, plugin: str | None = None
) -> ValidationError:
    """Our one-line ``ValidationError`` for a pydantic one: ``subject: field 'x': what``.

    Args:
        exc: The pydantic ``ValidationError``.
        subject: What was validated (``"message"``, ``"Plugin 'x'"``, ``"c3po.json"``).
        field: The argument named in ``error.field`` (default: the bad field's path).
        plugin: The plugin at fault, when there is one.
    """
    where, what = pydantic_problem(exc)
    return ValidationError(
        f"{subject}: field {where or subject!r}: {what}",
        field=field or where or subject,
        plugin=plugin,
        details={"loc": where},
    )
