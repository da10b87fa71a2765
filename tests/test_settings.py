"""Layered settings, on_config_change, and secrets masked everywhere they could show."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import (
    Action,
    AgentRuntime,
    Character,
    Plugin,
    PluginConfig,
    PluginError,
    Provider,
    Service,
    ValidationError,
    action,
)
from eliza_nb.settings import MASK, Masker, Settings, is_secret_key

KEY = "K"


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Work in an empty directory (no stray .env) with none of the test keys in the env."""
    monkeypatch.chdir(tmp_path)
    for name in (KEY, "API_KEY", "API_URL", "MODE", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


# -- layers --------------------------------------------------------------------------------------

LAYERS = ["explicit", "character secrets", "character settings", "environment", ".env", "default"]


@pytest.mark.parametrize("top", range(len(LAYERS)), ids=LAYERS)
async def test_layer_order(no_env: Path, monkeypatch: pytest.MonkeyPatch, top: int) -> None:
    """With every layer from ``top`` down holding a value, the ``top`` layer wins."""
    present = LAYERS[top:]
    char_settings: dict[str, Any] = {}
    if "character settings" in present:
        char_settings[KEY] = "character settings"
    if "character secrets" in present:
        char_settings["secrets"] = {KEY: "character secrets"}
    if "environment" in present:
        monkeypatch.setenv(KEY, "environment")
    if ".env" in present:
        (no_env / ".env").write_text(f"{KEY}=.env\n")
    explicit = {KEY: "explicit"} if "explicit" in present else None
    rt = AgentRuntime(character=Character(name="A", settings=char_settings), settings=explicit)
    try:
        plugin = Plugin(name="p", config=PluginConfig(defaults={KEY: "default"}))
        await rt.register_plugin(plugin)
        assert rt.get_setting(KEY) == LAYERS[top]
    finally:
        await rt.aclose()


def test_missing_setting_gives_the_default(runtime: AgentRuntime) -> None:
    assert runtime.get_setting("NOPE") is None
    assert runtime.get_setting("NOPE", "fallback") == "fallback"


def test_environment_is_read_at_lookup(no_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = AgentRuntime()
    try:
        assert rt.get_setting("MODE") is None
        monkeypatch.setenv("MODE", "late")
        assert rt.get_setting("MODE") == "late"
    finally:
        rt.close()


def test_dotenv_is_read_once_at_creation(no_env: Path) -> None:
    (no_env / ".env").write_text("MODE=first\n")
    rt = AgentRuntime()
    try:
        (no_env / ".env").write_text("MODE=second\n")
        assert rt.get_setting("MODE") == "first"
    finally:
        rt.close()


def test_use_env_false_ignores_environment_and_dotenv(
    no_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODE", "env")
    (no_env / ".env").write_text("API_URL=dotenv\n")
    rt = AgentRuntime(use_env=False)
    try:
        assert rt.get_setting("MODE") is None
        assert rt.get_setting("API_URL") is None
    finally:
        rt.close()


async def test_defaults_leave_with_their_plugin(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="p", config={"defaults": {"MODE": "fast"}}))
    assert runtime.get_setting("MODE") == "fast"
    await runtime.unregister_plugin("p")
    assert runtime.get_setting("MODE") is None


async def test_on_load_sees_its_plugin_defaults(runtime: AgentRuntime) -> None:
    seen: list[Any] = []
    plugin = Plugin(
        name="p",
        config={"defaults": {"MODE": "fast"}},
        on_load=lambda rt: seen.append(rt.get_setting("MODE")),
    )
    await runtime.register_plugin(plugin)
    assert seen == ["fast"]


class TestSetSetting:
    async def test_set_setting_wins_and_calls_on_config_change(self, runtime: AgentRuntime) -> None:
        calls: list[tuple[str, Any]] = []

        def sync_hook(new_settings: dict[str, Any]) -> None:
            calls.append(("sync", new_settings))

        async def async_hook(new_settings: dict[str, Any]) -> None:
            calls.append(("async", new_settings))

        await runtime.register_plugin(Plugin(name="a", on_config_change=sync_hook))
        await runtime.register_plugin(Plugin(name="b", on_config_change=async_hook))
        await runtime.register_plugin(Plugin(name="c"))  # no hook: fine
        await runtime.set_setting("MODE", "slow")
        assert runtime.get_setting("MODE") == "slow"
        assert calls == [("sync", {"MODE": "slow"}), ("async", {"MODE": "slow"})]

    async def test_a_failing_hook_is_logged_not_raised(
        self, runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
    ) -> None:
        def hook(new_settings: dict[str, Any]) -> None:
            raise RuntimeError("cannot reconfigure")

        calls: list[Any] = []
        await runtime.register_plugin(Plugin(name="bad", on_config_change=hook))
        await runtime.register_plugin(Plugin(name="good", on_config_change=calls.append))
        with caplog.at_level(logging.ERROR, logger="eliza_nb"):
            await runtime.set_setting("MODE", "x")
        assert calls == [{"MODE": "x"}], "the other plugins still hear about it"
        errors = runtime.errors_frame()
        assert errors[["plugin", "action", "code"]].values.tolist() == [
            ["bad", "on_config_change", "PLUGIN_ERROR"]
        ]
        assert "cannot reconfigure" in caplog.text

    @pytest.mark.parametrize("key", ["", 5, None])
    async def test_bad_keys(self, runtime: AgentRuntime, key: Any) -> None:
        with pytest.raises(ValidationError, match="non-empty strings") as info:
            await runtime.set_setting(key, "v")
        assert info.value.field == "key"


class TestBadSettings:
    @pytest.mark.parametrize("settings", [[1], "API_KEY=x", 3, [("A", 1)]])
    def test_settings_of_the_wrong_type(self, settings: Any) -> None:
        with pytest.raises(ValidationError, match="settings must be a dict") as info:
            AgentRuntime(settings=settings, use_env=False)
        assert info.value.field == "settings"

    def test_non_string_keys(self) -> None:
        with pytest.raises(ValidationError, match="keys must be strings"):
            AgentRuntime(settings={1: "x"}, use_env=False)  # type: ignore[dict-item]

    def test_get_setting_with_a_non_string_key(self, runtime: AgentRuntime) -> None:
        with pytest.raises(ValidationError) as info:
            runtime.get_setting(5)  # type: ignore[arg-type]
        assert info.value.field == "key"


# -- secrets: the building blocks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("api_key", True),
        ("BOT_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("DB_PASSWORD", True),
        ("KEYBOARD", False),
        ("TOKEN_URL", False),
        ("MODE", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_marked_keys_are_secret() -> None:
    assert is_secret_key("DB_URL", {"DB_URL"})
    assert not is_secret_key("DB_URL", {"OTHER"})


class TestMasker:
    def test_masks_every_known_value(self) -> None:
        m = Masker()
        m.add("sk-123456")
        m.add("tok-abc")
        assert m.mask("a sk-123456 and tok-abc, twice sk-123456") == "a *** and ***, twice ***"
        assert "sk-123456" in m

    def test_longest_first(self) -> None:
        m = Masker()
        m.add("abc")
        m.add("abcdef")
        assert m.mask("abcdef") == MASK

    def test_regex_characters_are_literal(self) -> None:
        m = Masker()
        m.add("a.b*c")
        assert m.mask("axbbc a.b*c") == "axbbc ***"

    def test_ignores_short_values_and_masks_numbers_by_their_text(self) -> None:
        m = Masker()
        m.add("abc")
        m.add(None)
        m.add(True)
        assert not m
        assert m.mask("abc True None") == "abc True None"
        m.add(12345)
        assert m.mask("abc 12345") == "abc ***"
        assert m.mask_value({"pin": 12345, "n": 1, "flag": True}) == {
            "pin": "***",
            "n": 1,
            "flag": True,
        }

    def test_mask_value_survives_cycles_and_depth(self) -> None:
        m = Masker()
        m.add("s3cret")
        loop: list[object] = ["s3cret"]
        loop.append(loop)
        assert m.mask_value(loop) == ["***", "[...]"]
        deep: list[object] = ["s3cret"]
        for _ in range(5000):
            deep = [deep]
        shown = m.mask_value(deep)
        for _ in range(100):
            shown = shown[0]
        assert shown == "[too deep]"

    def test_mask_value_returns_the_same_object_when_nothing_is_masked(self) -> None:
        m = Masker()
        m.add("s3cret")
        value = {"a": ["x", ("y",)], "n": 1}
        assert m.mask_value(value) is value

    def test_mask_value_recurses(self) -> None:
        m = Masker()
        m.add("s3cret")
        value = {"a": ["s3cret", ("x s3cret",)], "n": 1}
        assert m.mask_value(value) == {"a": ["***", ("x ***",)], "n": 1}


def test_settings_masked_view() -> None:
    s = Settings(
        {"API_KEY": "sk-live-1", "MODE": "fast", "NOTE": "uses sk-live-1"},
        {"voice": "x", "secrets": {"TWILIO_SID": "AC-123"}},
        use_env=False,
    )
    assert s.masked() == {
        "API_KEY": MASK,
        "MODE": "fast",
        "NOTE": "uses ***",
        "TWILIO_SID": MASK,
        "voice": "x",
    }


# -- secrets: nothing shows them -----------------------------------------------------------------

SECRET = "sk-live-TOPSECRET-42"
CHAR_SECRET = "AC-twilio-sid-777"
MARKED = "postgres://user:pw-98765@db"


def assert_nowhere(runtime: AgentRuntime, *texts: str, extra: str = "") -> None:
    """No secret value appears in any frame, repr or snapshot of the runtime."""
    frames = [
        runtime.metrics_frame(),
        runtime.errors_frame(),
        runtime.components_frame(),
        runtime.metrics_summary(),
        runtime.custom_metrics_frame(),
    ]
    surfaces = [f.to_string() for f in frames]
    surfaces += [repr(runtime), json.dumps(runtime.snapshot(), default=str), extra]
    surfaces += [repr(p) for p in runtime.registry.plugins.values()]
    for surface in surfaces:
        for secret in (SECRET, CHAR_SECRET, MARKED, *texts):
            assert secret not in surface


@pytest.fixture
def secret_runtime() -> Any:
    character = Character(name="A", settings={"secrets": {"TWILIO_SID": CHAR_SECRET}})
    rt = AgentRuntime(character=character, settings={"API_KEY": SECRET}, use_env=False)
    yield rt
    rt.close()


async def test_a_handler_exception_quoting_secrets_is_masked(
    secret_runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    rt = secret_runtime

    @action()
    def leak(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        key = runtime.get_setting("API_KEY")
        sid = runtime.get_setting("TWILIO_SID")
        db = runtime.get_setting("DB_URL")
        raise RuntimeError(f"auth failed for key={key} sid={sid} db={db}")

    errors: list[BaseException] = []
    plugin = Plugin(
        name="leaky",
        actions=[leak],
        config=PluginConfig(defaults={"DB_URL": MARKED}, secrets=["DB_URL"]),
        on_error=errors.append,
    )
    await rt.register_plugin(plugin)
    with caplog.at_level(logging.DEBUG, logger="eliza_nb"):
        result = await rt.execute_action("LEAK")
    assert result.error is not None
    assert result.error.message == "auth failed for key=*** sid=*** db=***"
    for text in (result.error.message, result.error.traceback, repr(result), caplog.text):
        for secret in (SECRET, CHAR_SECRET, MARKED):
            assert secret not in text
    assert "***" in rt.errors_frame()["traceback"].iloc[0]
    assert_nowhere(rt)
    assert errors and SECRET in str(errors[0]), "on_error still gets the real exception"


async def test_an_eliza_error_quoting_a_secret_is_masked(secret_runtime: AgentRuntime) -> None:
    def handler(runtime: Any, *args: Any) -> None:
        raise PluginError(f"bad key {runtime.get_setting('API_KEY')}", code="BAD_KEY")

    await secret_runtime.register_action(Action(name="LEAK", handler=handler))
    result = await secret_runtime.execute_action("LEAK")
    assert result.error is not None
    assert (result.error.code, result.error.message) == ("BAD_KEY", "bad key ***")
    assert_nowhere(secret_runtime)


async def test_secrets_from_the_environment_once_resolved(
    no_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    rt = AgentRuntime()
    try:

        def handler(runtime: Any, *args: Any) -> None:
            raise RuntimeError(f"rejected {runtime.get_setting('OPENAI_API_KEY')}")

        await rt.register_action(Action(name="LEAK", handler=handler))
        result = await rt.execute_action("LEAK")
        assert result.error is not None and result.error.message == "rejected ***"
        assert_nowhere(rt)
    finally:
        await rt.aclose()


async def test_set_setting_secret_is_masked(runtime: AgentRuntime) -> None:
    await runtime.set_setting("BOT_TOKEN", SECRET)

    def handler(*args: Any) -> None:
        raise RuntimeError(f"token {SECRET} refused")

    await runtime.register_action(Action(name="LEAK", handler=handler))
    result = await runtime.execute_action("LEAK")
    assert result.error is not None and SECRET not in result.error.message
    assert runtime.snapshot()["settings"]["BOT_TOKEN"] == MASK
    assert_nowhere(runtime)


async def test_required_secret_is_known_before_on_load_runs(runtime: AgentRuntime) -> None:
    await runtime.set_setting("MODE", "x")
    rt = AgentRuntime(settings={"API_KEY": SECRET}, use_env=False)
    try:

        def on_load(r: AgentRuntime) -> None:
            raise RuntimeError(f"could not log in with {r.get_setting('API_KEY')}")

        plugin = Plugin(name="p", config={"required": ["API_KEY"]}, on_load=on_load)
        with pytest.raises(PluginError) as info:
            await rt.register_plugin(plugin)
        assert SECRET not in str(info.value)
        assert "could not log in with ***" in info.value.message
    finally:
        await rt.aclose()


async def test_failing_provider_and_hooks_are_masked(
    secret_runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    rt = secret_runtime

    def get(*args: Any) -> None:
        raise RuntimeError(f"provider saw {SECRET}")

    def hook(*args: Any) -> None:
        raise RuntimeError(f"hook saw {SECRET}")

    def validate(*args: Any) -> bool:
        raise RuntimeError(f"validate saw {SECRET}")

    class Leaky(Service):
        service_type = "leaky"

        async def initialize(self, runtime: AgentRuntime) -> None:
            pass

        async def stop(self) -> None:
            raise RuntimeError(f"stop saw {SECRET}")

    plugin = Plugin(
        name="p",
        providers=[Provider(name="leaky", get=get)],
        actions=[Action(name="CHECK", handler=lambda *a: None, validate=validate)],
        services=[Leaky],
        on_config_change=hook,
        on_unload=hook,
    )
    await rt.register_plugin(plugin)
    with caplog.at_level(logging.DEBUG, logger="eliza_nb"):
        state = await rt.compose_state("hi")
        await rt.set_setting("MODE", "x")
        await rt.unregister_plugin("p")
    assert "leaky" not in state.values
    assert caplog.records, "the failures are logged"
    assert SECRET not in caplog.text
    assert SECRET not in rt.errors_frame().to_string()
    assert_nowhere(rt)


async def test_settings_view_and_snapshot_mask_secrets(secret_runtime: AgentRuntime) -> None:
    snap = secret_runtime.snapshot()
    assert snap["settings"]["API_KEY"] == MASK
    assert snap["settings"]["TWILIO_SID"] == MASK
    assert_nowhere(secret_runtime)


# -- the listing (%eliza settings) ---------------------------------------------------------------
async def test_listing_shows_every_source_and_masks_secrets(
    no_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("TRACING", "1")  # a setting eliza_nb reads
    monkeypatch.setenv("UNRELATED_HOME_VAR", "x")  # neither declared nor ours: not listed
    (no_env / ".env").write_text("MODE=fast\nDB_PASSWORD=hunter22\n")
    rt = AgentRuntime(settings={"ROOM": "r1"})
    try:
        config = PluginConfig(required=["API_KEY"], optional=["API_URL"], defaults={"LIMIT": 5})
        await rt.register_plugin(Plugin(name="p", config=config))
        rows = {key: (value, source) for key, value, source in rt.settings.listing(["API_KEY"])}
    finally:
        rt.close()
    assert rows == {
        "API_KEY": ("***", "environment"),
        "DB_PASSWORD": ("***", ".env"),
        "LIMIT": (5, "default (p)"),
        "MODE": ("fast", ".env"),
        "ROOM": ("r1", "set"),
        "TRACING": ("1", "environment"),
    }


def test_listing_without_the_environment(no_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACING", "1")
    settings = Settings({"A": 1}, {"B": 2, "secrets": {"C_TOKEN": "tok-123"}}, use_env=False)
    assert settings.listing(["TRACING"]) == [
        ("A", 1, "set"),
        ("B", 2, "character"),
        ("C_TOKEN", MASK, "character secrets"),
    ]


def test_library_settings_name_every_setting_the_library_reads() -> None:
    """Each literal key read in eliza_nb's own modules (not its example plugins) is listed."""
    import re

    from eliza_nb.settings import LIBRARY_SETTINGS

    root = Path(__file__).parents[1] / "eliza_nb"
    read = re.compile(
        r"(?:get_setting|settings\.get|seconds_setting|_count_setting)\((?:[\w.]+, )?\"([A-Z_]+)\""
    )
    found = {
        key
        for path in root.rglob("*.py")
        if "plugins" not in path.parts and path.name != "scaffold.py"
        for key in read.findall(path.read_text())
    }
    from eliza_nb import observability

    assert found and found | observability.SETTINGS <= LIBRARY_SETTINGS
