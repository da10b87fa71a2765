"""The extension inside a real ipykernel, driven over ZMQ with jupyter_client.

These catch what an in-process shell cannot: the kernel's own running loop (nest_asyncio2 must
patch it), interrupts (SIGINT during a nested run), and execute requests queued while a nested
run is in progress (JupyterLab's "Run All"), which hang forever with the archived nest-asyncio.
Every wait has a timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import queue
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

pytestmark = pytest.mark.kernel

TIMEOUT = 30  # seconds any single reply may take before the test fails

SETUP = textwrap.dedent(
    """
    import asyncio
    import eliza_nb
    from eliza_nb import Plugin, action

    @action(description="waits on a sleep and on another task")
    async def slow_echo(runtime, message, state, options, callback):
        await asyncio.sleep(0.05)
        task = asyncio.ensure_future(asyncio.sleep(0.01, result=message.content.text.upper()))
        await callback({"text": await task})
        return message.content.text

    @action(description="a sync handler")
    def sync_echo(runtime, message, state, options, callback):
        return message.content.text

    @action(description="sleeps until interrupted")
    async def sleepy(runtime, message, state, options, callback):
        print("handler started", flush=True)
        await asyncio.sleep(600)

    demo = Plugin(name="demo", actions=[slow_echo, sync_echo, sleepy])
    """
)


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    km, kc = start_new_kernel(startup_timeout=60)
    try:
        _ok(kc, "%load_ext eliza_nb")
        _ok(kc, SETUP)
        _ok(kc, "%eliza register demo")
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _run(kc: BlockingKernelClient, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute ``code``; return the reply content and the iopub messages of that request.

    ``stop_on_error=False``: otherwise the kernel aborts requests that arrive right after an
    error reply (a race with a fast client), which is Jupyter's behaviour, not ours.
    """
    msgs: list[dict[str, Any]] = []
    reply = kc.execute_interactive(
        code, timeout=TIMEOUT, output_hook=msgs.append, stop_on_error=False
    )
    return reply["content"], msgs


def _ok(kc: BlockingKernelClient, code: str) -> list[dict[str, Any]]:
    content, msgs = _run(kc, code)
    assert content["status"] == "ok", content
    return msgs


def _result(msgs: list[dict[str, Any]]) -> dict[str, Any]:
    data = [m["content"]["data"] for m in msgs if m["msg_type"] == "execute_result"]
    assert len(data) == 1, msgs
    return data[0]  # type: ignore[no-any-return]


def _of_type(msgs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["content"] for m in msgs if m["msg_type"] == kind]


def test_async_handler_runs_to_completion_in_a_magic(kernel: Any) -> None:
    _, kc = kernel
    patched = "asyncio.get_running_loop()._nest_patched"  # the kernel's own loop
    assert _result(_ok(kc, patched))["text/plain"] == "True"
    data = _result(_ok(kc, "%eliza run SLOW_ECHO hello kernel"))
    assert "SLOW_ECHO" in data["text/html"] and "HELLO KERNEL" in data["text/html"]
    assert "ok" in data["text/plain"]


def test_sync_handler_and_top_level_await(kernel: Any) -> None:
    _, kc = kernel
    assert "hi there" in _result(_ok(kc, "%eliza run SYNC_ECHO hi there"))["text/plain"]
    code = "r = await eliza_nb.get_runtime().execute_action('SLOW_ECHO', 'awaited'); r.text"
    assert _result(_ok(kc, code))["text/plain"] == "'awaited'"


def test_cell_magic_and_blocking_run(kernel: Any) -> None:
    _, kc = kernel
    assert "BODY" in _result(_ok(kc, "%%eliza run SLOW_ECHO\nbody"))["text/html"]
    code = "eliza_nb.get_runtime().run('SLOW_ECHO', 'blocking').text"
    assert _result(_ok(kc, code))["text/plain"] == "'blocking'"


def test_library_error_is_a_real_error_output_of_one_line(kernel: Any) -> None:
    _, kc = kernel
    content, msgs = _run(kc, "%eliza run NO_SUCH_ACTION")
    assert content["status"] == "error" and content["ename"] == "ActionNotFoundError"
    (error,) = _of_type(msgs, "error")
    assert error["ename"] == "ActionNotFoundError"
    assert len(error["traceback"]) == 1 and "ACTION_NOT_FOUND" in error["traceback"][0]
    (full,) = _of_type(_ok(kc, "%tb"), "error")  # the whole traceback, as a real error output
    assert len(full["traceback"]) > 1 and "execute_action" in "".join(full["traceback"])


def test_usage_error_prints_to_stderr_and_fails_the_request(kernel: Any) -> None:
    _, kc = kernel
    content, msgs = _run(kc, "%eliza run --repeat 0")
    assert content["status"] == "error" and content["ename"] == "UsageError"
    assert _of_type(msgs, "error") == []  # IPython prints UsageError to stderr only
    stderr = "".join(s["text"] for s in _of_type(msgs, "stream") if s["name"] == "stderr")
    assert "UsageError" in stderr and "%eliza run" in stderr


def test_interrupt_cancels_the_run_and_the_kernel_stays_usable(kernel: Any) -> None:
    km, kc = kernel
    msg_id = kc.execute("%eliza run SLEEPY", stop_on_error=False)
    _wait_for_stdout(kc, msg_id, "handler started")
    km.interrupt_kernel()
    reply = _reply_to(kc, msg_id)
    assert reply["status"] == "error" and reply["ename"] == "ActionCancelledError"
    code = "eliza_nb.get_runtime().metrics_frame().iloc[-1][['action', 'error_code']].tolist()"
    assert _result(_ok(kc, code))["text/plain"] == "['SLEEPY', 'CANCELLED']"
    assert "again" in _result(_ok(kc, "%eliza run SLOW_ECHO again"))["text/plain"]


def test_five_queued_requests_all_reply(kernel: Any) -> None:
    """What "Run All" does: send every cell at once, the first one a nested async run."""
    _, kc = kernel
    cells = [
        "%eliza run SLOW_ECHO first",
        "x = 40",
        "%eliza run SYNC_ECHO third",
        "y = x + 2",
        "%eliza run SLOW_ECHO fifth",
    ]
    ids = [kc.execute(code) for code in cells]
    replies = {}
    while len(replies) < len(ids):
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        replies[msg["parent_header"]["msg_id"]] = msg["content"]
    assert [replies[i]["status"] for i in ids] == ["ok"] * 5
    assert _result(_ok(kc, "y"))["text/plain"] == "42"


def _wait_for_stdout(kc: BlockingKernelClient, msg_id: str, text: str) -> None:
    seen = ""
    while text not in seen:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            seen += msg["content"]["text"]


def _reply_to(kc: BlockingKernelClient, msg_id: str) -> dict[str, Any]:
    while True:
        try:
            msg = kc.get_shell_msg(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no reply to {msg_id} within {TIMEOUT} s")
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]  # type: ignore[no-any-return]
