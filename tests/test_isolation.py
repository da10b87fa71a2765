"""One action's crash, timeout, cancellation or runaway recursion never disturbs the others.

Every test runs bad actions concurrently with good ones that are still in flight (held on an
event), then checks the good ones finished correctly, every run is in the metrics, every
failure in the error log, and the runtime still works.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eliza_nb import AgentRuntime, ElizaError, Plugin, action
from eliza_nb.plugin import Evaluator, Provider


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise ValueError("__str__ is broken too")


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


async def _arecurse(n: int) -> int:
    return await _arecurse(n + 1) + 1


@action(name="GOOD")
async def good(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    options["started"].set()
    await options["gate"].wait()
    await callback({"text": f"working on {message.content.text}"})
    return f"ok {message.content.text}"


@action(name="CRASH")
def crash(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("crashed on purpose")


@action(name="ACRASH")
async def acrash(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.sleep(0)
    raise ElizaError("quota exceeded", code="QUOTA")


@action(name="RECURSE")
def recurse(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> int:
    return _recurse(0)


@action(name="ARECURSE")
async def arecurse(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> int:
    return await _arecurse(0)


@action(name="EXIT")
async def exits(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    sys.exit("handler called sys.exit")


@action(name="UNPRINTABLE")
def unprintable(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise UnprintableError


@action(name="HANG", timeout=0.05)
async def hang(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    if "started" in options:
        options["started"].set()
    await asyncio.Event().wait()  # never set: only a timeout or a cancel ends it


@action(name="INNER_CANCEL")
async def inner_cancel(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    inner = asyncio.ensure_future(asyncio.Event().wait())
    inner.cancel()
    await inner  # raises CancelledError, though nobody cancelled this run


@action(name="BAD_RETURN")
def bad_return(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    return {"text": ["not", "a", "string"]}


@action(name="BAD_CALLBACK")
async def bad_callback(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await callback(object())


@action(name="BAD_VALIDATE")
def bad_validate(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "never runs"


@bad_validate.validator
def _explode(runtime: Any, message: Any, state: Any) -> bool:
    raise KeyError("validator blew up")


BAD = {
    "CRASH": "HANDLER_ERROR",
    "ACRASH": "QUOTA",
    "RECURSE": "HANDLER_ERROR",
    "ARECURSE": "HANDLER_ERROR",
    "EXIT": "HANDLER_ERROR",
    "UNPRINTABLE": "HANDLER_ERROR",
    "HANG": "TIMEOUT",
    "INNER_CANCEL": "CANCELLED",
    "BAD_RETURN": "HANDLER_ERROR",
    "BAD_CALLBACK": "HANDLER_ERROR",
    "BAD_VALIDATE": "HANDLER_ERROR",
}
ACTIONS = [
    good,
    crash,
    acrash,
    recurse,
    arecurse,
    exits,
    unprintable,
    hang,
    inner_cancel,
    bad_return,
    bad_callback,
    bad_validate,
]


def _raise_sync(error: BaseException) -> None:
    raise RuntimeError(f"on_error itself failed while handling {type(error).__name__}")


async def _raise_async(error: BaseException) -> None:
    await asyncio.sleep(0)
    _recurse(0)


@pytest.fixture(params=["sync", "async"])
async def mixed(request: pytest.FixtureRequest) -> AsyncIterator[AgentRuntime]:
    on_error = _raise_sync if request.param == "sync" else _raise_async
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="mixed", actions=ACTIONS, on_error=on_error))
    yield rt
    await rt.aclose()


def _good_options(gate: asyncio.Event) -> dict[str, Any]:
    return {"gate": gate, "started": asyncio.Event()}


async def _start_good(rt: AgentRuntime, gate: asyncio.Event, n: int) -> list[asyncio.Task[Any]]:
    opts = [_good_options(gate) for _ in range(n)]
    tasks = [
        asyncio.create_task(rt.execute_action("GOOD", f"job {i}", options=opts[i]))
        for i in range(n)
    ]
    await asyncio.gather(*(o["started"].wait() for o in opts))
    return tasks


async def _assert_still_works(rt: AgentRuntime) -> None:
    gate = asyncio.Event()
    gate.set()
    result = await rt.execute_action("GOOD", "after", options=_good_options(gate))
    assert result.success
    assert result.text == "ok after"


async def test_every_kind_of_failure_alongside_running_actions(
    mixed: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()
    good_tasks = await _start_good(mixed, gate, 8)
    bad = await asyncio.gather(*(mixed.execute_action(name, name) for name in BAD))
    assert {r.action: r.error_code for r in bad} == BAD
    assert not any(r.success for r in bad)
    assert not any(t.done() for t in good_tasks)  # still in flight while the others failed
    gate.set()
    done = await asyncio.gather(*good_tasks)
    assert [r.text for r in done] == [f"ok job {i}" for i in range(8)]
    assert all(r.success and len(r.responses) == 1 for r in done)

    runs = mixed.metrics_frame()
    assert len(runs) == len(BAD) + 8
    assert runs["run_id"].is_unique
    errors = mixed.errors_frame()
    failed = errors[errors["code"] != "PLUGIN_ERROR"]
    assert sorted(failed["action"]) == sorted(BAD)
    # on_error ran (and raised) for every crash; a cancellation is not a crash.
    hooks = errors[errors["action"] == "on_error"]
    assert len(hooks) == len(BAD) - 1
    assert set(hooks["code"]) == {"PLUGIN_ERROR"}
    assert "on_error raised" in caplog.text
    assert errors.loc[errors["action"] == "UNPRINTABLE", "message"].item() == (
        "<UnprintableError: str() failed>"
    )
    await _assert_still_works(mixed)


@pytest.mark.parametrize("name", sorted(BAD))
async def test_each_failure_alone_leaves_the_runtime_usable(mixed: AgentRuntime, name: str) -> None:
    result = await mixed.execute_action(name)
    assert result.error_code == BAD[name]
    assert result.error is not None
    assert result.error.traceback.strip()  # every failure keeps its (masked) traceback
    await _assert_still_works(mixed)


async def test_recursion_error_keeps_a_short_traceback(mixed: AgentRuntime) -> None:
    result = await mixed.execute_action("RECURSE")
    assert result.error is not None
    assert result.error.error_type == "RecursionError"
    assert "Previous line repeated" in result.error.traceback
    assert len(result.error.traceback) < 20_000


async def test_external_cancellation_propagates_and_is_recorded(mixed: AgentRuntime) -> None:
    gate = asyncio.Event()
    good_tasks = await _start_good(mixed, gate, 4)
    opts = {"started": asyncio.Event()}
    victim = asyncio.create_task(mixed.execute_action("HANG", options=opts, timeout=60))
    await opts["started"].wait()
    victim.cancel()
    with pytest.raises(asyncio.CancelledError):
        await victim
    assert not any(t.done() for t in good_tasks)
    gate.set()
    assert all(r.success for r in await asyncio.gather(*good_tasks))
    codes = mixed.metrics_frame().set_index("action")["error_code"]
    assert codes["HANG"] == "CANCELLED"
    await _assert_still_works(mixed)


async def test_gather_with_a_cancelled_member_keeps_the_rest(mixed: AgentRuntime) -> None:
    gate = asyncio.Event()
    gate.set()
    opts = {"started": asyncio.Event()}
    tasks = [
        asyncio.create_task(mixed.execute_action("GOOD", str(i), options=_good_options(gate)))
        for i in range(5)
    ]
    victim = asyncio.create_task(mixed.execute_action("HANG", options=opts, timeout=60))
    tasks.insert(2, victim)
    await opts["started"].wait()
    victim.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert [r.text for r in results if not isinstance(r, BaseException)] == [
        f"ok {i}" for i in range(5)
    ]


async def test_timeout_cancels_only_the_slow_action(mixed: AgentRuntime) -> None:
    gate = asyncio.Event()
    good_tasks = await _start_good(mixed, gate, 4)
    slow = await asyncio.gather(*(mixed.execute_action("HANG", timeout=0.02) for _ in range(3)))
    assert [r.error_code for r in slow] == ["TIMEOUT"] * 3
    assert slow[0].error is not None and "timed out after 0.02 s" in slow[0].error.message
    gate.set()
    assert all(r.success for r in await asyncio.gather(*good_tasks))


async def test_sys_exit_in_a_background_task_does_not_stop_the_loop(mixed: AgentRuntime) -> None:
    # Left unhandled, SystemExit from a task is re-raised by the event loop itself (a kernel dies).
    task = asyncio.create_task(mixed.execute_action("EXIT"))
    result = await task
    assert result.error is not None
    assert result.error.error_type == "SystemExit"
    await _assert_still_works(mixed)


async def test_on_error_that_raises_is_logged_not_propagated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def on_error(error: BaseException) -> None:
        calls.append(type(error).__name__)
        raise ValueError("on_error broke")

    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="p", actions=[crash], on_error=on_error))
    with caplog.at_level(logging.ERROR, logger="eliza_nb"):
        results = await asyncio.gather(*(rt.execute_action("CRASH") for _ in range(3)))
    assert [r.error_code for r in results] == ["HANDLER_ERROR"] * 3
    assert calls == ["RuntimeError"] * 3
    assert caplog.text.count("p.on_error raised: on_error broke") == 3
    assert len(rt.errors_frame().query("code == 'PLUGIN_ERROR'")) == 3
    await rt.aclose()


async def test_failing_providers_and_evaluators_do_not_stop_messages() -> None:
    def bad_get(runtime: Any, message: Any, state: Any) -> Any:
        return _recurse(0)

    def bad_eval(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        raise RuntimeError("evaluator broke")

    @action(name="HELLO")
    def hello(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
        return "hi"

    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(
        Plugin(
            name="p",
            actions=[hello],
            providers=[Provider(name="boom", get=bad_get)],
            evaluators=[Evaluator(name="E", handler=bad_eval, always_run=True)],
        )
    )
    results = await asyncio.gather(*(rt.process_message(f"hello {i}") for i in range(5)))
    assert [r[0].text for r in results] == ["hi"] * 5
    codes = rt.errors_frame()["code"].value_counts().to_dict()
    assert codes == {"PROVIDER_ERROR": 5, "EVALUATOR_ERROR": 5}
    await rt.aclose()
