"""Registration: all-or-nothing, clashes, replacement, unregistration and name lookup."""

from __future__ import annotations

from typing import Any

import pytest

from eliza_nb import (
    Action,
    ActionNotFoundError,
    AgentRuntime,
    Client,
    ConfigurationError,
    Evaluator,
    Plugin,
    PluginError,
    Provider,
    Service,
    ValidationError,
)
from eliza_nb.registry import Registry


def noop(*args: Any) -> None:
    return None


def act(name: str, *similes: str) -> Action:
    return Action(name=name, handler=noop, similes=list(similes), description=f"{name} desc")


class Events:
    """Collects lifecycle calls in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def hook(self, label: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append(label)

        return record


def make_service(stype: str, events: Events | None = None, fail: bool = False) -> type[Service]:
    class _Svc(Service):
        service_type = stype

        async def initialize(self, runtime: AgentRuntime) -> None:
            if events is not None:
                events.calls.append(f"start {stype}")
            if fail:
                raise RuntimeError(f"{stype} cannot start")

        async def stop(self) -> None:
            if events is not None:
                events.calls.append(f"stop {stype}")

    return _Svc


def picture(rt: AgentRuntime) -> dict[str, Any]:
    """Everything registration may change, to compare before and after a failure."""
    return {
        "plugins": dict(rt.registry.plugins),
        "actions": dict(rt.registry.actions),
        "providers": list(rt.registry.providers),
        "evaluators": list(rt.registry.evaluators),
        "services": dict(rt.host.services),
        "clients": {k: list(v) for k, v in rt.host.clients.items()},
        "defaults": {k: dict(v) for k, v in rt.settings.defaults.items()},
        "components": rt.components_frame().to_dict("list"),
        "snapshot": rt.snapshot(),
    }


@pytest.fixture
async def base(runtime: AgentRuntime) -> AgentRuntime:
    """A runtime with a plugin ``base``: an action, a provider, an evaluator and a service."""
    plugin = Plugin(
        name="base",
        actions=[act("FETCH_DATA", "GET_DATA")],
        providers=[Provider(name="time", get=lambda *a: "noon")],
        evaluators=[Evaluator(name="REFLECT", handler=noop)],
        services=[make_service("cache")],
        config={"defaults": {"MODE": "fast"}},
    )
    await runtime.register_plugin(plugin)
    return runtime


# -- required settings ---------------------------------------------------------------------------


async def test_missing_settings_are_all_named(runtime: AgentRuntime) -> None:
    plugin = Plugin(name="api", config={"required": ["API_KEY", "API_URL", "REGION"]})
    await runtime.set_setting("REGION", "eu")
    with pytest.raises(ConfigurationError) as info:
        await runtime.register_plugin(plugin)
    assert "Missing required settings: API_KEY, API_URL" in info.value.message
    assert "REGION" not in info.value.message
    assert "'api'" in info.value.message
    assert info.value.details == {"plugin": "api", "missing": ["API_KEY", "API_URL"]}
    assert "api" not in runtime.registry.plugins


async def test_empty_value_counts_as_missing_but_a_default_satisfies(runtime: AgentRuntime) -> None:
    await runtime.set_setting("API_KEY", "")
    with pytest.raises(ConfigurationError, match="API_KEY"):
        await runtime.register_plugin(Plugin(name="a", config={"required": ["API_KEY"]}))
    ok = Plugin(name="b", config={"required": ["API_URL"], "defaults": {"API_URL": "http://x"}})
    await runtime.register_plugin(ok)
    assert runtime.get_setting("API_URL") == "http://x"


async def test_missing_settings_leave_a_replaced_plugin_in_place(base: AgentRuntime) -> None:
    before = picture(base)
    again = Plugin(name="base", config={"required": ["API_KEY"]})
    with pytest.raises(ConfigurationError):
        await base.register_plugin(again)
    assert picture(base) == before


# -- clashes and malformed plugins leave the runtime as it was -----------------------------------


@pytest.mark.parametrize(
    "other",
    [
        Plugin(name="o", actions=[act("fetch_data")]),
        Plugin(name="o", actions=[act("OTHER", "Get_Data")]),
        Plugin(name="o", actions=[act("GET_DATA")]),
        Plugin(name="o", providers=[Provider(name="TIME", get=noop)]),
        Plugin(name="o", evaluators=[Evaluator(name="reflect", handler=noop)]),
        Plugin(name="o", services=[make_service("cache")]),
    ],
    ids=["action", "simile-vs-simile", "action-vs-simile", "provider", "evaluator", "service"],
)
async def test_clash_with_another_plugin_changes_nothing(base: AgentRuntime, other: Plugin) -> None:
    before = picture(base)
    with pytest.raises(PluginError) as info:
        await base.register_plugin(other)
    assert info.value.plugin == "o"
    assert "clashes with plugin 'base'" in info.value.message
    assert picture(base) == before


async def test_clash_does_not_stop_the_other_plugins_services(base: AgentRuntime) -> None:
    svc = base.get_service("cache")
    with pytest.raises(PluginError):
        await base.register_plugin(Plugin(name="o", actions=[act("FETCH_DATA")]))
    assert base.get_service("cache") is svc


@pytest.mark.parametrize(
    ("plugin", "error", "words"),
    [
        (Plugin(name="p", actions=[act("A"), act("a")]), PluginError, "duplicate name 'a'"),
        (Plugin(name="p", actions=[act("A", "B"), act("B")]), PluginError, "duplicate name 'B'"),
        (Plugin(name="p", actions=[noop]), ValidationError, "field 'actions' holds function"),
        (
            Plugin(name="p", providers=[act("A")]),
            ValidationError,
            "field 'providers' holds Action",
        ),
        (Plugin(name="p", evaluators=["E"]), ValidationError, "field 'evaluators' holds str"),
        (Plugin(name="p", services=[object()]), ValidationError, "field 'services'"),
        (Plugin(name="p", services=[Service]), ValidationError, "service_type"),
        (Plugin(name="p", clients=[object()]), ValidationError, "field 'clients'"),
    ],
    ids=[
        "dup-action",
        "dup-simile",
        "function",
        "wrong-kind",
        "string",
        "service-object",
        "service-no-type",
        "client",
    ],
)
async def test_malformed_plugin_is_rejected_and_changes_nothing(
    base: AgentRuntime, plugin: Plugin, error: type[Exception], words: str
) -> None:
    before = picture(base)
    with pytest.raises(error) as info:
        await base.register_plugin(plugin)
    assert words in str(info.value)
    assert "'p'" in str(info.value)
    assert getattr(info.value, "plugin", None) == "p"
    assert picture(base) == before


@pytest.mark.parametrize("thing", [None, "weather", {"name": "p"}, Action(name="A", handler=noop)])
async def test_register_something_that_is_not_a_plugin(runtime: AgentRuntime, thing: Any) -> None:
    with pytest.raises(ValidationError, match="register_plugin expects a Plugin") as info:
        await runtime.register_plugin(thing)
    assert info.value.field == "plugin"


async def test_failing_on_load_leaves_nothing_registered(base: AgentRuntime) -> None:
    events = Events()

    def on_load(rt: AgentRuntime) -> None:
        raise RuntimeError("no connection")

    plugin = Plugin(
        name="p",
        actions=[act("NEW")],
        services=[make_service("late", events)],
        config={"defaults": {"LEVEL": 3}},
        on_load=on_load,
        on_unload=events.hook("unload"),
    )
    before = picture(base)
    with pytest.raises(PluginError, match="Plugin 'p' failed to load: no connection") as info:
        await base.register_plugin(plugin)
    assert info.value.plugin == "p"
    # The cause is not chained (its text could hold a secret); its masked traceback is kept.
    assert info.value.__cause__ is None
    assert info.value.details["error_type"] == "RuntimeError"
    assert "no connection" in info.value.details["traceback"]
    assert picture(base) == before
    assert events.calls == []
    assert base.get_setting("LEVEL") is None


async def test_failing_service_stops_the_ones_already_started(base: AgentRuntime) -> None:
    events = Events()
    plugin = Plugin(
        name="p",
        services=[make_service("one", events), make_service("two", events, fail=True)],
    )
    before = picture(base)
    with pytest.raises(PluginError, match="two cannot start"):
        await base.register_plugin(plugin)
    assert events.calls == ["start one", "start two", "stop one"]
    assert picture(base) == before


async def test_failing_client_stops_services_and_clients(runtime: AgentRuntime) -> None:
    events = Events()

    class Ok(Client):
        async def start(self, runtime: AgentRuntime) -> None:
            events.calls.append("start ok")

        async def stop(self) -> None:
            events.calls.append("stop ok")

    class Broken(Client):
        async def start(self, runtime: AgentRuntime) -> None:
            raise ConnectionError("refused")

    plugin = Plugin(name="p", services=[make_service("svc", events)], clients=[Ok(), Broken()])
    with pytest.raises(PluginError, match="refused"):
        await runtime.register_plugin(plugin)
    assert events.calls == ["start svc", "start ok", "stop ok", "stop svc"]
    assert runtime.get_service("svc") is None
    assert runtime.registry.plugins == {}


# -- replacement (the notebook workflow: run the cell again) -------------------------------------


async def test_reregistering_replaces_and_calls_old_on_unload_first(runtime: AgentRuntime) -> None:
    events = Events()
    old = Plugin(
        name="p",
        actions=[act("OLD")],
        services=[make_service("svc", events)],
        on_load=events.hook("load old"),
        on_unload=events.hook("unload old"),
    )
    new = Plugin(
        name="p",
        version="0.2.0",
        actions=[act("NEW")],
        services=[make_service("svc", events)],
        on_load=events.hook("load new"),
        on_unload=events.hook("unload new"),
    )
    await runtime.register_plugin(old)
    old_svc = runtime.get_service("svc")
    await runtime.register_plugin(new)
    assert events.calls == [
        "load old",
        "start svc",
        "stop svc",
        "unload old",
        "load new",
        "start svc",
    ]
    assert runtime.registry.plugins == {"p": new}
    assert runtime.registry.action_names() == ["NEW"]
    with pytest.raises(ActionNotFoundError):
        await runtime.execute_action("OLD")
    assert runtime.get_service("svc") is not old_svc
    assert runtime.snapshot()["plugins"]["p"]["version"] == "0.2.0"


async def test_replacing_may_reuse_its_own_names(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="p", actions=[act("ECHO", "SAY")]))
    await runtime.register_plugin(Plugin(name="p", actions=[act("ECHO", "SAY")]))
    assert runtime.components_frame()["name"].tolist() == ["ECHO"]


async def test_a_failed_replacement_puts_the_old_plugin_back(runtime: AgentRuntime) -> None:
    old = Plugin(name="p", actions=[act("OLD")], config={"defaults": {"MODE": "old"}})
    await runtime.register_plugin(old)

    def boom(rt: AgentRuntime) -> None:
        raise RuntimeError("broken edit")

    with pytest.raises(PluginError, match="broken edit"):
        await runtime.register_plugin(Plugin(name="p", actions=[act("NEW")], on_load=boom))
    assert runtime.registry.plugins == {"p": old}
    assert runtime.registry.action_names() == ["OLD"]
    assert runtime.get_setting("MODE") == "old"


# -- unregistering -------------------------------------------------------------------------------


async def test_unregister_removes_every_part(base: AgentRuntime) -> None:
    svc = base.get_service("cache")
    assert svc is not None
    await base.unregister_plugin("base")
    assert base.registry.plugins == {}
    assert base.registry.actions == {}
    assert base.registry.providers == []
    assert base.registry.evaluators == []
    assert base.get_service("cache") is None
    assert base.components_frame().empty
    assert base.get_setting("MODE") is None
    with pytest.raises(ActionNotFoundError):
        await base.execute_action("FETCH_DATA")
    assert (await base.compose_state("hi")).values == {}


async def test_unregister_unknown_names_the_registered_ones(base: AgentRuntime) -> None:
    with pytest.raises(PluginError, match=r"No plugin named 'nope' \(registered: base\)"):
        await base.unregister_plugin("nope")


async def test_unregister_calls_on_unload_and_a_failing_one_is_logged(
    runtime: AgentRuntime,
) -> None:
    def on_unload(rt: AgentRuntime) -> None:
        raise RuntimeError("messy")

    await runtime.register_plugin(Plugin(name="p", on_unload=on_unload))
    await runtime.unregister_plugin("p")
    assert runtime.registry.plugins == {}
    errors = runtime.errors_frame()
    assert errors[["plugin", "action", "code", "message"]].values.tolist() == [
        ["p", "on_unload", "PLUGIN_ERROR", "messy"]
    ]


# -- single parts --------------------------------------------------------------------------------


async def test_register_single_parts_under_local(runtime: AgentRuntime) -> None:
    await runtime.register_action(act("ECHO"))
    await runtime.register_provider(Provider(name="time", get=lambda *a: "noon"))
    await runtime.register_evaluator(Evaluator(name="REFLECT", handler=noop))
    await runtime.register_action(Action(name="ECHO", handler=lambda *a: "v2"))
    frame = runtime.components_frame()
    assert frame[["plugin", "kind", "name"]].values.tolist() == [
        ["local", "action", "ECHO"],
        ["local", "provider", "time"],
        ["local", "evaluator", "REFLECT"],
    ]
    assert (await runtime.execute_action("echo")).text == "v2"


async def test_register_part_keeps_the_rest_of_its_plugin(runtime: AgentRuntime) -> None:
    events = Events()
    plugin = Plugin(
        name="p",
        description="keeps me",
        services=[make_service("svc", events)],
        on_unload=events.hook("unload"),
        on_error=events.hook("error"),
    )
    await runtime.register_plugin(plugin)
    await runtime.register_action(act("EXTRA"), plugin="p")
    kept = runtime.registry.plugins["p"]
    assert kept.description == "keeps me"
    assert kept.on_error is not None and kept.on_unload is not None
    assert [
        type(s).service_type if not isinstance(s, type) else s.service_type for s in kept.services
    ] == ["svc"]
    await runtime.unregister_plugin("p")
    assert events.calls == ["start svc", "stop svc", "unload"]


async def test_register_part_rejects_clashes_and_wrong_kinds(base: AgentRuntime) -> None:
    before = picture(base)
    with pytest.raises(PluginError, match="clashes"):
        await base.register_action(act("GET_DATA"))
    with pytest.raises(ValidationError, match="field 'actions' holds function"):
        await base.register_action(noop)  # type: ignore[arg-type]
    assert picture(base) == before


# -- lookup --------------------------------------------------------------------------------------


class TestLookup:
    @pytest.fixture
    def registry(self) -> Registry:
        reg = Registry()
        reg.add(Plugin(name="p", actions=[act("FETCH_DATA", "GET-DATA"), act("SEND_EMAIL")]))
        return reg

    @pytest.mark.parametrize("name", ["FETCH_DATA", "fetch_data", "Fetch_Data", " get-data "])
    def test_find_by_name_or_simile_any_case(self, registry: Registry, name: str) -> None:
        found = registry.find(name)
        assert found is not None
        assert found[0].name == "FETCH_DATA"
        assert found[1] == "p"

    def test_find_unknown(self, registry: Registry) -> None:
        assert registry.find("DELETE_ALL") is None

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("please fetch data now", "FETCH_DATA"),
            ("FETCH_DATA", "FETCH_DATA"),
            ("could you get-data?", "FETCH_DATA"),
            ("Send email to Bob, then fetch data", "SEND_EMAIL"),
            ("prefetch dataset", None),
            ("nothing to do", None),
            ("", None),
        ],
    )
    def test_find_in_text(self, registry: Registry, text: str, expected: str | None) -> None:
        found = registry.find_in_text(text)
        assert (found[0].name if found else None) == expected

    def test_suggest(self, registry: Registry) -> None:
        assert registry.suggest("FETCH_DAT") == ["FETCH_DATA"]
        assert registry.suggest("send_emial") == ["SEND_EMAIL"]
        assert registry.suggest("zzz") == []

    def test_suggest_looks_at_similes_too(self, registry: Registry) -> None:
        assert registry.suggest("GET_DAT") == ["GET-DATA"]  # a simile runs its action too
        assert registry.suggest("get data", n=1) == ["GET-DATA"]
        assert registry.suggest("FETCH_DATAS") == ["FETCH_DATA"]  # one per action: the closest

    def test_action_names_exclude_similes(self, registry: Registry) -> None:
        assert registry.action_names() == ["FETCH_DATA", "SEND_EMAIL"]

    def test_empty_registry(self) -> None:
        reg = Registry()
        assert reg.find("X") is None
        assert reg.find_in_text("anything") is None
        assert reg.suggest("X") == []
