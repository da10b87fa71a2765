"""Reading a model's answer as a decision: what to say, which actions and providers.

:func:`parse_decision` reads the XML answer of elizaOS 1.7's message handler (through
:func:`eliza_nb.prompts.parse_key_value_xml`) and, as earlier versions of eliza_nb asked for it,
a JSON object ``{"thought", "text", "actions"}`` (alone, inside prose or in a code fence, with
``"action"`` for one name or names separated by commas, or a dict from an object model).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eliza_nb import prompts

__all__ = ["Decision", "DecisionParseError", "parse_decision"]

_KEYS = frozenset({"text", "actions", "action"})
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Decision:
    """What the model decided: its reasoning, what to say, which actions and providers."""

    thought: str = ""
    text: str = ""
    actions: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()


class DecisionParseError(ValueError):
    """The model's answer is neither the XML answer format nor the JSON one."""


def parse_decision(answer: Any) -> Decision:
    """Read a model's answer as a :class:`Decision`: the XML answer, else a JSON object.

    Tolerated as well: the JSON object inside prose or a code fence, ``"action"`` (one name,
    or names separated by commas) instead of ``"actions"``, and a dict (from an object model).

    Raises:
        DecisionParseError: the answer is empty, holds neither format, or a field has the
            wrong type.
    """
    if isinstance(answer, Decision):
        return answer
    if isinstance(answer, Mapping):
        return _from_mapping(answer)
    if not isinstance(answer, str):
        raise DecisionParseError(f"expected text or a dict, got {type(answer).__name__}")
    text = answer.strip()
    if not text:
        raise DecisionParseError("the answer is empty")
    parsed = prompts.parse_key_value_xml(text)
    if parsed is not None and parsed.keys() & _KEYS:
        return _from_mapping(parsed)
    found = _first_object(text)
    if found is not None:
        return _from_mapping(found)
    raise DecisionParseError("no <response> block and no JSON object with 'text' or 'actions'")


def _first_object(text: str) -> dict[str, Any] | None:
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = _DECODER.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.keys() & _KEYS:
            return obj
    return None


def _from_mapping(data: Mapping[str, Any]) -> Decision:
    if not data.keys() & _KEYS:
        raise DecisionParseError("the answer has neither 'text' nor 'actions'")
    text, thought = data.get("text"), data.get("thought")
    for name, value in (("text", text), ("thought", thought)):
        if value is not None and not isinstance(value, str):
            raise DecisionParseError(f"'{name}' must be a string, got {type(value).__name__}")
    names = _names(data.get("actions", data.get("action")), "actions")
    return Decision(thought or "", text or "", names, _names(data.get("providers"), "providers"))


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise DecisionParseError(f"'{key}' must be a list of names, got {type(value).__name__}")
    out: dict[str, str] = {}
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str):
            raise DecisionParseError(f"'{key}' must hold names, got {item!r}")
        if name.strip():
            out.setdefault(name.strip().upper(), name.strip())
    return tuple(out.values())
