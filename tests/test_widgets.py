"""ActionRunner and Dashboard: driven by setting values, triggers and the browser's comm message."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import comm
import pytest
from ipywidgets.widgets.widget import _instances as widget_instances

import eliza_nb
from eliza_nb import ActionNotFoundError, ActionResult, AgentRuntime, Plugin, action, frames
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


def failures_in(output: Any) -> list[dict[str, Any]]:
    """The failures shown in an output area: one line (text/plain) and its HTML."""
    return [o["data"] for o in output.outputs if o["output_type"] == "display_data"]


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


def test_handler_exception_is_one_line_with_the_handlers_frames_folded(
    runner: ActionRunner,
) -> None:
    runner.select("BROKEN")
    result = runner.run()
    assert result is not None and result.error_code == "HANDLER_ERROR"
    card = runner.result.value
    assert "<b>error HANDLER_ERROR</b>: handler exploded</div><details>" in card
    folded = card[card.index("<details>") :]
    assert "in broken" in folded and "raise ValueError(&quot;handler exploded&quot;)" in folded
    assert "dispatcher.py" not in folded and "eliza_nb/" not in folded  # no internals
    assert failures_in(runner.output) == []  # the card tells it; no second copy below


def test_run_that_cannot_start_is_shown_and_reported(runtime: AgentRuntime) -> None:
    errors: list[BaseException] = []
    runner = ActionRunner(runtime)
    runner.on_error(errors.append)
    runtime.run_sync(runtime.unregister_plugin("w"))
    assert runner.run() is None  # ECHO was selected, and is gone now
    assert isinstance(errors[0], ActionNotFoundError)
    (error,) = failures_in(runner.output)
    assert error["text/plain"].startswith("[ACTION_NOT_FOUND] ")
    assert "<b>ACTION_NOT_FOUND</b>" in error["text/html"] and "<details>" not in error["text/html"]
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
    (error,) = failures_in(runner.output)
    assert error["text/plain"] == "[RuntimeError] callback broke"
    assert "in bad" in error["text/html"] and "_outputs.py" not in error["text/html"]
    runner.on_result(bad, remove=True)
    runner.output.outputs = ()
    runner.run()
    assert failures_in(runner.output) == []


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
class Clock:
    """The running loop's clock, moved by hand: timers fire when a test says time has passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time()

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for _ in range(2):  # the timers now due run in the loop's next turn, after this task
            await asyncio.sleep(0)


@pytest.fixture
async def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    loop = asyncio.get_running_loop()
    fake = Clock(loop)
    monkeypatch.setattr(loop, "time", fake)
    return fake


@pytest.fixture
async def live(runtime: AgentRuntime, clock: Clock) -> AsyncIterator[Dashboard]:
    """A dashboard made on the (faked) running loop, with the default 0.5 s interval."""
    widget = Dashboard(runtime)
    yield widget
    widget.close()


async def test_a_run_redraws_the_dashboard_a_loop_step_later(
    live: Dashboard, runtime: AgentRuntime, clock: Clock
) -> None:
    refreshes: list[Dashboard] = []
    live.on_refresh(refreshes.append)
    assert "No runs yet" in live.summary.value and bytes(live.latency.value) == b""
    await clock.advance(1.0)  # idle for longer than the interval
    await runtime.execute_action("ECHO", "a")
    await runtime.execute_action("BROKEN")  # a sync handler: no loop turn in between
    assert refreshes == []  # no run waited for a redraw
    await clock.advance(0)
    assert len(refreshes) == 1 and "ECHO" in live.summary.value
    assert bytes(live.latency.value).startswith(b"\x89PNG")
    assert bytes(live.timeline.value).startswith(b"\x89PNG")
    assert "HANDLER_ERROR" in live.errors.value and "handler exploded" in live.errors.value
    assert "2 runs, 1 failed" in live.status.value


async def test_a_burst_of_runs_costs_one_redraw_per_interval(
    live: Dashboard, runtime: AgentRuntime, clock: Clock
) -> None:
    refreshes: list[Dashboard] = []
    live.on_refresh(refreshes.append)
    for _ in range(3):
        for _ in range(40):
            await runtime.execute_action("ECHO", "x")  # suspends: the loop turns meanwhile
        await clock.advance(0.25)
    assert len(refreshes) == 1  # at 0.5 s, not after every run nor every turn
    await clock.advance(0.25)
    assert len(refreshes) == 2 and "120 runs" in live.status.value
    await clock.advance(5)
    assert len(refreshes) == 2  # nothing ran: nothing to redraw


async def test_a_slow_redraw_waits_19_times_its_length(
    live: Dashboard, runtime: AgentRuntime, clock: Clock
) -> None:
    def slow(dashboard: Dashboard) -> None:
        clock.now += 0.2  # this redraw took 0.2 s

    live.on_refresh(slow)
    live.refresh()
    refreshes: list[Dashboard] = []
    live.on_refresh(refreshes.append)
    await runtime.execute_action("BROKEN")
    await clock.advance(3.7)
    assert refreshes == []  # redrawing at most a twentieth of the time: 3.8 s after it ended
    await clock.advance(0.1)
    assert len(refreshes) == 1


async def test_ten_rerun_dashboard_cells_leave_one_listening(
    eliza_shell: Any, clock: Clock
) -> None:
    runtime = eliza_nb.get_runtime()
    runtime.run_sync(runtime.register_plugin(Plugin(name="w", actions=[echo])))
    shown = [eliza_shell.run_cell("%eliza dashboard").result for _ in range(10)]
    assert len(runtime.run_listeners) == 1
    assert all(d.comm is None for d in shown[:-1]) and shown[-1].comm is not None
    refreshes: list[Dashboard] = []
    shown[-1].on_refresh(refreshes.append)
    await clock.advance(1.0)
    await runtime.execute_action("ECHO")
    await clock.advance(0)
    assert len(refreshes) == 1
    shown[-1].close()
    assert runtime.run_listeners == []


def forget(widget: Any) -> None:
    """Let ipywidgets and the comm manager let go of a widget and its parts, as if the front end
    had closed them (the widget registry and the comms hold every open widget)."""
    for child in getattr(widget, "children", ()):
        forget(child)
    widget_instances.pop(widget.model_id, None)
    comm.get_comm_manager().unregister_comm(widget.comm)
    widget.comm = None


def test_a_dashboard_nobody_holds_stops_listening(runtime: AgentRuntime) -> None:
    dashboard = Dashboard(runtime)
    gone = weakref.ref(dashboard)
    forget(dashboard)
    del dashboard
    gc.collect()
    assert gone() is None and runtime.run_listeners == []
    assert runtime.run("ECHO").success


def test_the_status_says_when_the_summary_covers_the_newest_runs_only() -> None:
    runtime = AgentRuntime(settings={"MAX_RECORDS": 10}, use_env=False)
    runtime.run_sync(runtime.register_plugin(Plugin(name="w", actions=[echo])))
    for _ in range(30):
        runtime.run("ECHO")
    dashboard = Dashboard(runtime)
    held = len(runtime.metrics.runs)
    assert f"30 runs · summary of the newest {held} ·" in dashboard.status.value
    dashboard.close()
    runtime.close()


def test_refresh_button_and_close(dashboard: Dashboard, runtime: AgentRuntime) -> None:
    refreshes: list[Dashboard] = []
    dashboard.on_refresh(refreshes.append)
    dashboard.refresh_button._handle_msg(CLICK)
    assert len(refreshes) == 1
    dashboard.close()
    dashboard.close()  # idempotent
    runtime.run("ECHO")
    assert len(refreshes) == 1 and runtime.run_listeners == []
    assert dashboard.comm is None and dashboard.summary.comm is None  # its parts closed too


def test_dashboard_shows_its_own_errors(dashboard: Dashboard, monkeypatch: Any) -> None:
    def fail(*args: Any) -> None:
        raise RuntimeError("no frame")

    monkeypatch.setattr(frames, "metrics_summary", fail)
    dashboard.refresh()
    assert failures_in(dashboard.output)[0]["text/plain"] == "[RuntimeError] no frame"
