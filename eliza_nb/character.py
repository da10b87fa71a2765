"""Characters: who the agent is, read from elizaOS ``*.character.json`` files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from eliza_nb._checks import from_pydantic
from eliza_nb.errors import ConfigurationError, ValidationError

__all__ = ["Character"]


class Character(BaseModel):
    """An agent's persona and configuration, as an elizaOS character file describes it.

    Unknown keys (``twitterSpaces``, ...) are kept, camelCase keys are accepted, and plugin
    names are kept as written even when no Python package provides them (npm names such as
    ``@elizaos/plugin-twilio``). ``templates`` holds the file's own prompt templates.

    Example:
        >>> c = Character(name="Ada", bio="Mathematician.")
        >>> c.bio
        ['Mathematician.']
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(min_length=1)
    username: str | None = None
    bio: list[str] = Field(default_factory=list)
    lore: list[str] = Field(default_factory=list)
    knowledge: list[Any] = Field(default_factory=list)
    message_examples: list[list[dict[str, Any]]] = Field(
        default_factory=list, alias="messageExamples"
    )
    post_examples: list[str] = Field(default_factory=list, alias="postExamples")
    topics: list[str] = Field(default_factory=list)
    adjectives: list[str] = Field(default_factory=list)
    style: dict[str, list[str]] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    plugins: list[str] = Field(default_factory=list)
    clients: list[str] = Field(default_factory=list)
    model_provider: str | None = Field(default=None, alias="modelProvider")
    system: str | None = None
    #: Prompt templates that replace the defaults of ``eliza_nb.prompts``, by elizaOS name
    #: (``messageHandlerTemplate``, ``shouldRespondTemplate``); see ``template_for``.
    templates: dict[str, str] = Field(default_factory=dict)

    @field_validator("bio", "lore", mode="before")
    @classmethod
    def _str_to_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("settings")
    @classmethod
    def _secrets_is_dict(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("secrets", {}), dict):
            raise ValueError("settings.secrets must be an object of key -> value")
        return value

    @property
    def secrets(self) -> dict[str, Any]:
        """The character's ``settings.secrets`` (empty when absent)."""
        return dict(self.settings.get("secrets") or {})

    @classmethod
    def from_file(cls, path: str | Path) -> Character:
        """Read an elizaOS character file.

        Raises:
            ConfigurationError: the file does not exist.
            ValidationError: it is not JSON, or a field has the wrong shape (the field is named).
        """
        p = Path(path)
        if not p.is_file():
            raise ConfigurationError(f"Character file not found: {p}", details={"path": str(p)})
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(
                f"Character file {p.name} is not valid JSON: {exc}", field="file"
            ) from None
        except RecursionError:
            raise ValidationError(
                f"Character file {p.name} nests too deeply to be read", field="file"
            ) from None
        return cls.from_dict(raw, source=p.name)

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "character") -> Character:
        """Build a character from parsed JSON, naming the bad field on failure."""
        if not isinstance(raw, dict):
            raise ValidationError(f"{source}: a character must be a JSON object", field="character")
        try:
            return cls.model_validate(raw)
        except PydanticValidationError as exc:
            raise from_pydantic(exc, source) from None

    def __repr__(self) -> str:
        return f"Character(name={self.name!r}, plugins={self.plugins!r})"

    def __str__(self) -> str:
        return repr(self)
