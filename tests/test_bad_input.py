"""Bad input at the public API and the magic (issue 13): one clear line naming the argument.

One test per kind of failure the fuzz of ``test_fuzz.py`` found. A library error is an
``ElizaError`` with a stable code whose message is one line and names the argument
(``error.field``); a bad ``%eliza`` line is IPython's ``UsageError``.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError

from eliza_nb import (
    AgentRuntime,
    Code,
    ElizaError,
    Plugin,
    PluginError,
    StoreError,
    ValidationError,
    action,
)
from eliza_nb.regression import check_baseline
from eliza_nb.scaffold import new_plugin


@action(name="ECHO")
def echo(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return message.content.text


@action(name="LONG")
async def long(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    asyncio.get_running_loop().call_soon(_press_interrupt)
    await asyncio.Event().wait()


@action(name="LONG_SYNC")
def long_sync(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    _press_interrupt()


def _press_interrupt() -> None:
    raise KeyboardInterrupt


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("str() refused")

    __repr__ = __str__


@pytest.fixture
def rt() -> Iterator[AgentRuntime]:
    runtime = AgentRuntime(use_env=False)
    plugin = Plugin(name="echo", actions=[echo, long, long_sync])
    runtime.run_sync(runtime.register_plugin(plugin))
    yield runtime
    runtime.close()


def _refused(runtime: AgentRuntime, call: Any, field: str) -> ElizaError:
    """What ``call`` (a coroutine or a function) raises: a one-line error naming ``field``."""
    with pytest.raises(ElizaError) as info:
        value = call() if callable(call) else call
        if asyncio.iscoroutine(value):
            runtime.run_sync(value)
    error = info.value
    assert "\n" not in str(error), str(error)
    assert error.details.get("field") == field, (error.details, str(error))
    return error


# -- wrong-typed arguments ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda rt: rt.messages.search_memories("r", text=1.0), "text"),
        (lambda rt: rt.messages.search_memories("r", embedding="abc"), "embedding"),
        (lambda rt: rt.messages.search_memories("r", embedding=[math.nan]), "embedding"),
        (lambda rt: rt.messages.search_memories("r", "x", top_k={}), "top_k"),
        (lambda rt: rt.messages.search_memories("r", query=b"x"), "query"),
        (lambda rt: rt.events_frame(last="x"), "last"),
        (lambda rt: rt.events_frame(last=-1), "last"),
        (lambda rt: rt.metrics_frame(session_id="x"), "session_id"),
        (lambda rt: rt.errors_frame(session_id=2**64), "session_id"),
        (lambda rt: rt.metrics_summary(start=2**2000), "start"),
        (lambda rt: rt.metrics_frame(action=5), "action"),
        (lambda rt: rt.messages.get_memories("r", count=2**64), "count"),
        (lambda rt: rt.messages.get_memories("r", count=True), "count"),
        (lambda rt: rt.memories_frame(room_id=-(2**63) - 1), "room_id"),
        (lambda rt: rt.memories_frame(table=3), "table"),
        (lambda rt: rt.messages.remove_memory(3.5), "memory_id"),
        (lambda rt: rt.use_model("TEXT_LARGE", ["prompt"]), "params"),
        (lambda rt: rt.use_model({}), "model_type"),
        (lambda rt: rt.emit("PING", [1, 2]), "payload"),
        (lambda rt: rt.register_plugins(None), "plugins"),
        (lambda rt: rt.run_plugin_tests(timeout="x"), "timeout"),
    ],
)
def test_a_wrong_typed_argument_is_named(rt: AgentRuntime, call: Any, field: str) -> None:
    _refused(rt, lambda: call(rt), field)
    assert rt.run("ECHO", "still here").text == "still here"


def test_a_custom_metric_must_be_a_number(rt: AgentRuntime) -> None:
    _refused(rt, lambda: rt.metrics.record("n", "abc"), "value")


def test_create_memories_needs_a_list(rt: AgentRuntime) -> None:
    _refused(rt, rt.messages.create_memories(None), "memories")  # type: ignore[arg-type]


# -- lone surrogates in room ids ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda rt, room: rt.messages.get_memories(room), "room_id"),
        (lambda rt, room: rt.messages.count_memories(room), "room_id"),
        (lambda rt, room: rt.messages.search_memories(room, "x"), "room_id"),
        (lambda rt, room: rt.messages.remove_all_memories(room), "room_id"),
        (lambda rt, room: rt.messages.remove_memory(room), "memory_id"),
        (lambda rt, room: rt.memories_frame(room), "room_id"),
        (lambda rt, room: rt.execute_action("ECHO", "x", room_id=room), "room_id"),
    ],
)
def test_a_lone_surrogate_in_a_room_id_is_a_validation_error(
    rt: AgentRuntime, call: Any, field: str
) -> None:
    error = _refused(rt, lambda: call(rt, "r\ud800"), field)
    assert error.code == Code.VALIDATION_ERROR and "surrogate" in error.message


# -- cyclic and deep values --------------------------------------------------------------------
def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _cycle() -> Any:
    ring: dict[str, Any] = {}
    ring["self"] = ring
    return ring


@pytest.mark.parametrize("value", [_cycle(), _deep(5000)], ids=["cyclic", "deep"])
def test_a_cyclic_or_deep_setting_is_refused_and_the_session_goes_on(
    rt: AgentRuntime, value: Any
) -> None:
    _refused(rt, rt.set_setting("MODE", value), "value")
    assert "MODE" not in rt.settings.masked()
    assert rt.snapshot()["settings"] == {}
    _refused(rt, lambda: AgentRuntime(settings={"MODE": value}, use_env=False), "settings")
    rt.run_sync(rt.set_setting("MODE", _deep(50)))  # deep, but not absurdly so
    assert rt.snapshot()["settings"]["MODE"] == _deep(50)


@pytest.mark.parametrize(
    ("key", "value", "field"), [("k\ud800", "v", "key"), ("k", "\udfff", "value")]
)
def test_a_setting_with_a_lone_surrogate_is_refused(
    eliza_shell: Any, key: str, value: str, field: str
) -> None:
    from eliza_nb import get_runtime

    with pytest.raises(ValidationError) as info:
        eliza_shell.run_line_magic("eliza", f"set {key}={value}")
    assert info.value.field == field and "\n" not in str(info.value)
    assert list(eliza_shell.run_line_magic("eliza", "settings")["key"]) == []
    _refused(get_runtime(), lambda: AgentRuntime(settings={key: value}, use_env=False), "settings")


# -- timeouts and values that cannot print themselves ------------------------------------------
@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, 0, True, "5", Unprintable()])
def test_a_bad_timeout_is_named(rt: AgentRuntime, timeout: Any) -> None:
    error = _refused(rt, rt.execute_action("ECHO", "x", timeout=timeout), "timeout")
    assert "unprintable" not in error.message or isinstance(timeout, Unprintable)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda rt, bad: setattr(rt, "default_timeout", bad), "timeout"),
        (lambda rt, bad: rt.run_batch("ECHO", ["a"], concurrency=bad), "concurrency"),
        (lambda rt, bad: rt.use_model(bad), "model_type"),
        (lambda rt, bad: rt.emit(bad), "event"),
        (lambda rt, bad: rt.messages.get_memories(bad), "room_id"),
        (lambda rt, bad: rt.execute_action("ECHO", {"text": bad}), "message"),
        (lambda rt, bad: new_plugin(bad), "name"),
    ],
)
def test_a_value_whose_repr_raises_gets_a_placeholder(
    rt: AgentRuntime, call: Any, field: str
) -> None:
    error = _refused(rt, lambda: call(rt, Unprintable()), field)
    assert "Unprintable" in error.message


def test_unregistering_an_unprintable_name_is_a_plugin_error(rt: AgentRuntime) -> None:
    with pytest.raises(PluginError, match="Unprintable: repr"):
        rt.run_sync(rt.unregister_plugin(Unprintable()))  # type: ignore[arg-type]


# -- pydantic's errors become one line ---------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({"text": 5}, "'text'"),
        ({"content": {"text": [1]}}, "'content.text'"),
        ({None: 1}, "'None'"),
        ({Unprintable(): 1}, "Unprintable"),
    ],
)
def test_a_malformed_message_is_one_line_naming_the_field(
    rt: AgentRuntime, message: Any, where: str
) -> None:
    error = _refused(rt, lambda: rt.run("ECHO", message), "message")
    assert where in error.message and "errors.pydantic.dev" not in error.message


def test_a_malformed_plugin_config_is_one_line() -> None:
    with pytest.raises(ValidationError) as info:
        Plugin(name="p", config={"required": 5})
    assert "\n" not in str(info.value) and info.value.field == "config.required"


# -- the plugin scaffold -----------------------------------------------------------------------
def test_a_plugin_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    _refused(AgentRuntime(use_env=False), lambda: new_plugin("weather\n", tmp_path), "name")
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_symlink_at_the_target_already_exists(tmp_path: Path) -> None:
    (tmp_path / "weather").symlink_to(tmp_path / "nowhere")
    error = _refused(
        AgentRuntime(use_env=False), lambda: new_plugin("weather", tmp_path), "directory"
    )
    assert error.code == "TARGET_EXISTS"


@pytest.mark.parametrize("directory", [3, None, "bad\ud800dir"])
def test_a_bad_plugin_directory_is_named(directory: Any) -> None:
    _refused(AgentRuntime(use_env=False), lambda: new_plugin("weather", directory), "directory")


# -- baselines ---------------------------------------------------------------------------------
def test_a_baseline_that_is_not_parquet_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    frame = pd.DataFrame({"index": [0], "text": ["a"]})
    with pytest.raises(StoreError, match=r"junk\.parquet' cannot be read as Parquet") as info:
        check_baseline(frame, junk)
    assert "\n" not in str(info.value) and info.value.details["path"] == str(junk)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"df": "frame"}, "df"),
        ({"path": 3}, "path"),
        ({"path": "."}, "path"),
        ({"key": {"a": 1}}, "key"),
        ({"columns": 5.5}, "columns"),
        ({"update": "yes"}, "update"),
        ({"rtol": -1.0}, "rtol"),
        ({"rtol": math.nan}, "rtol"),
    ],
)
def test_a_bad_baseline_argument_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str
) -> None:
    monkeypatch.chdir(tmp_path)
    args = {"df": pd.DataFrame({"index": [0], "text": ["a"]}), "path": "b.parquet", **kwargs}
    _refused(AgentRuntime(use_env=False), lambda: check_baseline(**args), field)


# -- interrupts --------------------------------------------------------------------------------
# nest_asyncio2 patches the asyncio module for the whole process: the kernel runs apart.
KERNEL_CELL = """
import asyncio, nest_asyncio2
from eliza_nb import ActionCancelledError, AgentRuntime, Plugin
from tests.test_bad_input import long, long_sync, echo

rt = AgentRuntime(use_env=False)
rt.run_sync(rt.register_plugin(Plugin(name="p", actions=[long, long_sync, echo])))
kernel_loop = asyncio.new_event_loop()
nest_asyncio2.apply(kernel_loop)  # what %load_ext eliza_nb does to the kernel's loop

async def cell(name):
    return rt.run(name, "after")

for name in ("LONG", "LONG_SYNC"):
    try:
        kernel_loop.run_until_complete(cell(name))
    except ActionCancelledError as exc:
        print("shown:", len(exc._render_traceback_()), "line")
print(rt.metrics_frame()[["action", "error_code"]].values.tolist())
print("then:", kernel_loop.run_until_complete(cell("ECHO")).text)
"""


def test_an_interrupted_blocking_run_in_a_kernel_is_recorded_and_one_line() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_CELL], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "shown: 1 line",
        "shown: 1 line",
        "[['LONG', 'CANCELLED'], ['LONG_SYNC', 'CANCELLED']]",
        "then: after",
    ], done.stdout + done.stderr


# -- a closed runtime --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda rt: rt.run("ECHO", "x"),
        lambda rt: rt.execute_action("ECHO", "x"),
        lambda rt: rt.process_message("echo"),
        lambda rt: rt.compose_state("x"),
        lambda rt: rt.messages.create_memory("x"),
        lambda rt: rt.register_plugin(Plugin(name="late", actions=[echo])),
        lambda rt: rt.register_action(echo),
        lambda rt: rt.use_model("TEXT_LARGE", prompt="hi"),
        lambda rt: rt.run_batch("ECHO", ["a"], progress=False),
    ],
)
def test_a_closed_runtime_says_it_is_closed(rt: AgentRuntime, call: Any) -> None:
    rt.close()
    with pytest.raises(ElizaError) as info:
        value = call(rt)
        if asyncio.iscoroutine(value):
            rt.run_sync(value)
    assert info.value.code == Code.RUNTIME_CLOSED and "closed" in info.value.message
    assert not rt.metrics_frame().empty or rt.metrics_frame().columns[0] == "run_id"


# -- dependencies ------------------------------------------------------------------------------
def test_a_plugin_others_depend_on_cannot_be_unregistered(rt: AgentRuntime) -> None:
    base = Plugin(name="base")
    rt.run_sync(rt.register_plugins([base, Plugin(name="top", dependencies=["base"])]))
    with pytest.raises(PluginError, match="needed by 'top'") as info:
        rt.run_sync(rt.unregister_plugin("base"))
    assert info.value.details["dependants"] == ["top"] and "base" in rt.registry.plugins
    rt.run_sync(rt.unregister_plugin("top"))
    rt.run_sync(rt.unregister_plugin("base"))
    assert set(rt.registry.plugins) == {"echo"}


# -- %eliza lines ------------------------------------------------------------------------------
DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (f"run ECHO --json '{DEEP}'", "nests too deeply"),
        (f"run ECHO --option k={DEEP}", "nests too deeply"),
        ("run ECHO --timeout nan", "--timeout"),
        ("run ECHO --timeout 1e309", "--timeout"),
        ("run ECHO --repeat nan", "--repeat"),
        ("events --last inf", "--last"),
        ("register .:x", "'.' is not a module name"),
        ("register ../../etc:passwd", "is not a module name"),
        ("register os.path:join", "cannot register a function"),
        ("register os:getcwd", "cannot register a builtin_function_or_method"),
        ("register builtins:list", "cannot register a type"),
        ("register math:nope", "no attribute 'nope'"),
        ("register empty", "cannot register a list"),
    ],
)
def test_a_bad_magic_line_is_a_usage_error(eliza_shell: Any, line: str, says: str) -> None:
    eliza_shell.user_ns["echo_plugin"] = Plugin(name="echo", actions=[echo])
    eliza_shell.user_ns["empty"] = []
    eliza_shell.run_line_magic("eliza", "register echo_plugin")
    with pytest.raises(UsageError, match=says) as info:
        eliza_shell.run_line_magic("eliza", line)
    assert "\n" not in str(info.value)
    assert eliza_shell.run_line_magic("eliza", "run ECHO still here").text == "still here"


@pytest.mark.parametrize("spec", ["os:abort", "sys:exit", "os:fork"])
def test_register_never_calls_what_it_finds(
    eliza_shell: Any, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    module, _, attr = spec.partition(":")
    called: list[str] = []
    monkeypatch.setattr(sys.modules[module], attr, lambda *a: called.append(spec))
    with pytest.raises(UsageError, match=f"'{spec}' is <function"):
        eliza_shell.run_line_magic("eliza", f"register {spec}")
    assert called == [] and os.getpid() > 0
