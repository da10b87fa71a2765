"""compose_state (providers run concurrently) and process_message (routing, memory, evaluators)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from eliza_nb import (
    Action,
    AgentRuntime,
    Character,
    Content,
    Evaluator,
    Memory,
    Plugin,
    Provider,
    State,
    ValidationError,
    action,
    evaluator,
    provider,
)

# -- compose_state -------------------------------------------------------------------------------


async def test_providers_run_concurrently(runtime: AgentRuntime) -> None:
    """Each provider waits for the other: only a concurrent run can finish."""
    a_ready, b_ready = asyncio.Event(), asyncio.Event()

    @provider()
    async def first(*args: Any) -> str:
        a_ready.set()
        await b_ready.wait()
        return "first"

    @provider()
    async def second(*args: Any) -> str:
        b_ready.set()
        await a_ready.wait()
        return "second"

    await runtime.register_plugin(Plugin(name="p", providers=[first, second]))
    # The timeout only guards against a hang when providers run one after the other.
    state = await asyncio.wait_for(runtime.compose_state("hi"), timeout=10)
    assert state.values == {"first": "first", "second": "second"}


async def test_sync_and_async_providers_and_their_arguments(runtime: AgentRuntime) -> None:
    seen: list[Any] = []

    @provider()
    def sync_one(rt: AgentRuntime, message: Memory, state: Any) -> dict[str, int]:
        seen.append((rt, message.content.text, state))
        return {"n": 1}

    @provider()
    async def async_one(rt: AgentRuntime, message: Memory, state: Any) -> None:
        return None

    await runtime.register_plugin(Plugin(name="p", providers=[sync_one, async_one]))
    state = await runtime.compose_state("hello")
    assert isinstance(state, State)
    assert state.values == {"sync_one": {"n": 1}, "async_one": None}
    assert state["sync_one"] == {"n": 1}
    # As in elizaOS, a provider gets the state being composed (its recent messages so far).
    ((rt, text, given),) = seen
    assert (rt, text) == (runtime, "hello") and isinstance(given, State)


async def test_a_failing_provider_is_left_out_and_logged(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    @provider()
    async def broken(*args: Any) -> str:
        raise ConnectionError("feed unreachable")

    @provider()
    def fine(*args: Any) -> str:
        return "ok"

    await runtime.register_plugin(Plugin(name="p", providers=[broken, fine]))
    with caplog.at_level(logging.WARNING, logger="eliza_nb"):
        state = await runtime.compose_state("hi")
    assert state.values == {"fine": "ok"}
    assert "provider p.broken failed [PROVIDER_ERROR]: feed unreachable" in caplog.text
    errors = runtime.errors_frame()
    assert errors[["plugin", "action", "code", "error_type"]].values.tolist() == [
        ["p", "broken", "PROVIDER_ERROR", "ConnectionError"]
    ]
    assert pd_isna(errors["run_id"].iloc[0])


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


async def test_state_lists_only_actions_whose_validate_passes(runtime: AgentRuntime) -> None:
    def refuse(*args: Any) -> bool:
        return False

    def explode(*args: Any) -> bool:
        raise RuntimeError("validate broke")

    async def accept(rt: Any, message: Memory, state: State) -> bool:
        return isinstance(state, State) and message.content.text == "go"

    plugin = Plugin(
        name="p",
        actions=[
            Action(name="FREE", handler=lambda *a: None),
            Action(name="REFUSED", handler=lambda *a: None, validate=refuse),
            Action(name="BROKEN", handler=lambda *a: None, validate=explode),
            Action(name="ACCEPTED", handler=lambda *a: None, validate=accept, similes=["OK"]),
        ],
    )
    await runtime.register_plugin(plugin)
    assert (await runtime.compose_state("go")).actions == ["ACCEPTED", "FREE"]
    assert (await runtime.compose_state("stop")).actions == ["FREE"]


async def test_state_recent_messages_and_text() -> None:
    rt = AgentRuntime(character=Character(name="Ada", bio=["Mathematician."]), use_env=False)
    try:
        await rt.register_plugin(
            Plugin(
                name="p",
                providers=[Provider(name="time", get=lambda *a: "noon")],
                actions=[Action(name="ECHO", handler=lambda *a: None)],
            )
        )
        await rt.messages.create_memory("earlier", room_id="r")
        await rt.messages.create_memory("elsewhere", room_id="other")
        state = await rt.compose_state("now", room_id="r")
        assert [m.text for m in state.recent_messages] == ["earlier"]
        assert state.text == "## time\nnoon"  # the providers' texts (elizaOS 1.7)
        prompt = await rt.render_prompt("now", room_id="r")
        for piece in ("Ada", "Mathematician.", "## time\nnoon", "user: earlier", "ECHO"):
            assert piece in prompt
        assert (await rt.compose_state("x", room_id="r", recent=0)).recent_messages == []
    finally:
        await rt.aclose()


async def test_compose_state_with_nothing_registered(runtime: AgentRuntime) -> None:
    state = await runtime.compose_state()
    assert (state.values, state.actions, state.recent_messages) == ({}, [], [])


async def test_compose_state_rejects_bad_messages(runtime: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match="message must be"):
        await runtime.compose_state(3.14)


# -- process_message -----------------------------------------------------------------------------


class Log:
    def __init__(self) -> None:
        self.calls: list[str] = []


@pytest.fixture
async def agent(runtime: AgentRuntime) -> tuple[AgentRuntime, Log]:
    log = Log()

    @action(similes=["GRAB_DATA"])
    async def fetch_data(
        rt: Any, message: Memory, state: State, options: Any, callback: Any
    ) -> str:
        log.calls.append(f"FETCH_DATA:{state['weather']}")
        await callback({"text": "here is the data"})
        return "fetched"

    @action()
    def greet(rt: Any, message: Memory, state: Any, options: Any, callback: Any) -> str:
        log.calls.append("GREET")
        return "hello!"

    @evaluator()
    def interested(rt: Any, message: Memory, state: Any, options: Any, callback: Any) -> None:
        log.calls.append("eval:interested")

    @interested.validator
    def only_data(rt: Any, message: Memory, state: Any) -> bool:
        return "data" in message.content.text

    @evaluator(always_run=True)
    async def always(rt: Any, message: Memory, state: Any, options: Any, callback: Any) -> None:
        log.calls.append("eval:always")

    @always.validator
    def never(*args: Any) -> bool:
        return False

    plugin = Plugin(
        name="agent",
        actions=[fetch_data, greet],
        providers=[Provider(name="weather", get=lambda *a: "sunny")],
        evaluators=[interested, always],
    )
    await runtime.register_plugin(plugin)
    return runtime, log


async def test_routes_by_content_action(agent: tuple[AgentRuntime, Log]) -> None:
    rt, log = agent
    results = await rt.process_message({"text": "no names in here", "action": "greet"})
    assert [r.action for r in results] == ["GREET"]
    assert results[0].text == "hello!"
    assert log.calls == ["GREET", "eval:always"]


async def test_content_action_wins_over_text(agent: tuple[AgentRuntime, Log]) -> None:
    rt, log = agent
    results = await rt.process_message(Content(text="fetch data please", action="GREET"))
    assert [r.action for r in results] == ["GREET"]
    assert log.calls[0] == "GREET"


@pytest.mark.parametrize(
    "text", ["please fetch data for me", "FETCH_DATA", "could you grab data?", "Grab-Data now"]
)
async def test_routes_by_name_or_simile_in_text(agent: tuple[AgentRuntime, Log], text: str) -> None:
    rt, log = agent
    results = await rt.process_message(text)
    assert [r.action for r in results] == ["FETCH_DATA"]
    assert results[0].success
    assert log.calls[0] == "FETCH_DATA:sunny", "the handler gets the composed state"


async def test_no_match_runs_no_action_but_evaluators(agent: tuple[AgentRuntime, Log]) -> None:
    rt, log = agent
    assert await rt.process_message("just chatting") == []
    assert log.calls == ["eval:always"]
    assert rt.metrics_frame().empty


async def test_unknown_content_action_is_a_recorded_failure(
    agent: tuple[AgentRuntime, Log],
) -> None:
    rt, _ = agent
    (result,) = await rt.process_message({"text": "x", "action": "LAUNCH"})
    assert not result.success
    assert result.error_code == "ACTION_NOT_FOUND"
    assert rt.metrics_frame()["error_code"].tolist() == ["ACTION_NOT_FOUND"]
    assert rt.errors_frame()["code"].tolist() == ["ACTION_NOT_FOUND"]


async def test_evaluators_run_when_validate_passes_or_always(
    agent: tuple[AgentRuntime, Log],
) -> None:
    rt, log = agent
    await rt.process_message("fetch data")
    assert log.calls == ["FETCH_DATA:sunny", "eval:interested", "eval:always"]


async def test_message_and_reply_are_stored(agent: tuple[AgentRuntime, Log]) -> None:
    rt, _ = agent
    await rt.process_message("fetch data", room_id="lobby")
    await rt.process_message({"text": "hi", "action": "GREET"}, room_id="lobby")
    stored = await rt.messages.get_memories("lobby", count=10)
    assert [(m.user_id, m.text, m.content.action) for m in stored] == [
        ("user", "fetch data", None),
        ("agent", "here is the data", "FETCH_DATA"),
        ("user", "hi", "GREET"),
        ("agent", "hello!", "GREET"),
    ]
    assert rt.memories_frame(room_id="lobby")["text"].tolist()[1] == "here is the data"


async def test_memory_messages_keep_their_room(agent: tuple[AgentRuntime, Log]) -> None:
    rt, _ = agent
    await rt.process_message(Memory(room_id="den", user_id="bob", content=Content(text="hi")))
    (stored,) = await rt.messages.get_memories("den")
    assert (stored.user_id, stored.text) == ("bob", "hi")


async def test_a_failing_evaluator_is_logged_and_the_others_run(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(*args: Any) -> None:
        raise RuntimeError("evaluator broke")

    def broken_validate(*args: Any) -> bool:
        raise RuntimeError("validate broke")

    plugin = Plugin(
        name="p",
        evaluators=[
            Evaluator(name="BROKEN", handler=broken),
            Evaluator(
                name="BAD_CHECK", handler=lambda *a: ran.append("bad"), validate=broken_validate
            ),
            Evaluator(name="OK", handler=lambda *a: ran.append("ok")),
        ],
    )
    await runtime.register_plugin(plugin)
    with caplog.at_level(logging.WARNING, logger="eliza_nb"):
        assert await runtime.process_message("hello") == []
    assert ran == ["ok"]
    assert "evaluator broke" in caplog.text
    assert runtime.errors_frame()["action"].tolist() == ["BROKEN", "BAD_CHECK"]


async def test_process_message_respects_the_action_timeout(runtime: AgentRuntime) -> None:
    async def forever(*args: Any) -> None:
        await asyncio.Event().wait()

    await runtime.register_action(Action(name="SLOW", handler=forever, timeout=0.01))
    (result,) = await runtime.process_message("slow")
    assert result.error_code == "TIMEOUT"


async def test_a_failing_action_does_not_stop_the_evaluators(runtime: AgentRuntime) -> None:
    ran: list[str] = []
    plugin = Plugin(
        name="p",
        actions=[Action(name="CRASH", handler=lambda *a: 1 / 0)],
        evaluators=[Evaluator(name="AFTER", handler=lambda *a: ran.append("after"))],
    )
    await runtime.register_plugin(plugin)
    (result,) = await runtime.process_message("crash")
    assert result.error_code == "HANDLER_ERROR"
    assert ran == ["after"]


@pytest.mark.parametrize("message", [42, None.__class__, ["hi"]])
async def test_process_message_rejects_bad_messages(runtime: AgentRuntime, message: Any) -> None:
    with pytest.raises(ValidationError, match="message must be text, a dict, Content or Memory"):
        await runtime.process_message(message)
    assert runtime.memories_frame().empty


async def test_a_provider_value_that_cannot_print_does_not_break_state(
    runtime: AgentRuntime,
) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    await runtime.register_plugin(
        Plugin(name="b", providers=[Provider(name="broken", get=lambda rt, m, s: Broken())])
    )
    state = await runtime.compose_state("hi")
    assert isinstance(state.values["broken"], Broken)
    assert "<Broken: unprintable (RuntimeError)>" in state.text


async def test_components_and_snapshot_list_models_and_events(runtime: AgentRuntime) -> None:
    async def small(runtime: Any, params: Any) -> str:
        """Answers briefly."""
        return "ok"

    plugin = Plugin(
        name="m",
        models={"TEXT_SMALL": small},
        events={"MESSAGE_RECEIVED": [lambda payload: None, lambda payload: None]},
    )
    await runtime.register_plugin(plugin)
    frame = runtime.components_frame()
    rows = {(r.kind, r.name): r.description for r in frame.itertuples()}
    assert rows[("model", "TEXT_SMALL")] == "Answers briefly."
    assert rows[("event", "MESSAGE_RECEIVED")] == "2 handler(s)"
    snap = runtime.snapshot()["plugins"]["m"]
    assert snap["models"] == ["TEXT_SMALL"] and snap["events"] == ["MESSAGE_RECEIVED"]
