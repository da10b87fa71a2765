"""A library prints nothing unless asked: failures live in results, one summary line a batch.

The checks that matter run in a fresh interpreter: pytest puts handlers on the root logger, so
in this process ``logging.lastResort`` would never be used and its absence proves nothing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Plugin, action

_SETUP = """
import logging, sys
from eliza_nb import AgentRuntime, Plugin, action
from eliza_nb.observability import set_debug_mode

@action(name="CONVERT")
def convert(runtime, message, state, options, callback):
    raise RuntimeError("run LOOKUP_RATE first")

rt = AgentRuntime(use_env=False)
rt.run_sync(rt.register_plugin(Plugin(name="bank", actions=[convert])))
"""
_BATCH = "rt.run_sync(rt.run_batch('CONVERT', [str(i) for i in range(1000)], progress=False))\n"
_ONE = "rt.run('CONVERT', 'x')\n"


def _stderr(*steps: str) -> list[str]:
    """The stderr lines of a fresh interpreter that runs the setup, then ``steps``."""
    code = _SETUP + "".join(steps)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def test_a_failing_batch_of_a_thousand_rows_prints_at_most_one_line() -> None:
    assert len(_stderr(_BATCH)) <= 1


def test_a_failed_run_prints_nothing() -> None:
    assert _stderr(_ONE) == []


def test_debug_none_shows_the_batch_summary_and_no_row() -> None:
    lines = _stderr("set_debug_mode('none')\n", _BATCH, _ONE)
    assert len(lines) == 1
    assert "run_batch CONVERT: 1,000 of 1,000 rows failed (HANDLER_ERROR 1,000)" in lines[0]
    assert "error_code" in lines[0]


@pytest.mark.parametrize("mode", ["basic", "info", "verbose"])
def test_asking_for_more_shows_every_failure_again(mode: str) -> None:
    lines = _stderr(f"set_debug_mode({mode!r})\n", _ONE)
    assert [line for line in lines if "failed [" in line] == [
        next(line for line in lines if "bank.CONVERT failed [HANDLER_ERROR]" in line)
    ]


# -- in this process: the records themselves ---------------------------------------------
@action(name="FLAKY")
def flaky(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    if message.content.text.startswith("bad"):
        raise ValueError("not today")
    return "ok"


@pytest.fixture
async def rt(runtime: AgentRuntime) -> AgentRuntime:
    await runtime.register_plugin(Plugin(name="q", actions=[flaky]))
    return runtime


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="eliza_nb"):
        yield caplog


async def test_a_failure_is_an_info_record(
    rt: AgentRuntime, records: pytest.LogCaptureFixture
) -> None:
    await rt.execute_action("FLAKY", "bad")
    failed = [r for r in records.records if "failed [" in r.getMessage()]
    assert [(r.name, r.levelno) for r in failed] == [("eliza_nb.runs", logging.INFO)]


async def test_a_batch_logs_one_warning(
    rt: AgentRuntime, records: pytest.LogCaptureFixture
) -> None:
    inputs = ["bad"] * 3 + ["fine"] * 7
    out = await rt.run_batch("FLAKY", inputs, progress=False)
    assert (~out["success"]).sum() == 3
    warnings = [r for r in records.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.getMessage()) for r in warnings] == [
        (
            "eliza_nb.batch",
            "run_batch FLAKY: 3 of 10 rows failed (HANDLER_ERROR 3); "
            "see the result's error_code and error_message columns",
        )
    ]


async def test_a_clean_batch_logs_no_warning(
    rt: AgentRuntime, records: pytest.LogCaptureFixture
) -> None:
    await rt.run_batch("FLAKY", ["fine"] * 5, progress=False)
    assert [r for r in records.records if r.levelno >= logging.WARNING] == []


def test_the_library_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("eliza_nb").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
