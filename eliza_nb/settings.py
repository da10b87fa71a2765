"""Layered settings and secret masking.

Lookup order for ``get_setting(key)``: explicit runtime settings (constructor and
``set_setting``), the character's ``settings.secrets``, the character's ``settings``, the
environment (and a ``.env`` file read once), then the defaults of registered plugins.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from eliza_nb._checks import check_nesting, check_text
from eliza_nb.errors import ValidationError

__all__ = ["LIBRARY_SETTINGS", "MASK", "Masker", "Settings", "is_secret_key", "seconds_setting"]

MASK = "***"
_SECRET_SUFFIXES = ("KEY", "TOKEN", "SECRET", "PASSWORD")
# Shorter values would mask ordinary words and digits all over unrelated text.
_MIN_SECRET_LEN = 4
_MAX_DEPTH = 100
#: The settings eliza_nb itself reads (a plugin's are in its ``PluginConfig``): the settings
#: listing shows them when the environment or ``.env`` sets them, and no other variable.
LIBRARY_SETTINGS = frozenset(
    {
        "CHECK_SHOULD_RESPOND",
        "CONVERSATION_LENGTH",
        "ELIZA_DEBUG",
        "ELIZA_ENV",
        "LOG_LEVEL",
        "MAX_RECORDS",
        "MODEL_TIMEOUT",
        "PROVIDER_TIMEOUT",
        "RECORDS_IN_MEMORY",
        "RETRY_ATTEMPTS",
        "SLOW_ACTION_MS",
        "TRACING",
    }
)


def is_secret_key(key: str, marked: Iterable[str] = ()) -> bool:
    """True if ``key`` names a secret: it ends in KEY/TOKEN/SECRET/PASSWORD or it is marked."""
    upper = key.upper()
    return upper.endswith(_SECRET_SUFFIXES) or key in marked


class Masker:
    """Replaces every known secret value with ``'***'``, in text and inside data.

    A secret is known by its ``str()`` form (an int secret too: ``493817``), when that is at
    least four characters long, and by that form as ``repr()`` and JSON escape it; the longest
    is replaced first, so a secret that contains another
    is masked whole. Masking returns the very object it was given when there was nothing to
    mask, so it costs one check while no secret is known.

    Example:
        >>> m = Masker(); m.add("sk-123456"); m.add(4931)
        >>> m.mask("bad key sk-123456, pin 4931")
        'bad key ***, pin ***'
        >>> m.mask_value({"pin": 4931, "items": ["sk-123456"]})
        {'pin': '***', 'items': ['***']}
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: Any) -> None:
        """Remember a secret value (a string or a number; shorter than 4 characters: ignored)."""
        text = _secret_text(value)
        if text is None or len(text) < _MIN_SECRET_LEN or text in self._values:
            return
        # Also as repr() and JSON write it: a handler that formats a secret with !r, or
        # json.dumps, escapes its quotes and backslashes, and the raw form is no longer there.
        self._values.update({text, repr(text)[1:-1], json.dumps(text)[1:-1]})
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __bool__(self) -> bool:
        """True once a secret is known (there is something to mask)."""
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """Return ``text`` with every known secret replaced by ``'***'``."""
        if self._pattern is None or not text:
            return text
        masked, count = self._pattern.subn(MASK, text)
        return masked if count else text

    def mask_value(self, value: Any) -> Any:
        """Mask the strings and numbers inside a value (dicts, lists, tuples, sets, nested).

        Anything else is returned as it is. A cycle is shown as ``'[...]'``, nesting deeper
        than 100 levels as ``'[too deep]'``: masking never raises ``RecursionError``.
        """
        if self._pattern is None:
            return value
        return self._walk(value, 0, set())

    def _walk(self, value: Any, depth: int, seen: set[int]) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return MASK if _secret_text(value) in self._values else value
        if not isinstance(value, Mapping | list | tuple | set | frozenset):
            return value
        if id(value) in seen:
            return "[...]"
        if depth >= _MAX_DEPTH:
            return "[too deep]"
        seen.add(id(value))
        try:
            return self._container(value, depth + 1, seen)
        finally:
            seen.discard(id(value))

    def _container(self, value: Any, depth: int, seen: set[int]) -> Any:
        if isinstance(value, Mapping):
            pairs = [
                (self._walk(k, depth, seen), self._walk(v, depth, seen)) for k, v in value.items()
            ]
            same = all(
                k2 is k and v2 is v for (k2, v2), (k, v) in zip(pairs, value.items(), strict=True)
            )
            return value if same else dict(pairs)
        items = [self._walk(v, depth, seen) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            return items
        if type(value) in (tuple, set, frozenset):
            return type(value)(items)
        return tuple(items) if isinstance(value, tuple) else set(items)  # subclasses: plain

    def __contains__(self, value: object) -> bool:
        return _secret_text(value) in self._values


def _secret_text(value: Any) -> str | None:
    """The text a secret value is known by: a string itself, a number's ``str()``, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


class Settings:
    """The runtime's settings layers. Use through ``AgentRuntime.get_setting``/``set_setting``."""

    def __init__(
        self,
        explicit: Mapping[str, Any] | None,
        character_settings: Mapping[str, Any] | None = None,
        *,
        use_env: bool = True,
        env_file: str | Path | None = ".env",
    ) -> None:
        if explicit is not None and not isinstance(explicit, Mapping):
            raise ValidationError(
                f"settings must be a dict of key -> value, got {type(explicit).__name__}",
                field="settings",
            )
        if explicit is not None and not all(isinstance(k, str) for k in explicit):
            raise ValidationError("settings keys must be strings", field="settings")
        # Masking and snapshots walk every value: a cycle or a deep nest is refused here.
        self.explicit: dict[str, Any] = _checked_layer(explicit, "settings")
        char = _checked_layer(character_settings, "character settings")
        secrets = char.pop("secrets", None) or {}
        self.character_secrets: dict[str, Any] = dict(secrets)
        self.character: dict[str, Any] = char
        self.use_env = use_env
        self.dotenv: dict[str, str | None] = {}
        if use_env and env_file is not None and Path(env_file).is_file():
            self.dotenv = dotenv_values(env_file)
        self.defaults: dict[str, dict[str, Any]] = {}  # plugin name -> defaults
        self.marked: set[str] = set(self.character_secrets)
        self.masker = Masker()
        for key, value in self._all_known().items():
            if is_secret_key(key, self.marked):
                self.masker.add(value)

    def _all_known(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for layer in self.defaults.values():
            merged.update(layer)
        merged.update(self.character)
        merged.update(self.character_secrets)
        merged.update(self.explicit)
        return merged

    def get(self, key: str, default: Any = None) -> Any:
        """Resolve ``key`` through the layers; ``default`` when no layer has it."""
        found = self._lookup(key)
        return default if found is None else self._seen(key, found[0])

    def _lookup(self, key: str) -> tuple[Any, str] | None:
        """The value of ``key`` and the layer it comes from: the one place of the order."""
        for layer, source in (
            (self.explicit, "set"),
            (self.character_secrets, "character secrets"),
            (self.character, "character"),
        ):
            if key in layer:
                return layer[key], source
        if self.use_env:
            if key in os.environ:
                return os.environ[key], "environment"
            if self.dotenv.get(key) is not None:
                return self.dotenv[key], ".env"
        for plugin, layer in reversed(self.defaults.items()):
            if key in layer:
                return layer[key], f"default ({plugin})"
        return None

    def has(self, key: str) -> bool:
        """True if some layer gives ``key`` a value other than None or ''."""
        value = self.get(key)
        return value is not None and value != ""

    def _seen(self, key: str, value: Any) -> Any:
        if is_secret_key(key, self.marked):
            self.masker.add(value)
        return value

    def set(self, key: str, value: Any) -> None:
        """Set an explicit setting (the top layer).

        Raises:
            ValidationError: ``key`` is not a non-empty string, or ``value`` contains itself or
                nests lists and dicts more than 100 deep (masking walks every value), or a key
                or text value holds a lone surrogate (it could not be shown).
        """
        if not isinstance(key, str) or not key:
            raise ValidationError("setting keys must be non-empty strings", field="key")
        self.explicit[check_text(key, "key")] = _checked(value, "value")
        self._seen(key, value)

    def mark_secret(self, keys: Iterable[str]) -> None:
        """Treat these keys as secret from now on, and mask their current values."""
        for key in keys:
            self.marked.add(key)
            self.get(key)

    def masked(self) -> dict[str, Any]:
        """Every non-environment setting, secrets shown as ``'***'`` (for display)."""
        return {
            k: (MASK if is_secret_key(k, self.marked) else self.masker.mask_value(v))
            for k, v in sorted(self._all_known().items())
        }

    def listing(self, declared: Iterable[str] = ()) -> list[tuple[str, Any, str]]:
        """``(key, value, source)`` of every setting in use, sorted, secrets shown as ``'***'``.

        The settings of every layer, the keys of ``.env``, and those the environment sets of
        ``declared`` (the keys plugins name in their ``PluginConfig``) and
        :data:`LIBRARY_SETTINGS`: not the whole environment. ``source`` is the layer the value
        comes from: ``set``, ``character secrets``, ``character``, ``environment``, ``.env``
        or ``default (PLUGIN)``.
        """
        keys = {*self._all_known(), *self.dotenv, *declared, *LIBRARY_SETTINGS}
        rows = []
        for key in sorted(keys):
            found = self._lookup(key)
            if found is not None:
                value = self._seen(key, found[0])
                shown = MASK if is_secret_key(key, self.marked) else self.masker.mask_value(value)
                rows.append((key, shown, found[1]))
        return rows


def _checked(value: Any, field: str) -> Any:
    """A setting value that can be masked and shown (see ``Settings.set``)."""
    check_nesting(value, field)
    return check_text(value, field) if isinstance(value, str) else value


def _checked_layer(layer: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """A layer of settings whose keys and values can be masked and shown."""
    return {check_text(k, field): _checked(v, field) for k, v in (layer or {}).items()}


def seconds_setting(settings: Settings, key: str, default: float) -> float:
    """The setting ``key`` as a positive number of seconds; ``default`` when unset.

    A value that is not a positive, finite number is logged and ``default`` is used: a typo
    in a setting must not stop the agent.
    """
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value < math.inf:
        logging.getLogger("eliza_nb").warning(
            "%s=%r is not a positive number; using %s s", key, raw, default
        )
        return default
    return value
