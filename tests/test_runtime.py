"""AgentRuntime: services, clients, execution, failures, run(), frames and message memory."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eliza_nb import (
    Action,
    ActionNotFoundError,
    AgentRuntime,
    ApiError,
    Client,
    Content,
    Memory,
    Plugin,
    Service,
    ValidationError,
    action,
)


@action(similes=["SAY", "REPEAT"])
async def echo(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    await callback({"text": message.content.text})
    return f"echo: {message.content.text}"


@action(name="FETCH_DATA")
def fetch_data(
    runtime: Any, message: Any, state: Any, options: Any, callback: Any
) -> dict[str, Any]:
    return {"success": True, "data": {"limit": options.get("limit", 10)}}


@pytest.fixture
async def rt(runtime: AgentRuntime) -> AgentRuntime:
    await runtime.register_plugin(Plugin(name="basic", actions=[echo, fetch_data]))
    return runtime


class Recorder(Service):
    """Remembers what happened to it."""

    service_type = "recorder"

    def __init__(self) -> None:
        self.events: list[str] = []
        self.runtime: AgentRuntime | None = None

    async def initialize(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime
        self.events.append("initialize")

    async def stop(self) -> None:
        self.events.append("stop")


class Listener(Client):
    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self, runtime: AgentRuntime) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


# -- construction --------------------------------------------------------------------------------


def test_database_of_the_wrong_type() -> None:
    with pytest.raises(ValidationError, match="database") as info:
        AgentRuntime(database=5, use_env=False)  # type: ignore[arg-type]
    assert info.value.field == "database"


async def test_database_file_keeps_memories(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    first = AgentRuntime(database=path, use_env=False)
    await first.messages.create_memory("remember me", room_id="r")
    await first.aclose()
    second = AgentRuntime(database=str(path), use_env=False)
    try:
        assert [m.text for m in await second.messages.get_memories("r")] == ["remember me"]
    finally:
        await second.aclose()


def test_a_custom_store_is_used() -> None:
    from eliza_nb import SQLiteStore

    store = SQLiteStore()
    rt = AgentRuntime(database=store, use_env=False)
    assert rt.store is store
    rt.close()


def test_repr(runtime: AgentRuntime) -> None:
    assert repr(runtime) == "AgentRuntime(agent='agent', plugins=[none], runs=0, errors=0)"


# -- services and clients ------------------------------------------------------------------------


async def test_services_start_and_are_found_by_type_or_name(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="p", services=[Recorder]))
    svc = runtime.get_service("recorder")
    assert isinstance(svc, Recorder)
    assert runtime.get_service(Recorder) is svc
    assert svc.events == ["initialize"]
    assert svc.runtime is runtime
    assert runtime.get_service("unknown") is None
    with pytest.raises(ValidationError, match="get_service expects") as info:
        runtime.get_service(5)  # type: ignore[arg-type]
    assert info.value.field == "service_type"


async def test_a_service_instance_is_used_as_is(runtime: AgentRuntime) -> None:
    instance = Recorder()
    await runtime.register_plugin(Plugin(name="p", services=[instance]))
    assert runtime.get_service("recorder") is instance


async def test_services_and_clients_stop_on_unregister(runtime: AgentRuntime) -> None:
    client = Listener()
    await runtime.register_plugin(Plugin(name="p", services=[Recorder], clients=[client]))
    svc = runtime.get_service(Recorder)
    assert client.events == ["start"]
    await runtime.unregister_plugin("p")
    assert svc.events == ["initialize", "stop"]
    assert client.events == ["start", "stop"]
    assert runtime.get_service(Recorder) is None


async def test_close_stops_everything_once() -> None:
    runtime = AgentRuntime(use_env=False)
    client = Listener()
    unloads: list[str] = []
    await runtime.register_plugin(
        Plugin(
            name="p", services=[Recorder], clients=[client], on_unload=lambda: unloads.append("p")
        )
    )
    svc = runtime.get_service(Recorder)
    await runtime.aclose()
    await runtime.aclose()
    assert svc.events == ["initialize", "stop"]
    assert client.events == ["start", "stop"]
    assert unloads == ["p"]
    assert runtime.registry.plugins == {}


async def test_a_failing_stop_does_not_stop_the_rest(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    class Sticky(Service):
        service_type = "sticky"

        async def initialize(self, runtime: AgentRuntime) -> None:
            pass

        async def stop(self) -> None:
            raise RuntimeError("will not stop")

    client = Listener()
    await runtime.register_plugin(Plugin(name="p", services=[Sticky], clients=[client]))
    with caplog.at_level(logging.ERROR, logger="eliza_nb"):
        await runtime.unregister_plugin("p")
    assert client.events == ["start", "stop"]
    assert "will not stop" in caplog.text


def test_context_managers() -> None:
    with AgentRuntime(use_env=False) as rt:
        rt.run_sync(rt.register_plugin(Plugin(name="p", services=[Recorder])))
        svc = rt.get_service(Recorder)
    assert svc.events == ["initialize", "stop"]


async def test_async_context_manager() -> None:
    async with AgentRuntime(use_env=False) as rt:
        await rt.register_plugin(Plugin(name="p", services=[Recorder]))
        svc = rt.get_service(Recorder)
    assert svc.events == ["initialize", "stop"]


def test_close_twice_is_harmless() -> None:
    unloads: list[str] = []
    rt = AgentRuntime(use_env=False)
    rt.run_sync(
        rt.register_plugin(
            Plugin(name="p", services=[Recorder], on_unload=lambda: unloads.append("p"))
        )
    )
    svc = rt.get_service(Recorder)
    assert not rt.closed
    rt.close()
    rt.close()  # raises nothing, and stops nothing a second time
    assert unloads == ["p"]
    assert svc.events == ["initialize", "stop"]
    assert rt.closed


# -- lifecycle hooks, sync or async, with the arguments they take --------------------------------


async def test_hooks_sync_or_async_with_or_without_arguments(runtime: AgentRuntime) -> None:
    calls: list[Any] = []

    async def on_load(rt: AgentRuntime) -> None:
        calls.append(("load", rt))

    def on_unload() -> None:
        calls.append("unload")

    await runtime.register_plugin(Plugin(name="p", on_load=on_load, on_unload=on_unload))
    await runtime.unregister_plugin("p")
    assert calls == [("load", runtime), "unload"]


# -- execute_action ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ECHO", "echo", "Echo", "say", "REPEAT", "  echo  "])
async def test_found_by_name_or_simile_any_case(rt: AgentRuntime, name: str) -> None:
    result = await rt.execute_action(name, "hello")
    assert result.success
    assert result.action == "ECHO"
    assert result.plugin == "basic"
    assert result.text == "echo: hello"
    assert [c.text for c in result.responses] == ["hello"]


async def test_options_reach_the_handler(rt: AgentRuntime) -> None:
    result = await rt.execute_action("FETCH_DATA", options={"limit": 3})
    assert result.data == {"limit": 3}
    assert (await rt.execute_action("FETCH_DATA")).data == {"limit": 10}


async def test_unknown_name_lists_the_closest(rt: AgentRuntime) -> None:
    with pytest.raises(ActionNotFoundError) as info:
        await rt.execute_action("FETCH_DAT")
    assert info.value.suggestions == ["FETCH_DATA"]
    assert "Did you mean: FETCH_DATA?" in str(info.value)
    assert rt.metrics_frame().empty


async def test_unknown_name_with_nothing_registered(runtime: AgentRuntime) -> None:
    with pytest.raises(ActionNotFoundError, match="register a plugin first"):
        await runtime.execute_action("ECHO")


@pytest.mark.parametrize("message", [5, b"bytes", ["a"], object(), 1.5])
async def test_message_of_the_wrong_type(rt: AgentRuntime, message: Any) -> None:
    with pytest.raises(ValidationError, match="message must be text, a dict, Content or Memory"):
        await rt.execute_action("ECHO", message)
    assert rt.metrics_frame().empty


async def test_malformed_message_dict(rt: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match="message is malformed") as info:
        await rt.execute_action("ECHO", {"text": ["not", "text"]})
    assert info.value.field == "message"
    with pytest.raises(ValidationError, match="message is malformed"):
        await rt.execute_action("ECHO", {"content": {"text": "x"}, "colour": "blue"})


@pytest.mark.parametrize("options", [[1], "limit=3", 3])
async def test_options_not_a_dict(rt: AgentRuntime, options: Any) -> None:
    with pytest.raises(ValidationError, match="options must be a dict") as info:
        await rt.execute_action("ECHO", "x", options=options)
    assert info.value.field == "options"


@pytest.mark.parametrize("name", [5, None, ["ECHO"]])
async def test_action_name_not_a_string(rt: AgentRuntime, name: Any) -> None:
    with pytest.raises(ValidationError, match="action name") as info:
        await rt.execute_action(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("timeout", [-1, "5", 0])
async def test_timeout_of_the_wrong_kind(rt: AgentRuntime, timeout: Any) -> None:
    with pytest.raises(ValidationError, match="timeout") as info:
        await rt.execute_action("ECHO", timeout=timeout)
    assert info.value.field == "timeout"


@pytest.mark.parametrize(
    "message",
    [
        "hi",
        Content(text="hi"),
        {"text": "hi"},
        {"content": {"text": "hi"}, "room_id": "r"},
        Memory(content=Content(text="hi")),
    ],
    ids=["str", "Content", "dict", "memory-dict", "Memory"],
)
async def test_every_message_form(rt: AgentRuntime, message: Any) -> None:
    assert (await rt.execute_action("ECHO", message)).text == "echo: hi"


async def test_room_id_is_recorded(rt: AgentRuntime) -> None:
    await rt.execute_action("ECHO", "x", room_id="lobby")
    await rt.execute_action("ECHO", Memory(room_id="mem-room"))
    await rt.execute_action("ECHO", Memory(room_id="mem-room"), room_id="override")
    assert rt.metrics_frame()["room_id"].tolist() == ["lobby", "mem-room", "override"]


class TestValidate:
    async def test_false_gives_validation_failed(self, runtime: AgentRuntime) -> None:
        ran: list[str] = []

        @action()
        def guarded(*args: Any) -> None:
            ran.append("handler")

        @guarded.validator
        async def check(rt: AgentRuntime, message: Memory, state: Any) -> bool:
            return message.content.text == "open sesame"

        await runtime.register_action(guarded)
        refused = await runtime.execute_action("GUARDED", "let me in")
        assert not refused.success
        assert refused.error_code == "VALIDATION_FAILED"
        assert ran == []
        assert (await runtime.execute_action("GUARDED", "open sesame")).success
        assert ran == ["handler"]
        errors = runtime.errors_frame()
        assert errors[["run_id", "action", "code"]].values.tolist() == [
            [1, "GUARDED", "VALIDATION_FAILED"]
        ]
        assert runtime.metrics_frame()["error_code"].tolist() == ["VALIDATION_FAILED", None]

    async def test_sync_validate_and_truthiness(self, runtime: AgentRuntime) -> None:
        await runtime.register_action(
            Action(name="A", handler=lambda *a: None, validate=lambda *a: 0)
        )
        assert (await runtime.execute_action("A")).error_code == "VALIDATION_FAILED"

    async def test_validate_that_raises_is_a_handler_error(self, runtime: AgentRuntime) -> None:
        def check(*args: Any) -> bool:
            raise KeyError("missing")

        await runtime.register_action(Action(name="A", handler=lambda *a: None, validate=check))
        result = await runtime.execute_action("A")
        assert result.error_code == "HANDLER_ERROR"
        assert runtime.run("A").error_code == "HANDLER_ERROR"


class TestHandlerErrors:
    @pytest.fixture
    async def failing(self, runtime: AgentRuntime) -> tuple[AgentRuntime, list[BaseException]]:
        seen: list[BaseException] = []

        @action()
        def explode(rt: Any, message: Any, *args: Any) -> None:
            if message.content.text == "api":
                raise ApiError("upstream down", status=503)
            raise ZeroDivisionError("division by zero in explode")

        async def on_error(error: BaseException) -> None:
            seen.append(error)

        await runtime.register_plugin(Plugin(name="p", actions=[explode, echo], on_error=on_error))
        return runtime, seen

    async def test_foreign_exception(
        self, failing: tuple[AgentRuntime, list[BaseException]], caplog: pytest.LogCaptureFixture
    ) -> None:
        runtime, seen = failing
        with caplog.at_level(logging.INFO, logger="eliza_nb"):  # a failure is INFO: it is data
            result = await runtime.execute_action("EXPLODE")
        assert not result.success
        assert result.error is not None
        assert result.error.code == "HANDLER_ERROR"
        assert result.error.error_type == "ZeroDivisionError"
        assert result.error.message == "division by zero in explode"
        assert "Traceback" in result.error.traceback
        assert "in explode" in result.error.traceback
        row = runtime.errors_frame().iloc[0]
        assert (row["plugin"], row["action"], row["code"]) == ("p", "EXPLODE", "HANDLER_ERROR")
        assert row["traceback"] == result.error.traceback
        assert [type(e) for e in seen] == [ZeroDivisionError]
        assert "p.EXPLODE failed [HANDLER_ERROR]" in caplog.text

    async def test_eliza_error_keeps_its_code(
        self, failing: tuple[AgentRuntime, list[BaseException]]
    ) -> None:
        runtime, seen = failing
        result = await runtime.execute_action("EXPLODE", "api")
        assert result.error is not None
        assert (result.error.code, result.error.error_type) == ("API_ERROR", "ApiError")
        assert result.error.message == "upstream down"
        assert isinstance(seen[0], ApiError)

    async def test_runtime_stays_usable(
        self, failing: tuple[AgentRuntime, list[BaseException]]
    ) -> None:
        runtime, _ = failing
        for _ in range(3):
            await runtime.execute_action("EXPLODE")
        assert (await runtime.execute_action("ECHO", "still here")).success
        assert runtime.metrics_frame()["success"].tolist() == [False, False, False, True]
        assert len(runtime.errors_frame()) == 3

    async def test_on_error_that_raises_is_logged_not_propagated(
        self, runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
    ) -> None:
        def on_error(error: BaseException) -> None:
            raise RuntimeError("handler of errors failed too")

        def boom(*args: Any) -> None:
            raise ValueError("first")

        await runtime.register_plugin(
            Plugin(name="p", actions=[Action(name="BOOM", handler=boom)], on_error=on_error)
        )
        with caplog.at_level(logging.ERROR, logger="eliza_nb"):
            result = await runtime.execute_action("BOOM")
        assert result.error_code == "HANDLER_ERROR"
        assert "handler of errors failed too" in caplog.text
        codes = runtime.errors_frame()[["action", "code"]].values.tolist()
        assert codes == [["BOOM", "HANDLER_ERROR"], ["on_error", "PLUGIN_ERROR"]]

    async def test_handler_own_timeout_error_without_a_limit(self, runtime: AgentRuntime) -> None:
        async def remote(*args: Any) -> None:
            raise TimeoutError("the remote API timed out")

        await runtime.register_action(Action(name="REMOTE", handler=remote))
        result = await runtime.execute_action("REMOTE")
        assert result.error is not None
        assert result.error.message == "the remote API timed out"
        assert "None" not in result.error.message


class TestTimeoutAndCancel:
    @pytest.fixture
    async def slow(self, runtime: AgentRuntime) -> AgentRuntime:
        async def forever(*args: Any) -> None:
            await asyncio.Event().wait()

        await runtime.register_action(Action(name="SLOW", handler=forever))
        await runtime.register_action(Action(name="SLOW_DEFAULT", handler=forever, timeout=0.01))
        return runtime

    async def test_timeout_argument(self, slow: AgentRuntime) -> None:
        result = await slow.execute_action("SLOW", timeout=0.01)
        assert result.error_code == "TIMEOUT"
        assert result.error is not None
        assert "timed out after 0.01 s" in result.error.message
        assert slow.errors_frame()["code"].tolist() == ["TIMEOUT"]

    async def test_action_default_timeout(self, slow: AgentRuntime) -> None:
        assert (await slow.execute_action("SLOW_DEFAULT")).error_code == "TIMEOUT"

    async def test_runtime_default_timeout(self, slow: AgentRuntime) -> None:
        slow.default_timeout = 0.01
        assert (await slow.execute_action("SLOW")).error_code == "TIMEOUT"

    async def test_sync_handler_past_its_timeout(self, runtime: AgentRuntime) -> None:
        def busy(*args: Any) -> str:
            start = time.perf_counter()
            while time.perf_counter() - start < 0.002:  # runs past the limit, then returns
                pass
            return "late"

        await runtime.register_action(Action(name="BUSY", handler=busy, timeout=0.001))
        assert (await runtime.execute_action("BUSY")).error_code == "TIMEOUT"

    async def test_cancellation_is_recorded_and_propagates(self, runtime: AgentRuntime) -> None:
        started = asyncio.Event()

        async def wait(*args: Any) -> None:
            started.set()
            await asyncio.Event().wait()

        await runtime.register_action(Action(name="WAIT", handler=wait))
        task = asyncio.ensure_future(runtime.execute_action("WAIT"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        frame = runtime.metrics_frame()
        assert frame[["action", "success", "error_code"]].values.tolist() == [
            ["WAIT", False, "CANCELLED"]
        ]
        assert runtime.errors_frame()["code"].tolist() == ["CANCELLED"]


async def test_every_execution_appends_one_metric_row(runtime: AgentRuntime) -> None:
    await runtime.register_action(Action(name="OK", handler=lambda *a: "ok"))
    await runtime.register_action(Action(name="NO", handler=lambda *a: False))
    await runtime.register_action(Action(name="BAD", handler=lambda *a: 1 / 0))
    await runtime.register_action(Action(name="NOPE", handler=lambda *a: 1, validate=lambda *a: 0))
    for name in ("OK", "NO", "BAD", "NOPE", "OK"):
        await runtime.execute_action(name)
    frame = runtime.metrics_frame()
    assert frame["run_id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["error_code"].tolist() == [
        None,
        "HANDLER_ERROR",
        "HANDLER_ERROR",
        "VALIDATION_FAILED",
        None,
    ]
    assert (frame["duration_ms"] >= 0).all()
    assert list(runtime.metrics_frame(action="OK")["run_id"]) == [1, 5]


# -- run(): the blocking twin --------------------------------------------------------------------


def test_run_in_plain_sync_code() -> None:
    rt = AgentRuntime(use_env=False)
    try:
        rt.run_sync(rt.register_plugin(Plugin(name="p", actions=[echo])))
        result = rt.run("ECHO", "sync world")
        assert result.text == "echo: sync world"
        assert rt.run("say", "again", room_id="r").success
        assert len(rt.metrics_frame()) == 2
    finally:
        rt.close()


async def test_run_inside_a_running_loop(rt: AgentRuntime) -> None:
    result = rt.run("ECHO", "inside", options={"k": 1})
    assert result.text == "echo: inside"
    assert (await rt.execute_action("ECHO", "after")).success
    assert len(rt.metrics_frame()) == 2


async def test_run_raises_what_execute_action_raises(rt: AgentRuntime) -> None:
    with pytest.raises(ActionNotFoundError):
        rt.run("NOPE")


# -- frames --------------------------------------------------------------------------------------

SCHEMAS: dict[str, dict[str, str]] = {
    "metrics_frame": {
        "run_id": "int64",
        "plugin": "object",
        "action": "object",
        "started_at": "datetime64[ns, UTC]",
        "duration_ms": "float64",
        "success": "bool",
        "error_code": "object",
        "room_id": "object",
    },
    "errors_frame": {
        "timestamp": "datetime64[ns, UTC]",
        "run_id": "Int64",
        "plugin": "object",
        "action": "object",
        "code": "object",
        "error_type": "object",
        "message": "object",
        "traceback": "object",
    },
    "memories_frame": {
        "id": "object",
        "created_at": "datetime64[ns, UTC]",
        "room_id": "object",
        "user_id": "object",
        "agent_id": "object",
        "text": "object",
        "action": "object",
        "content": "object",
        "table": "object",
    },
    "components_frame": {
        "plugin": "object",
        "kind": "object",
        "name": "object",
        "description": "object",
        "similes": "object",
    },
    "metrics_summary": {
        "action": "object",
        "runs": "int64",
        "successes": "int64",
        "failures": "int64",
        "success_rate": "float64",
        "mean_ms": "float64",
        "p50_ms": "float64",
        "p95_ms": "float64",
        "max_ms": "float64",
    },
    "custom_metrics_frame": {
        "timestamp": "datetime64[ns, UTC]",
        "name": "object",
        "kind": "object",
        "value": "float64",
    },
}


def schema(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def assert_spec_columns(frame: pd.DataFrame, name: str) -> None:
    """SPEC §3 columns come first, in order, with their dtypes (more may follow)."""
    spec, actual = SCHEMAS[name], schema(frame)
    assert list(actual)[: len(spec)] == list(spec)
    assert {column: actual[column] for column in spec} == spec


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_empty_frames_have_the_columns_and_dtypes(runtime: AgentRuntime, name: str) -> None:
    frame = getattr(runtime, name)()
    assert frame.empty
    assert_spec_columns(frame, name)


async def fill(runtime: AgentRuntime) -> None:
    @action()
    def count(rt: AgentRuntime, *args: Any) -> str:
        rt.metrics.increment("calls")
        rt.metrics.record("tokens", 128)
        return "ok"

    await runtime.register_plugin(
        Plugin(
            name="p",
            actions=[echo, count, Action(name="BAD", handler=lambda *a: 1 / 0)],
            services=[Recorder],
        )
    )
    await runtime.execute_action("ECHO", "a", room_id="r1")
    await runtime.execute_action("COUNT")
    await runtime.execute_action("BAD")
    await runtime.messages.create_memory("hello", room_id="r1")


@pytest.mark.parametrize("name", list(SCHEMAS))
async def test_filled_frames_keep_the_columns_and_dtypes(runtime: AgentRuntime, name: str) -> None:
    empty = schema(getattr(runtime, name)())
    await fill(runtime)
    frame = getattr(runtime, name)()
    assert not frame.empty
    assert_spec_columns(frame, name)
    assert schema(frame) == empty, "a filled frame has the same columns and dtypes as an empty one"


async def test_frame_contents(runtime: AgentRuntime) -> None:
    await fill(runtime)
    metrics = runtime.metrics_frame()
    assert metrics[["plugin", "action", "success", "room_id"]].values.tolist() == [
        ["p", "ECHO", True, "r1"],
        ["p", "COUNT", True, "default"],
        ["p", "BAD", False, "default"],
    ]
    components = runtime.components_frame()
    assert components[["kind", "name"]].values.tolist() == [
        ["action", "ECHO"],
        ["action", "COUNT"],
        ["action", "BAD"],
        ["service", "recorder"],
    ]
    assert components["similes"].iloc[0] == ["SAY", "REPEAT"]
    assert components["description"].iloc[3] == "Remembers what happened to it."
    memories = runtime.memories_frame(room_id="r1")
    assert memories[["room_id", "user_id", "text"]].values.tolist() == [["r1", "user", "hello"]]
    assert runtime.memories_frame(room_id="elsewhere").empty
    custom = runtime.custom_metrics_frame()
    assert custom[["name", "kind", "value"]].values.tolist() == [
        ["calls", "counter", 1.0],
        ["tokens", "value", 128.0],
    ]
    assert runtime.metrics.counters() == {"calls": 1.0}


async def test_metrics_summary_figures(runtime: AgentRuntime) -> None:
    await runtime.register_action(Action(name="OK", handler=lambda *a: None))
    await runtime.register_action(Action(name="MIXED", handler=lambda rt, m, *a: m.text == "y"))
    for text in ("y", "n", "y", "y"):
        await runtime.execute_action("MIXED", text)
    await runtime.execute_action("OK")
    summary = runtime.metrics_summary().set_index("action")
    assert list(summary.index) == ["MIXED", "OK"]
    mixed = summary.loc["MIXED"]
    assert (mixed["runs"], mixed["successes"], mixed["failures"]) == (4, 3, 1)
    assert mixed["success_rate"] == 0.75
    assert mixed["p50_ms"] <= mixed["p95_ms"] <= mixed["max_ms"]
    assert mixed["mean_ms"] <= mixed["max_ms"]
    assert summary.loc["OK", "success_rate"] == 1.0


# -- message memory ------------------------------------------------------------------------------


async def test_messages_create_and_get(runtime: AgentRuntime) -> None:
    for i in range(5):
        await runtime.messages.create_memory(f"m{i}", room_id="lobby")
    await runtime.messages.create_memory({"text": "other room"}, room_id="side")
    await runtime.messages.create_memory(Content(text="content form"), room_id="lobby")
    stored = await runtime.messages.create_memory(
        Memory(room_id="lobby", content=Content(text="m"))
    )
    assert isinstance(stored, Memory)
    texts = [m.text for m in await runtime.messages.get_memories("lobby", count=3)]
    assert texts == ["m4", "content form", "m"], "the most recent, oldest first"
    assert len(await runtime.messages.get_memories("lobby", count=100)) == 7
    assert [m.text for m in await runtime.messages.get_memories("side")] == ["other room"]
    assert await runtime.messages.get_memories("empty") == []
    assert await runtime.messages.count_memories("lobby") == 7


async def test_memories_round_trip(runtime: AgentRuntime) -> None:
    original = Memory(
        room_id="r",
        user_id="alice",
        content=Content(text="hi", action="GREET", mood="warm"),
        embedding=[0.1, 0.2],
    )
    await runtime.messages.create_memory(original)
    (back,) = await runtime.messages.get_memories("r")
    assert back == original


async def test_search_and_remove(runtime: AgentRuntime) -> None:
    kept = await runtime.messages.create_memory("the weather is nice", room_id="r")
    await runtime.messages.create_memory("pizza later?", room_id="r")
    found = await runtime.messages.search_memories("r", "WEATHER")
    assert [m.id for m in found] == [kept.id]
    assert await runtime.messages.remove_memory(kept.id)
    assert not await runtime.messages.remove_memory(kept.id)
    assert await runtime.messages.remove_all_memories("r") == 1


async def test_memory_bad_input(runtime: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match="count") as info:
        await runtime.messages.get_memories("r", count=-1)
    assert info.value.field == "count"
    with pytest.raises(ValidationError, match="search_memories needs"):
        await runtime.messages.search_memories("r")
    with pytest.raises(ValidationError, match="message must be"):
        await runtime.messages.create_memory(42)  # type: ignore[arg-type]
