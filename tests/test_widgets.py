"""ActionRunner and Dashboard: driven by setting values, triggers and the browser's comm message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from eliza_nb import ActionNotFoundError, ActionResult, AgentRuntime, Plugin, action
from eliza_nb.kernel.widgets import ActionRunner, Dashboard

CLICK = {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}


@action(description="echoes text and options", similes=["SAY", "REPEAT"])
async def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    await asyncio.sleep(0)
    await callback({"text": f"<b>{message.content.text}</b>"})
    return {"text": message.content.text, "data": options}


@action(description="fails")
def broken(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise ValueError("handler exploded")


@pytest.fixture
def runtime(eliza_runtime: AgentRuntime) -> AgentRuntime:
    eliza_runtime.run_sync(eliza_runtime.register_plugin(Plugin(name="w", actions=[echo, broken])))
    return eliza_runtime


@pytest.fixture
def runner(runtime: AgentRuntime) -> Iterator[ActionRunner]:
    widget = ActionRunner(runtime)
    yield widget
    widget.close()


@pytest.fixture
def dashboard(runtime: AgentRuntime) -> Iterator[Dashboard]:
    widget = Dashboard(runtime)
    yield widget
    widget.close()


def errors_in(output: Any) -> list[dict[str, Any]]:
    return [o for o in output.outputs if o["output_type"] == "error"]


# -- ActionRunner -----------------------------------------------------------------------
def test_dropdown_lists_actions_with_description_and_similes(runner: ActionRunner) -> None:
    assert runner.action.options == ("BROKEN", "ECHO")
    runner.select("say")  # a simile, any case
    assert runner.action.value == "ECHO"
    assert "echoes text and options" in runner.info.value and "SAY, REPEAT" in runner.info.value


def test_run_with_text_and_options(runner: ActionRunner) -> None:
    seen: list[ActionResult] = []
    runner.on_result(seen.append)
    runner.select("ECHO")
    runner.text.value = "hi <script>"
    runner.options.add("n", "3")
    runner.options.add("name", "bob")
    runner.options.add("", "ignored")
    result = runner.run()
    assert result is not None and result.data == {"n": 3, "name": "bob"}
    assert seen == [result]
    assert "hi &lt;script&gt;" in runner.result.value and "<script>" not in runner.result.value
    assert "&lt;b&gt;" in runner.result.value  # response text escaped too
    assert "ECHO" in runner.history.value


def test_run_button_click_from_the_browser_runs_the_action(runner: ActionRunner) -> None:
    runner.select("ECHO")
    runner.text.value = "clicked"
    runner.run_button._handle_msg(CLICK)
    assert [r.text for r in runner.results] == ["clicked"]
    runner.run_button.click()  # the programmatic twin
    assert len(runner.results) == 2


def test_handler_exception_is_shown_in_the_output_area(runner: ActionRunner) -> None:
    runner.select("BROKEN")
    result = runner.run()
    assert result is not None and result.error_code == "HANDLER_ERROR"
    (error,) = errors_in(runner.output)
    assert error["ename"] == "ValueError" and "handler exploded" in error["evalue"]
    assert any("handler exploded" in line for line in error["traceback"])
    assert "HANDLER_ERROR" in runner.result.value


def test_run_that_cannot_start_is_shown_and_reported(runtime: AgentRuntime) -> None:
    errors: list[BaseException] = []
    runner = ActionRunner(runtime)
    runner.on_error(errors.append)
    runtime.run_sync(runtime.unregister_plugin("w"))
    assert runner.run() is None  # ECHO was selected, and is gone now
    assert isinstance(errors[0], ActionNotFoundError)
    (error,) = errors_in(runner.output)
    assert error["ename"] == "ActionNotFoundError" and "[ACTION_NOT_FOUND]" in error["traceback"][0]
    with pytest.raises(ActionNotFoundError):
        runner.select("ECHO")
    runner.close()


def test_a_failing_callback_is_shown_and_others_still_run(runner: ActionRunner) -> None:
    seen: list[ActionResult] = []

    def bad(result: ActionResult) -> None:
        raise RuntimeError("callback broke")

    runner.on_result(bad)
    runner.on_result(seen.append)
    runner.select("ECHO")
    runner.run()
    assert len(seen) == 1
    assert errors_in(runner.output)[0]["evalue"] == "callback broke"
    runner.on_result(bad, remove=True)
    runner.output.outputs = ()
    runner.run()
    assert errors_in(runner.output) == []


def test_clear_button_and_option_rows(runner: ActionRunner) -> None:
    runner.text.value = "x"
    row = runner.options.add("k", "v")
    runner.options.add("j", "w")
    row.children[2].click()  # the row's remove button
    assert runner.options.value == {"j": "w"}
    runner.options.add_button.click()
    assert len(runner.options.rows) == 2
    runner.run()
    runner.clear_button._handle_msg(CLICK)
    assert (runner.text.value, runner.options.value, runner.result.value) == ("", {}, "")
    assert runner.history.value  # the last runs stay


def test_history_keeps_the_last_runs(runtime: AgentRuntime) -> None:
    runner = ActionRunner(runtime, history=2)
    runner.select("ECHO")
    for text in ("one", "two", "three"):
        runner.text.value = text
        runner.run()
    assert [r.text for r in runner.results] == ["two", "three"]
    assert runner.history.value.index("three") < runner.history.value.index("two")
    runner.close()


def test_refresh_picks_up_new_actions(runner: ActionRunner, runtime: AgentRuntime) -> None:
    @action()
    def later(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
        return "late"

    runtime.run_sync(runtime.register_action(later))
    runner.select("LATER")
    assert runner.run().text == "late"  # type: ignore[union-attr]


# -- Dashboard --------------------------------------------------------------------------
def test_dashboard_refreshes_after_every_run(dashboard: Dashboard, runtime: AgentRuntime) -> None:
    refreshes: list[Dashboard] = []
    dashboard.on_refresh(refreshes.append)
    assert "No runs yet" in dashboard.summary.value and bytes(dashboard.plot.value) == b""
    runtime.run("ECHO", "a")
    assert len(refreshes) == 1 and "ECHO" in dashboard.summary.value
    assert bytes(dashboard.plot.value).startswith(b"\x89PNG")
    runtime.run("BROKEN")
    assert len(refreshes) == 2
    assert (
        "HANDLER_ERROR" in dashboard.errors.value and "handler exploded" in dashboard.errors.value
    )
    assert "2 runs" in dashboard.status.value


async def test_runs_within_one_loop_step_refresh_once(
    dashboard: Dashboard, runtime: AgentRuntime
) -> None:
    refreshes: list[Dashboard] = []
    dashboard.on_refresh(refreshes.append)
    for _ in range(5):
        await runtime.execute_action("BROKEN")  # a sync handler: no suspension in between
    assert refreshes == []
    await asyncio.sleep(0)  # one loop turn: the scheduled refresh runs
    assert len(refreshes) == 1 and "5 runs" in dashboard.status.value


def test_refresh_button_and_close(dashboard: Dashboard, runtime: AgentRuntime) -> None:
    refreshes: list[Dashboard] = []
    dashboard.on_refresh(refreshes.append)
    dashboard.refresh_button._handle_msg(CLICK)
    assert len(refreshes) == 1
    dashboard.close()
    runtime.run("ECHO")
    assert len(refreshes) == 1 and runtime.run_listeners == []


def test_dashboard_shows_its_own_errors(dashboard: Dashboard, monkeypatch: Any) -> None:
    def fail(**filters: Any) -> None:
        raise RuntimeError("no frame")

    monkeypatch.setattr(dashboard.runtime, "metrics_summary", fail)
    dashboard.refresh()
    assert errors_in(dashboard.output)[0]["evalue"] == "no frame"
