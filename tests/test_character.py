"""Character: reading real elizaOS character files, and clear errors for broken ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Character, ConfigurationError, ElizaError, ValidationError


@pytest.fixture
def c3po(fixtures_dir: Path) -> Character:
    return Character.from_file(fixtures_dir / "c3po.character.json")


def write(tmp_path: Path, data: Any, name: str = "bad.character.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


class TestC3PO:
    def test_name_bio_lore(self, c3po: Character) -> None:
        assert c3po.name == "C-3PO"
        assert len(c3po.bio) == 4
        assert c3po.bio[0].startswith("C-3PO is a protocol droid")
        assert len(c3po.lore) == 4
        assert "R2-D2" in c3po.lore[2]

    def test_settings_without_secrets(self, c3po: Character) -> None:
        assert c3po.settings == {"voice": {"model": "en_GB-alan-medium"}}
        assert c3po.secrets == {}

    def test_npm_plugin_names_are_kept(self, c3po: Character) -> None:
        assert c3po.plugins == ["@elizaos/plugin-twilio"]

    def test_camel_case_fields(self, c3po: Character) -> None:
        assert c3po.model_provider == "anthropic"
        assert len(c3po.message_examples) == 1
        assert c3po.message_examples[0][0]["user"] == "{{user1}}"
        assert len(c3po.post_examples) == 2
        assert c3po.style["chat"][0] == "Polite"
        assert "Loyal" in c3po.adjectives
        assert c3po.knowledge[0] == "Protocol and etiquette"
        assert c3po.clients == []

    def test_unknown_keys_are_tolerated_and_kept(self, c3po: Character) -> None:
        extra = c3po.model_extra or {}
        assert extra["twitterSpaces"]["maxSpeakers"] == 2

    def test_repr_is_short(self, c3po: Character) -> None:
        assert repr(c3po) == "Character(name='C-3PO', plugins=['@elizaos/plugin-twilio'])"
        assert str(c3po) == repr(c3po)

    def test_runtime_from_the_file_path(self, fixtures_dir: Path) -> None:
        rt = AgentRuntime(character=fixtures_dir / "c3po.character.json", use_env=False)
        try:
            assert rt.character is not None and rt.character.name == "C-3PO"
            assert rt.agent_id == "C-3PO"
            assert rt.get_setting("voice") == {"model": "en_GB-alan-medium"}
        finally:
            rt.close()

    def test_runtime_from_a_str_path(self, fixtures_dir: Path) -> None:
        rt = AgentRuntime(character=str(fixtures_dir / "c3po.character.json"), use_env=False)
        try:
            assert rt.agent_id == "C-3PO"
        finally:
            rt.close()


def test_bio_and_lore_may_be_single_strings() -> None:
    c = Character(name="Ada", bio="Mathematician.", lore="Wrote the first program.")
    assert c.bio == ["Mathematician."]
    assert c.lore == ["Wrote the first program."]


def test_secrets_from_settings() -> None:
    c = Character.from_dict({"name": "Ada", "settings": {"secrets": {"API_KEY": "k-1"}}})
    assert c.secrets == {"API_KEY": "k-1"}


def test_snake_case_names_are_accepted_too() -> None:
    c = Character(name="Ada", model_provider="openai", post_examples=["hi"])
    assert c.model_provider == "openai"
    assert c.post_examples == ["hi"]


class TestMalformed:
    def test_missing_file(self, tmp_path: Path) -> None:
        missing = tmp_path / "nobody.character.json"
        with pytest.raises(ConfigurationError, match="Character file not found") as info:
            Character.from_file(missing)
        assert str(missing) in info.value.message
        assert info.value.details == {"path": str(missing)}

    def test_a_directory_is_not_a_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="not found"):
            Character.from_file(tmp_path)

    def test_not_json(self, tmp_path: Path) -> None:
        path = write(tmp_path, "{name: 'C-3PO',}")
        with pytest.raises(ValidationError, match="not valid JSON") as info:
            Character.from_file(path)
        assert "bad.character.json" in info.value.message
        assert info.value.field == "file"

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.character.json"
        path.write_bytes(b'{"name": "\xe9"}')
        with pytest.raises(ValidationError, match="not valid JSON"):
            Character.from_file(path)

    @pytest.mark.parametrize("data", [[], '"C-3PO"', 3, None])
    def test_not_an_object(self, tmp_path: Path, data: Any) -> None:
        path = write(tmp_path, data)
        with pytest.raises(ValidationError, match="must be a JSON object") as info:
            Character.from_file(path)
        assert info.value.field == "character"

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": 3}, "name"),
            ({"name": "A", "bio": 5}, "bio"),
            ({"name": "A", "lore": [1, 2]}, "lore.0"),
            ({"name": "A", "plugins": "@elizaos/plugin-twilio"}, "plugins"),
            ({"name": "A", "settings": []}, "settings"),
            ({"name": "A", "settings": {"secrets": ["API_KEY"]}}, "settings"),
            ({"name": "A", "messageExamples": [{"user": "x"}]}, "messageExamples.0"),
            ({"name": "A", "style": {"all": "Proper"}}, "style.all"),
        ],
    )
    def test_wrong_field_types_name_the_field(
        self, tmp_path: Path, data: dict[str, Any], field: str
    ) -> None:
        path = write(tmp_path, data)
        with pytest.raises(ValidationError) as info:
            Character.from_file(path)
        assert info.value.field == field
        assert f"field {field!r}" in info.value.message
        assert info.value.message.startswith("bad.character.json:")

    def test_every_failure_is_an_eliza_error(self, tmp_path: Path) -> None:
        for data in ("not json", [], {"name": 1}):
            with pytest.raises(ElizaError):
                Character.from_file(write(tmp_path, data))

    def test_runtime_rejects_a_non_character(self) -> None:
        with pytest.raises(ValidationError, match="character") as info:
            AgentRuntime(character=42, use_env=False)  # type: ignore[arg-type]
        assert info.value.field == "character"
