"""Layered settings and secret masking.

Lookup order for ``get_setting(key)``: explicit runtime settings (constructor and
``set_setting``), the character's ``settings.secrets``, the character's ``settings``, the
environment (and a ``.env`` file read once), then the defaults of registered plugins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from eliza_nb._checks import check_nesting, check_text
from eliza_nb.errors import ValidationError

__all__ = ["MASK", "Masker", "Settings", "is_secret_key"]

MASK = "***"
_SECRET_SUFFIXES = ("KEY", "TOKEN", "SECRET", "PASSWORD")
# Shorter values would mask ordinary words and digits all over unrelated text.
_MIN_SECRET_LEN = 3


def is_secret_key(key: str, marked: Iterable[str] = ()) -> bool:
    """True if ``key`` names a secret: it ends in KEY/TOKEN/SECRET/PASSWORD or it is marked."""
    upper = key.upper()
    return upper.endswith(_SECRET_SUFFIXES) or key in marked


class Masker:
    """Replaces every known secret value with ``'***'`` in any text.

    Example:
        >>> m = Masker(); m.add("sk-123456")
        >>> m.mask("bad key sk-123456")
        'bad key ***'
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: Any) -> None:
        """Remember a secret value (strings only; short ones are ignored)."""
        if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN and value not in self._values:
            self._values.add(value)
            # Longest first so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        """Return ``text`` with every known secret replaced by ``'***'``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """Mask strings inside a value (str, or nested dict/list/tuple of them)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_value(v) for v in value)
        return value

    def __contains__(self, value: object) -> bool:
        return value in self._values


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
        for layer in (self.explicit, self.character_secrets, self.character):
            if key in layer:
                return self._seen(key, layer[key])
        if self.use_env:
            if key in os.environ:
                return self._seen(key, os.environ[key])
            if self.dotenv.get(key) is not None:
                return self._seen(key, self.dotenv[key])
        for layer in reversed(self.defaults.values()):
            if key in layer:
                return self._seen(key, layer[key])
        return default

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


def _checked(value: Any, field: str) -> Any:
    """A setting value that can be masked and shown (see ``Settings.set``)."""
    check_nesting(value, field)
    return check_text(value, field) if isinstance(value, str) else value


def _checked_layer(layer: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """A layer of settings whose keys and values can be masked and shown."""
    return {check_text(k, field): _checked(v, field) for k, v in (layer or {}).items()}
