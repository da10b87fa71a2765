"""Logging under ``eliza_nb``: debug modes, the settings that set them, slow-run warnings."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Plugin, ValidationError, action
from eliza_nb.observability import get_debug_mode, set_debug_mode


@action(name="TICK", description="succeeds")
def tick(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "ok"


@action(name="BOOM", description="fails")
def boom(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("no luck")


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[logging.Logger]:
    """Each test leaves the ``eliza_nb`` logger as it found it."""
    logger = logging.getLogger("eliza_nb")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def make_runtime(**settings: Any) -> AgentRuntime:
    rt = AgentRuntime(settings=settings, use_env=False)
    rt.run_sync(rt.register_plugin(Plugin(name="obs", actions=[tick, boom])))
    return rt


@pytest.mark.parametrize(
    ("mode", "level", "shown"),
    [
        ("none", logging.WARNING, "none"),
        ("basic", logging.INFO, "basic"),
        ("verbose", logging.DEBUG, "verbose"),
        ("VERBOSE", logging.DEBUG, "verbose"),
        ("debug", logging.DEBUG, "verbose"),
        ("INFO", logging.INFO, "basic"),
        ("error", logging.ERROR, "none"),
        ("off", logging.WARNING, "none"),
        ("On", logging.INFO, "basic"),
        ("WARNING", logging.WARNING, "none"),
        ("critical", logging.CRITICAL, "none"),
        (True, logging.INFO, "basic"),
        (False, logging.WARNING, "none"),
        (logging.DEBUG, logging.DEBUG, "verbose"),
    ],
)
def test_debug_modes_map_to_log_levels(
    restore_logger: logging.Logger, mode: Any, level: int, shown: str
) -> None:
    assert set_debug_mode(mode) == shown
    assert restore_logger.level == level
    assert get_debug_mode() == shown


def test_an_unknown_mode_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="none, basic or verbose") as info:
        set_debug_mode("loud")
    assert info.value.field == "mode"


def test_no_handler_is_added_when_logging_is_configured(restore_logger: logging.Logger) -> None:
    set_debug_mode("verbose")  # pytest's handlers sit on the root logger: propagate to them
    assert [h for h in restore_logger.handlers if not isinstance(h, logging.NullHandler)] == []


def test_in_a_fresh_process_messages_show_once_on_stderr() -> None:
    code = (
        "import logging; from eliza_nb.observability import set_debug_mode; "
        "set_debug_mode('verbose'); logging.getLogger('eliza_nb.store').debug('opened x'); "
        "set_debug_mode('none'); logging.getLogger('eliza_nb.store').info('hidden')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("opened x") == 1 and "DEBUG eliza_nb.store" in done.stderr
    assert "hidden" not in done.stderr


@pytest.mark.parametrize(
    ("key", "value", "mode"),
    [("ELIZA_DEBUG", "verbose", "verbose"), ("LOG_LEVEL", "info", "basic")],
)
def test_a_setting_sets_the_mode_at_start_and_on_change(key: str, value: str, mode: str) -> None:
    rt = make_runtime(**{key: value})
    assert get_debug_mode() == mode
    rt.run_sync(rt.set_setting(key, "none"))
    assert get_debug_mode() == "none"
    rt.close()


def test_a_bad_debug_setting_is_reported_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    before = get_debug_mode()
    rt = make_runtime(ELIZA_DEBUG="loud")
    assert get_debug_mode() == before
    assert "ignoring the debug setting" in caplog.text
    rt.close()


def slow_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "eliza_nb.performance"]


def test_runs_over_the_threshold_warn(caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime(SLOW_ACTION_MS="0.000001")  # every run is slower than a picosecond
    rt.run("TICK")
    rt.run("BOOM")
    warnings = slow_warnings(caplog)
    assert len(warnings) == 2
    assert warnings[0].startswith("slow action obs.TICK took") and "SLOW_ACTION_MS" in warnings[0]
    assert all(
        r.levelno == logging.WARNING for r in caplog.records if r.name.endswith("performance")
    )
    rt.close()


def test_fast_runs_do_not_warn_and_zero_turns_it_off(caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime()  # the default threshold is 1 s
    rt.run("TICK")
    assert slow_warnings(caplog) == []
    rt.run_sync(rt.set_setting("SLOW_ACTION_MS", 0.000001))
    rt.run("TICK")
    assert len(slow_warnings(caplog)) == 1
    rt.run_sync(rt.set_setting("SLOW_ACTION_MS", 0))
    rt.run("TICK")
    assert len(slow_warnings(caplog)) == 1
    rt.close()


@action(name="WAIT", description="waits until cancelled")
async def wait(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.Event().wait()


async def test_a_cancelled_run_is_not_reported_as_slow(caplog: pytest.LogCaptureFixture) -> None:
    rt = AgentRuntime(settings={"SLOW_ACTION_MS": "0.000001"}, use_env=False)
    await rt.register_action(wait)
    task = asyncio.ensure_future(rt.execute_action("WAIT"))
    await asyncio.sleep(0.01)  # the handler is waiting: well over the threshold
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rt.metrics_frame()["error_code"].tolist() == ["CANCELLED"]
    assert slow_warnings(caplog) == []
    rt.close()


def test_a_bad_threshold_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime(SLOW_ACTION_MS="fast please")
    rt.run("TICK")
    assert slow_warnings(caplog) == []
    assert "is not a number of milliseconds" in caplog.text
    rt.close()


def test_performance_monitor_figures_are_in_the_summary() -> None:
    rt = make_runtime()
    for _ in range(4):
        rt.run("TICK")
    row = rt.metrics_summary().set_index("action").loc["TICK"]
    assert row["runs"] == 4 and row["success_rate"] == 1.0
    assert row["min_ms"] <= row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]
    assert row["total_ms"] == pytest.approx(row["mean_ms"] * 4)
    rt.close()
