"""The dispatcher: the one path every action run takes, its timeout rule and its records."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, EventType, Plugin, State, StoreError, ValidationError, action
from eliza_nb.dispatcher import Dispatcher, check_timeout
from eliza_nb.testing import DeterministicModel

UNDECODABLE = b"r\xff".decode("utf-8", "surrogateescape")  # what os.listdir gives for b"r\xff"


@action(name="QUIT")
async def quit_async(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    sys.exit(7)


@action(name="QUIT_SYNC")
def quit_sync(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    sys.exit(7)


@action(name="MISSING_FILE")
def missing_file(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise FileNotFoundError(UNDECODABLE)


@action(name="ECHO", similes=["SAY"])
async def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return message.content.text


@action(name="SLOW", timeout=0.05)
async def slow(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    await asyncio.sleep(5)


@action(name="OWN_TIMEOUT")
async def own_timeout(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise TimeoutError("the remote API timed out")


PLUGIN = Plugin(name="d", actions=[quit_async, quit_sync, missing_file, echo, slow, own_timeout])


@pytest.fixture
async def rt() -> Any:
    runtime = AgentRuntime(use_env=False)
    await runtime.register_plugin(PLUGIN)
    yield runtime
    await runtime.aclose()


@pytest.fixture
def sync_rt() -> Any:
    runtime = AgentRuntime(use_env=False)
    runtime.run_sync(runtime.register_plugin(PLUGIN))
    yield runtime
    runtime.close()


@pytest.mark.parametrize("name", ["QUIT", "QUIT_SYNC"])
@pytest.mark.parametrize("timeout", [None, 5])
async def test_sys_exit_is_a_failed_result_with_and_without_a_timeout(
    rt: AgentRuntime, name: str, timeout: float | None
) -> None:
    result = await rt.execute_action(name, timeout=timeout)
    assert not result.success
    assert result.error is not None and result.error.error_type == "SystemExit"
    assert rt.metrics_frame()["error_code"].tolist() == ["HANDLER_ERROR"]
    assert (await rt.execute_action("ECHO", "still here")).text == "still here"


def test_sys_exit_with_a_timeout_does_not_escape_run(sync_rt: AgentRuntime) -> None:
    # The blocking twin drives its own loop: a SystemExit out of a task would stop it.
    assert sync_rt.run("QUIT", timeout=5).error_code == "HANDLER_ERROR"
    assert sync_rt.run("ECHO", "after").text == "after"


def test_an_undecodable_file_name_in_an_error_does_not_stop_the_file_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    rt = AgentRuntime(use_env=False, database=path)
    rt.run_sync(rt.register_plugin(PLUGIN))
    failed = rt.run("MISSING_FILE")
    assert failed.error is not None and "\ufffd" in failed.error.message
    for i in range(50):
        rt.run("ECHO", str(i))
    assert len(rt.metrics_frame()) == 51
    assert len(rt.errors_frame()) == 1
    rt.close()
    again = AgentRuntime(use_env=False, database=path)
    try:
        assert len(again.metrics_frame()) == 51
        assert again.errors_frame()["message"].str.contains("\ufffd").all()
    finally:
        again.close()


async def test_the_call_timeout_wins_then_the_action_then_the_default(rt: AgentRuntime) -> None:
    find = rt.dispatcher.find
    assert rt.dispatcher.timeout_for(find("SLOW")[0], 2.0) == 2.0
    assert rt.dispatcher.timeout_for(find("SLOW")[0]) == 0.05
    assert rt.dispatcher.timeout_for(find("ECHO")[0]) is None
    rt.default_timeout = 3
    assert rt.dispatcher.timeout_for(find("ECHO")[0]) == 3
    assert rt.dispatcher.timeout_for(find("SLOW")[0]) == 0.05


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_a_timeout_that_is_not_a_positive_number_is_refused(
    sync_rt: AgentRuntime, bad: Any
) -> None:
    with pytest.raises(ValidationError, match="timeout must be a positive number") as info:
        check_timeout(bad)
    assert info.value.field == "timeout"
    with pytest.raises(ValidationError, match="timeout"):
        sync_rt.default_timeout = bad
    with pytest.raises(ValidationError, match="timeout"):
        sync_rt.run("ECHO", timeout=bad)


async def test_a_timeout_is_recorded_and_a_handlers_own_timeout_error_is_not_one(
    rt: AgentRuntime,
) -> None:
    late = await rt.execute_action("SLOW")
    assert late.error_code == "TIMEOUT"
    assert late.error is not None and "timed out after 0.05 s" in late.error.message
    own = await rt.execute_action("OWN_TIMEOUT", timeout=5)
    assert own.error_code == "HANDLER_ERROR"
    assert own.error is not None and own.error.message == "the remote API timed out"


async def test_state_must_be_a_state(rt: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match="state must be a State") as info:
        await rt.execute_action("ECHO", state={"values": {}})  # type: ignore[arg-type]
    assert info.value.field == "state"
    state = await rt.compose_state("x")
    assert isinstance(state, State)
    assert (await rt.execute_action("ECHO", "x", state=state)).success


async def test_every_path_runs_actions_through_dispatcher_run(
    rt: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = Dispatcher.run

    async def spy(self: Dispatcher, action: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(action.name)
        return await real(self, action, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "run", spy)
    await rt.execute_action("ECHO", "a")
    await rt.process_message("say b")
    await rt.run_batch("ECHO", ["c", "d"], progress=False)
    model = DeterministicModel(replies=['{"text": "ok", "actions": ["ECHO"]}'])
    await rt.register_plugin(model.plugin)
    await rt.process_message("go")
    assert calls == ["ECHO"] * 5
    assert len(rt.metrics_frame("ECHO")) == 5


async def test_action_events_wrap_every_path(rt: AgentRuntime) -> None:
    seen: list[tuple[str, str]] = []
    rt.on(EventType.ACTION_STARTED, lambda p: seen.append(("started", p["action"])))
    rt.on(EventType.ACTION_COMPLETED, lambda p: seen.append(("completed", p["action"])))
    await rt.execute_action("ECHO", "a")
    await rt.process_message("say b")
    await rt.run_batch("ECHO", ["c"], progress=False)
    assert seen == [("started", "ECHO"), ("completed", "ECHO")] * 3


async def test_an_unknown_action_in_a_message_is_one_recorded_failure(rt: AgentRuntime) -> None:
    [result] = await rt.process_message({"text": "x", "action": "NOPE"})
    assert result.error_code == "ACTION_NOT_FOUND"
    runs, errors = rt.metrics_frame(), rt.errors_frame()
    assert runs["error_code"].tolist() == ["ACTION_NOT_FOUND"]
    assert errors["run_id"].tolist() == [result.run_id]


def test_a_failing_file_writer_shows_on_the_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = AgentRuntime(use_env=False, database=tmp_path / "agent.db")
    rt.run_sync(rt.register_plugin(PLUGIN))
    assert "write_error" not in repr(rt)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rt.store, "write_records", broken)
    rt.run("ECHO", "x")
    with pytest.raises(StoreError, match="disk full"):
        rt.metrics.flush()
    assert "disk full" in repr(rt)
    monkeypatch.undo()
    rt.metrics.flush()
    assert "write_error" not in repr(rt)
    assert len(rt.metrics_frame()) == 1
    rt.close()


async def test_a_malformed_callback_is_a_one_line_failure() -> None:
    @action(name="BAD_CALLBACK")
    async def bad(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
        await callback({"text": 5})

    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="cb", actions=[bad]))
    result = await rt.execute_action("BAD_CALLBACK")
    assert result.error_code == "VALIDATION_ERROR"
    assert result.error is not None and "\n" not in result.error.message
    assert "text" in result.error.message and "errors.pydantic.dev" not in result.error.message
    await rt.aclose()
