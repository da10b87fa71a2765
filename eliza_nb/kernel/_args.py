"""Argument handling for the ``%eliza`` magic: splitting, parsing, and value conversion.

Every failure raises IPython's ``UsageError`` (one clear line, no traceback), never
``SystemExit``, which would end the kernel's cell with a confusing message.
"""

from __future__ import annotations

import argparse
import enum
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError

from eliza_nb._checks import shown
from eliza_nb.parameters import ParameterField, parameter_fields

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "Arg",
    "HelpShown",
    "UsageParser",
    "arg",
    "error_code",
    "json_object",
    "option_value",
    "options",
    "pairs",
    "parse_value",
    "positive",
    "split_chain",
    "split_dashes",
    "split_line",
    "typed_fields",
]

Arg = tuple[tuple[str, ...], dict[str, Any]]


def arg(*flags: str, **kwargs: Any) -> Arg:
    """The arguments of one ``add_argument`` call, kept for later."""
    return flags, kwargs


class HelpShown(Exception):
    """``-h`` printed a subcommand's help: nothing more to do."""


class UsageParser(argparse.ArgumentParser):
    """An argparse parser for a magic: bad arguments raise ``UsageError`` (one clear line)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}. See %eliza help {self.prog.split()[-1]}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr)
        raise HelpShown


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell (quotes group words)."""
    if not _QUOTING.intersection(line):
        return line.split()  # what shlex gives for a line without quotes, faster
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%eliza: cannot split the line: {exc}") from None


_QUOTING = frozenset("'\"\\")


def split_dashes(words: list[str]) -> tuple[list[str], list[str] | None]:
    """The words before a ``--`` word and those after it (None when there is no ``--``).

    argparse drops a ``--`` in some places and keeps it in others; after it, every word is
    message text, even one that starts with ``-``.
    """
    if "--" not in words:
        return words, None
    at = words.index("--")
    return words[:at], words[at + 1 :]


def split_chain(
    words: list[str], is_action: Callable[[str], bool], dashes: int | None
) -> tuple[list[str], list[str], bool]:
    """The action names of ``%eliza chain``, the message words, and whether the names were
    listed explicitly (then each must name an action).

    The words before ``--`` (at index ``dashes``), or a comma list (``A,B`` or ``A, B``), are
    exactly the names; otherwise the leading words that name an action are.
    """
    if dashes is not None:
        return _comma_names(words[:dashes]), words[dashes:], True
    if words and "," in words[0]:
        taken = 1
        while taken < len(words) and words[taken - 1].endswith(","):
            taken += 1  # "A, B": the list goes on after a word that ends in a comma
        return _comma_names(words[:taken]), words[taken:], True
    taken = 0
    while taken < len(words) and is_action(words[taken]):
        taken += 1
    return words[:taken], words[taken:], False


def _comma_names(words: list[str]) -> list[str]:
    return [name.strip() for word in words for name in word.split(",") if name.strip()]


def parse_value(text: str) -> Any:
    """A JSON literal (number, bool, object...) when ``text`` is one, else the text itself.

    Raises:
        UsageError: it is JSON nested too deeply to be read.
    """
    try:
        return _loads(text)
    except ValueError:
        return text


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"%eliza: {shown(text, 30)} nests too deeply to be read as JSON") from None


def pairs(items: Iterable[str], *, literal: bool) -> dict[str, Any]:
    """``KEY=VALUE`` words as a dict (values parsed as JSON when ``literal``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"%eliza: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value) if literal else value
    return out


def json_object(text: str | None, prog: str = "%eliza run") -> dict[str, Any]:
    """The ``--json`` option: a JSON object, or {} when not given."""
    if text is None:
        return {}
    try:
        value = _loads(text)
    except ValueError as exc:
        raise UsageError(f"{prog}: --json is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{prog}: --json must be a JSON object like '{{\"k\": 1}}'")
    return value


def options(
    items: Iterable[str],
    json_text: str | None,
    fields: Mapping[str, ParameterField],
    prog: str = "%eliza run",
) -> dict[str, Any]:
    """The handler options of ``--option KEY=VALUE`` words and ``--json`` (which wins).

    ``fields`` are the typed parameters of the action(s) to run: see :func:`option_value`.
    """
    given = {k: option_value(v, fields.get(k)) for k, v in pairs(items, literal=False).items()}
    return {**given, **json_object(json_text, prog)}


def typed_fields(models: Iterable[type[BaseModel] | None]) -> dict[str, ParameterField]:
    """The parameters of the actions' models by name (the first model to name one wins)."""
    fields: dict[str, ParameterField] = {}
    for model in models:
        for field in parameter_fields(model) if model is not None else ():
            fields.setdefault(field.name, field)
    return fields


def option_value(text: str, field: ParameterField | None) -> Any:
    """An ``--option`` value as the action wants it.

    A typed parameter gets the text as typed, for pydantic to convert and check (``007``
    stays ``"007"`` for a ``str`` field, becomes 7 for an ``int`` one); a choice gets the
    choice it names (pydantic would not read ``"1"`` as ``Literal[1]``); a JSON field (a list,
    a dict, a model) and an option that is no parameter get the JSON value the text is, if
    it is one.
    """
    if field is None or field.kind == "json":
        return parse_value(text)
    if field.kind == "choice":
        return next((c for c in field.choices if text in _choice_names(c)), text)
    return text


def _choice_names(choice: Any) -> tuple[str, ...]:
    if isinstance(choice, enum.Enum):
        return str(choice.value), choice.name
    return (str(choice),)


def positive(kind: type[Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` that accepts only finite numbers above zero (not nan, not inf)."""

    def convert(text: str) -> Any:
        value = kind(text)
        if not 0 < value < math.inf:  # nan and inf too
            raise ValueError(text)
        return value

    convert.__name__ = f"positive {kind.__name__}"
    return convert


def error_code(text: str) -> str:
    """An argparse ``type=`` for an error code (``--expect``): upper-cased, so ``timeout`` is
    ``TIMEOUT``; a word of letters, digits and underscores (plugins may add their own codes).

    Raises:
        ValueError: ``text`` cannot be a code (argparse turns it into a ``UsageError``).
    """
    code = text.strip().upper()
    if not _CODE.fullmatch(code):
        raise ValueError(text)
    return code


error_code.__name__ = "error code"  # argparse names it: "invalid error code value: 'a b'"
_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
