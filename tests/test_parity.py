"""elizaOS 1.x plugin fields: init, dependencies, priority, and register_plugins ordering."""

from __future__ import annotations

from typing import Any

import pytest

from eliza_nb import AgentRuntime, Plugin, PluginError, ValidationError
from eliza_nb.plugin_host import order_plugins


def names(plugins: list[Plugin]) -> list[str]:
    return [p.name for p in plugins]


def plug(name: str, *deps: str, priority: int = 0, **kw: Any) -> Plugin:
    return Plugin(name=name, dependencies=list(deps), priority=priority, **kw)


# -- the fields ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dependencies": "sql"}, "field 'dependencies' must be a list of strings"),
        ({"dependencies": [""]}, "must hold only non-empty strings"),
        ({"dependencies": ["p"]}, "must not name the plugin itself"),
        ({"priority": "high"}, "field 'priority' must be an integer"),
        ({"priority": True}, "field 'priority' must be an integer"),
        ({"init": "not callable"}, "field 'init' must be callable"),
    ],
)
def test_malformed_1x_fields_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Plugin(name="p", **kwargs)


def test_the_1x_fields_default_to_empty() -> None:
    p = Plugin(name="p")
    assert (p.init, p.dependencies, p.priority, p.models, p.events, p.tests) == (
        None,
        [],
        0,
        {},
        {},
        [],
    )


# -- init ---------------------------------------------------------------------------------
async def test_init_gets_the_resolved_settings_and_the_runtime() -> None:
    seen: list[Any] = []

    async def init(config: dict[str, Any], runtime: AgentRuntime) -> None:
        seen.append((config, runtime.get_setting("API_URL")))

    rt = AgentRuntime(settings={"API_URL": "http://x", "API_KEY": "sk-secret-1"}, use_env=False)
    plugin = Plugin(
        name="p",
        init=init,
        config={
            "required": ["API_URL"],
            "optional": ["API_KEY", "MISSING"],
            "defaults": {"LIMIT": 5},
        },
    )
    await rt.register_plugin(plugin)
    assert seen == [
        ({"API_URL": "http://x", "API_KEY": "sk-secret-1", "MISSING": None, "LIMIT": 5}, "http://x")
    ]
    await rt.aclose()


async def test_init_may_take_only_the_config(runtime: AgentRuntime) -> None:
    seen: list[Any] = []
    await runtime.register_plugin(Plugin(name="p", init=lambda config: seen.append(config)))
    assert seen == [{}]


async def test_a_failing_init_registers_nothing(runtime: AgentRuntime) -> None:
    def init(config: dict[str, Any], rt: Any) -> None:
        raise ValueError("API_URL must be https")

    with pytest.raises(PluginError, match="failed to load: API_URL must be https"):
        await runtime.register_plugin(
            Plugin(name="p", init=init, models={"TEXT_SMALL": lambda rt, p: ""})
        )
    assert "p" not in runtime.registry.plugins
    assert runtime.models.types() == []


# -- dependencies -------------------------------------------------------------------------
def test_plugins_come_after_their_dependencies_then_by_priority() -> None:
    plugins = [
        plug("app", "sql", "cache"),
        plug("cache", "sql"),
        plug("sql"),
        plug("metrics", priority=5),
        plug("ui", priority=-1),
    ]
    assert names(order_plugins(plugins)) == ["metrics", "sql", "cache", "app", "ui"]


def test_registered_plugins_satisfy_dependencies() -> None:
    assert names(order_plugins([plug("app", "sql")], registered={"sql"})) == ["app"]


def test_a_missing_dependency_is_named() -> None:
    with pytest.raises(PluginError, match="'app' depends on 'sql', which is neither") as info:
        order_plugins([plug("app", "sql")])
    assert info.value.plugin == "app" and info.value.details["missing"] == ["sql"]


def test_a_cycle_is_named() -> None:
    with pytest.raises(PluginError, match=r"dependency cycle: a -> b -> c -> a") as info:
        order_plugins([plug("a", "b"), plug("b", "c"), plug("c", "a"), plug("free")])
    assert info.value.details["cycle"] == ["a", "b", "c", "a"]


def test_a_plugin_listed_twice_is_rejected() -> None:
    with pytest.raises(PluginError, match="listed twice"):
        order_plugins([plug("a"), plug("a")])
    with pytest.raises(ValidationError, match="expects Plugin objects"):
        order_plugins(["a"])  # type: ignore[list-item]


async def test_register_plugins_registers_in_dependency_order(runtime: AgentRuntime) -> None:
    order: list[str] = []

    def loader(name: str) -> Any:
        return lambda rt: order.append(name)

    await runtime.register_plugins(
        [plug("app", "sql", on_load=loader("app")), plug("sql", on_load=loader("sql"))]
    )
    assert order == ["sql", "app"]


async def test_register_plugin_alone_needs_its_dependencies(runtime: AgentRuntime) -> None:
    with pytest.raises(PluginError, match="depends on sql, not registered"):
        await runtime.register_plugin(plug("app", "sql"))
    await runtime.register_plugin(plug("sql"))
    await runtime.register_plugin(plug("app", "sql"))
    assert set(runtime.registry.plugins) == {"sql", "app"}


async def test_register_plugins_is_all_or_nothing(runtime: AgentRuntime) -> None:
    def boom(rt: Any) -> None:
        raise RuntimeError("cannot start")

    await runtime.register_plugin(plug("kept"))
    with pytest.raises(PluginError, match="failed to load"):
        await runtime.register_plugins(
            [plug("sql"), plug("app", "sql", on_load=boom), plug("kept")]
        )
    assert list(runtime.registry.plugins) == ["kept"]
    with pytest.raises(PluginError, match="cycle"):
        await runtime.register_plugins([plug("x", "y"), plug("y", "x")])
    assert list(runtime.registry.plugins) == ["kept"]
