"""Small helpers the example plugins share: reading the message text, options and settings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from eliza_nb.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = [
    "command_pattern",
    "float_setting",
    "int_option",
    "int_setting",
    "str_option",
    "strip_command",
]


def command_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any of ``names`` at the start of a text, as the router finds them.

    ``ADD_NOTE`` matches "add note", "add_note" or "Add-Note", followed by an optional ``:``.
    """
    alternatives = sorted(
        (r"[_\s-]+".join(re.escape(w) for w in re.split(r"[_\s-]+", n) if w) for n in names),
        key=len,
        reverse=True,
    )
    return re.compile(rf"^\s*(?:{'|'.join(alternatives)})(?![\w])\s*[:,-]?\s*", re.IGNORECASE)


def strip_command(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` without a leading action name (a message routed by its words keeps them)."""
    return pattern.sub("", text or "", count=1).strip()


def str_option(options: Mapping[str, Any], key: str) -> str | None:
    """A string option, stripped; None when absent or empty.

    Raises:
        ValidationError: the option is present but not a string.
    """
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"option {key!r} must be a string, got {type(value).__name__}", field=key
        )
    return value.strip() or None


def int_option(options: Mapping[str, Any], key: str, default: int, *, least: int = 1) -> int:
    """An integer option (text such as ``"5"`` from ``--option`` is accepted).

    Raises:
        ValidationError: the option is not an integer of at least ``least``.
    """
    value = options.get(key, default)
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < least:
        raise ValidationError(
            f"option {key!r} must be an integer >= {least}, got {value!r}", field=key
        )
    return number


def int_setting(runtime: AgentRuntime, key: str, default: int, *, least: int = 1) -> int:
    """An integer setting (environment values arrive as text).

    Raises:
        ConfigurationError: the setting is not an integer of at least ``least``.
    """
    value = runtime.get_setting(key, default)
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < least:
        raise ConfigurationError(
            f"Setting {key}={value!r} must be an integer >= {least}.", details={"key": key}
        )
    return number


def float_setting(runtime: AgentRuntime, key: str, default: float, *, least: float = 0.0) -> float:
    """A number setting (environment values arrive as text).

    Raises:
        ConfigurationError: the setting is not a number of at least ``least``.
    """
    value = runtime.get_setting(key, default)
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not number >= least:  # `not >=` also rejects NaN
        raise ConfigurationError(
            f"Setting {key}={value!r} must be a number >= {least:g}.", details={"key": key}
        )
    return number
