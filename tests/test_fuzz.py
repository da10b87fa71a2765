"""Fuzz: hostile arguments at every public entry give a result or an ``ElizaError`` (a
``UsageError`` for ``%eliza`` lines), never another exception, and the runtime still runs an
action afterwards.

The arguments are of every wrong type a notebook can produce: None, bools, ints of 64 bits and
more, nan and infinities, text with lone surrogates and newlines, bytes, UUIDs, deep and cyclic
lists and dicts, and objects whose ``str()`` and ``repr()`` raise. The ``max_examples`` below add
up to 10,200 generated calls. ``ELIZA_FUZZ_SURVEY=1 pytest -s tests/test_fuzz.py`` turns the
check into a tally of what escaped (by call and exception type), printed at the end. The
focused regression tests of each kind of failure it found are in ``test_bad_input.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import shlex
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from eliza_nb import AgentRuntime, ElizaError, Plugin, action
from eliza_nb.regression import check_baseline
from eliza_nb.scaffold import new_plugin
from eliza_nb.testing import hash_embedding

SURVEY = os.environ.get("ELIZA_FUZZ_SURVEY") == "1"
ESCAPED: Counter[tuple[str, str]] = Counter()
_BASE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def fuzz(examples: int) -> settings:
    """Hypothesis settings of one fuzz test: ``examples`` calls, no deadline."""
    return settings(_BASE, max_examples=examples)


# -- hostile values ----------------------------------------------------------------------------
class Unprintable:
    """An object whose ``str()`` and ``repr()`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("str() refused")

    __repr__ = __str__


def _nested(depth: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def _cycle(kind: str) -> Any:
    if kind == "list":
        loop: list[Any] = []
        loop.append(loop)
        return loop
    ring: dict[str, Any] = {}
    ring["self"] = ring
    return ring


SPECIALS = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e-320,
    "",
    " ",
    "\n",
    "x\n",
    "\ud800",
    "a\udfffb",
    "\x00",
    "é",
    b"",
    b"\xff",
    bytearray(b"x"),
    uuid.UUID(int=0),
    (),
    (1, "a"),
    frozenset({1}),
    {1: 2},
    {"": None},
    [None],
    object(),
    Ellipsis,
    1j,
    range(2),
    dt.datetime(2024, 1, 1),
    dt.date(2024, 1, 1),
    Decimal("nan"),
    int,
]
surrogate_text = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
odd_text = st.one_of(st.text(max_size=12), st.text(st.characters(codec=None), max_size=6))
keys = st.one_of(st.text(max_size=4), st.sampled_from([None, 1, 1.5, b"k", uuid.UUID(int=1)]))
leaf = st.one_of(
    st.sampled_from(SPECIALS),
    st.builds(Unprintable),
    st.integers(),
    st.floats(),
    odd_text,
    surrogate_text,
    st.binary(max_size=6),
    st.uuids(),
)
hostile = st.one_of(
    leaf,
    st.builds(_nested, st.sampled_from([40, 3000]), st.sampled_from(["list", "dict"])),
    st.builds(_cycle, st.sampled_from(["list", "dict"])),
    st.lists(leaf, max_size=3),
    st.dictionaries(keys, leaf, max_size=3),
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value two times in three (so calls get deep), else a hostile one."""
    return st.integers(0, 2).flatmap(lambda i: hostile if i == 0 else valid)


rooms = mostly(st.sampled_from(["default", "r1", "lobby", uuid.UUID(int=7)]))
texts = mostly(st.sampled_from(["hello", "noop", "NOOP now", "", "find me"]))
counts = mostly(st.integers(0, 20))
bounds = mostly(st.none() | st.sampled_from(["2024-01-01", 0, 1e12, dt.datetime(2030, 1, 1)]))
sessions = mostly(st.none() | st.integers(0, 3))
names = mostly(st.sampled_from(["NOOP", "noop", "nope", "fuzz_plugin"]))


# -- the runtime under test --------------------------------------------------------------------
@action(name="NOOP", similes=["NOTHING"])
def noop(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "done"


def _embed(runtime: Any, params: dict[str, Any]) -> list[float]:
    return hash_embedding(str(params.get("text", "")), 8)


def _fuzz_plugin() -> Plugin:
    return Plugin(name="fuzz_plugin", actions=[noop])


@pytest.fixture(scope="module")
def rt() -> Iterator[AgentRuntime]:
    runtime = AgentRuntime(settings={"FUZZ_API_KEY": "sk-fuzz-secret"}, use_env=False)
    runtime.run_sync(runtime.register_plugin(_fuzz_plugin()))
    runtime.register_model("TEXT_EMBEDDING", _embed)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module", autouse=True)
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The working directory of the fuzz: what it writes (baselines, plugins) lands here."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "junk.parquet").write_bytes(b"not parquet at all")
    before = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


def _confined(value: Any) -> Any:
    """A hostile path kept inside the working directory (no absolute path, no '..', no '~')."""
    if isinstance(value, str):
        return "./" + value.replace("..", "_").lstrip("/~")
    if isinstance(value, bytes):
        return b"./" + value.replace(b"..", b"_").lstrip(b"/~")
    return value


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    yield
    if SURVEY:
        total = sum(ESCAPED.values())
        print(f"\n{total} exceptions escaped, {len(ESCAPED)} kinds (call, type):")
        for (label, kind), n in ESCAPED.most_common():
            print(f"{n:6d}  {label:28s} {kind}")


def _still_works(runtime: AgentRuntime) -> None:
    if "fuzz_plugin" not in runtime.registry.plugins:
        runtime.run_sync(runtime.register_plugin(_fuzz_plugin()))
    result = runtime.run("NOOP")
    assert result.success and result.text == "done", result.error


def _probe(label: str, runtime: AgentRuntime, make: Callable[[], Any]) -> None:
    """Call ``make()`` (running a coroutine it returns): a value or an ElizaError is fine."""
    try:
        value = make()
        if asyncio.iscoroutine(value):
            value = runtime.run_sync(value)
    except ElizaError as exc:
        assert exc.code and exc.message
        if "\n" in exc.message and label not in MULTILINE_OK:
            _found(label, exc, AssertionError(f"a message of many lines: {exc.message}"))
    except Exception as exc:  # the finding: anything else escaped
        _found(label, exc, exc)


def _found(label: str, exc: BaseException, failure: BaseException) -> None:
    """Fail with ``failure``, or in a survey count ``exc`` by call and kind."""
    if not SURVEY:
        raise failure
    kind = type(exc).__name__ + (" (many lines)" if failure is not exc else "")
    ESCAPED[(label, kind)] += 1


# Errors whose message is meant to show a table (a baseline drift shows the changed rows).
MULTILINE_OK = {"check_baseline"}

Draw = Callable[[st.SearchStrategy[Any]], Any]
Call = Callable[[AgentRuntime, Draw, Path], Callable[[], Any]]


def _calls(table: dict[str, Call]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(table))


# -- actions, messages, settings, plugins ------------------------------------------------------
RUNNING: dict[str, Call] = {
    "execute_action": lambda rt, d, _: (
        lambda: rt.execute_action(
            d(names),
            d(texts),
            options=d(mostly(st.none() | st.just({"k": 1}))),
            state=d(mostly(st.none())),
            room_id=d(rooms),
            timeout=d(mostly(st.none() | st.sampled_from([0.5, 5]))),
        )
    ),
    "run": lambda rt, d, _: lambda: rt.run(d(names), d(texts), timeout=d(mostly(st.none()))),
    "process_message": lambda rt, d, _: lambda: rt.process_message(d(texts), room_id=d(rooms)),
    "compose_state": lambda rt, d, _: (
        lambda: rt.compose_state(d(texts), room_id=d(rooms), recent=d(counts))
    ),
    "to_memory": lambda rt, d, _: (
        lambda: rt.to_memory(d(texts), room_id=d(rooms), user_id=d(mostly(st.just("user"))))
    ),
    "run_batch": lambda rt, d, _: (
        lambda: rt.run_batch(
            d(names),
            d(mostly(st.just(["a", "b"]))),
            concurrency=d(mostly(st.just(2))),
            timeout=d(mostly(st.none())),
            progress=False,
            text_column=d(mostly(st.just("text"))),
            room_id=d(rooms),
        )
    ),
    "set_setting": lambda rt, d, _: (
        lambda: rt.set_setting(d(mostly(st.sampled_from(["FUZZ_MODE", "OTHER_TOKEN"]))), d(hostile))
    ),
    "get_setting": lambda rt, d, _: lambda: rt.get_setting(d(mostly(st.just("FUZZ_MODE")))),
    "metrics.increment": lambda rt, d, _: (
        lambda: rt.metrics.increment(d(mostly(st.just("hits"))), d(mostly(st.just(1))))
    ),
    "metrics.record": lambda rt, d, _: (
        lambda: rt.metrics.record(d(mostly(st.just("tokens"))), d(mostly(st.just(3.5))))
    ),
    "use_model": lambda rt, d, _: (
        lambda: rt.use_model(
            d(mostly(st.sampled_from(["TEXT_EMBEDDING", "TEXT_LARGE"]))),
            d(mostly(st.just({"text": "hi"}))),
        )
    ),
    "register_plugin": lambda rt, d, _: lambda: rt.register_plugin(d(hostile)),
    "register_plugins": lambda rt, d, _: lambda: rt.register_plugins(d(hostile)),
    "unregister_plugin": lambda rt, d, _: lambda: rt.unregister_plugin(d(hostile)),
    "get_service": lambda rt, d, _: lambda: rt.get_service(d(hostile)),
    "emit": lambda rt, d, _: lambda: rt.emit(d(mostly(st.just("PING"))), d(hostile)),
    "default_timeout": lambda rt, d, _: lambda: setattr(rt, "default_timeout", d(hostile)),
    "run_plugin_tests": lambda rt, d, _: (
        lambda: rt.run_plugin_tests(d(mostly(st.none())), timeout=d(mostly(st.none())))
    ),
}


@fuzz(2600)
@given(name=_calls(RUNNING), data=st.data())
def test_fuzz_running(rt: AgentRuntime, scratch: Path, name: str, data: st.DataObject) -> None:
    _probe(name, rt, RUNNING[name](rt, data.draw, scratch))
    rt.default_timeout = None
    _still_works(rt)


# -- memories ----------------------------------------------------------------------------------
MEMORIES: dict[str, Call] = {
    "create_memory": lambda rt, d, _: lambda: rt.messages.create_memory(d(texts), room_id=d(rooms)),
    "create_memories": lambda rt, d, _: (
        lambda: rt.messages.create_memories(
            d(mostly(st.lists(texts, max_size=3))), room_id=d(rooms)
        )
    ),
    "get_memories": lambda rt, d, _: (
        lambda: rt.messages.get_memories(d(rooms), d(counts), start=d(bounds), end=d(bounds))
    ),
    "search_memories": lambda rt, d, _: (
        lambda: rt.messages.search_memories(
            d(rooms),
            d(mostly(st.none() | st.just("find"))),
            embedding=d(mostly(st.none() | st.just([0.1] * 8))),
            query=d(mostly(st.none() | st.just("find me"))),
            top_k=d(counts),
        )
    ),
    "count_memories": lambda rt, d, _: lambda: rt.messages.count_memories(d(rooms)),
    "remove_memory": lambda rt, d, _: (
        lambda: rt.messages.remove_memory(d(mostly(st.uuids() | st.uuids().map(str))))
    ),
    "remove_all_memories": lambda rt, d, _: lambda: rt.messages.remove_all_memories(d(rooms)),
}


@fuzz(2200)
@given(name=_calls(MEMORIES), data=st.data())
def test_fuzz_memories(rt: AgentRuntime, scratch: Path, name: str, data: st.DataObject) -> None:
    _probe(name, rt, MEMORIES[name](rt, data.draw, scratch))
    _still_works(rt)


# -- frames and the snapshot -------------------------------------------------------------------
FRAMES: dict[str, Call] = {
    "metrics_frame": lambda rt, d, _: (
        lambda: rt.metrics_frame(
            d(mostly(st.none() | st.just("NOOP"))),
            start=d(bounds),
            end=d(bounds),
            session_id=d(sessions),
        )
    ),
    "errors_frame": lambda rt, d, _: (
        lambda: rt.errors_frame(start=d(bounds), end=d(bounds), session_id=d(sessions))
    ),
    "metrics_summary": lambda rt, d, _: (
        lambda: rt.metrics_summary(start=d(bounds), end=d(bounds), session_id=d(sessions))
    ),
    "memories_frame": lambda rt, d, _: (
        lambda: rt.memories_frame(
            d(mostly(st.none()) | rooms),
            table=d(mostly(st.none() | st.just("messages"))),
            start=d(bounds),
            end=d(bounds),
        )
    ),
    "events_frame": lambda rt, d, _: lambda: rt.events_frame(d(mostly(st.none() | counts))),
    "models_frame": lambda rt, d, _: lambda: rt.models_frame(),
    "components_frame": lambda rt, d, _: lambda: rt.components_frame(),
    "custom_metrics_frame": lambda rt, d, _: lambda: rt.custom_metrics_frame(),
    "snapshot": lambda rt, d, _: lambda: rt.snapshot(),
    "settings.masked": lambda rt, d, _: lambda: rt.settings.masked(),
}


@fuzz(1300)
@given(name=_calls(FRAMES), data=st.data())
def test_fuzz_frames(rt: AgentRuntime, scratch: Path, name: str, data: st.DataObject) -> None:
    _probe(name, rt, FRAMES[name](rt, data.draw, scratch))
    _still_works(rt)


# -- tools: baselines and the plugin scaffold --------------------------------------------------
_RESULTS = pd.DataFrame({"index": [0, 1], "text": ["a", "b"], "success": [True, False]})


def _baseline_path(scratch: Path) -> st.SearchStrategy[Any]:
    good = st.sampled_from(["b.parquet", "junk.parquet", ".", "sub/c.parquet"])
    return mostly(good.map(lambda name: scratch / name)).map(_confined)


TOOLS: dict[str, Call] = {
    "check_baseline": lambda rt, d, scratch: (
        lambda: check_baseline(
            d(mostly(st.just(_RESULTS))),
            d(_baseline_path(scratch)),
            key=d(mostly(st.just("index"))),
            columns=d(mostly(st.none())),
            update=d(mostly(st.none() | st.booleans())),
            rtol=d(mostly(st.just(0.0))),
        )
    ),
    "new_plugin": lambda rt, d, scratch: (
        lambda: new_plugin(
            d(mostly(st.from_regex(r"[a-z]{1,8}(-[a-z]{1,4})?\n?", fullmatch=True))),
            d(mostly(st.just(scratch / "plugins")).map(_confined)),
        )
    ),
}


@fuzz(600)
@given(name=_calls(TOOLS), data=st.data())
def test_fuzz_tools(rt: AgentRuntime, scratch: Path, name: str, data: st.DataObject) -> None:
    _probe(name, rt, TOOLS[name](rt, data.draw, scratch))
    _still_works(rt)


# -- %eliza lines ------------------------------------------------------------------------------
# Left out: widgets (ui, dashboard), the process-wide logger (debug), stdin (secret).
DEEP = "[" * 3000 + "]" * 3000
FLAGS = [
    "--option",
    "--json",
    "--room",
    "--timeout",
    "--repeat",
    "--last",
    "--from",
    "--column",
    "--concurrency",
    "--dir",
    "--table",
    "--action",
    "-h",
]
VALUES = [
    "NOOP",
    "noop",
    "k=v",
    "k=nan",
    f"k={DEEP}",
    DEEP,
    '{"a": 1}',
    '{"a": NaN}',
    "[1]",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "0",
    "2",
    "\ud800",
    "r\n1",
    "notes",
    "fuzz_plugin",
    "weather",
    "weather\n",
    "=",
    "",
]
# What `%eliza register` may be pointed at (zero-argument callables that do no harm when called).
TARGETS = [
    "notes_plugin",
    "notes",
    "fuzz_plugin",
    "os.path:join",
    ".:x",
    "../../etc:passwd",
    "os:getcwd",
    "builtins:list",
    "builtins:dict",
    "eliza_nb:Plugin",
    "eliza_nb:AgentRuntime",
    "json:loads",
    "math:pi",
    "x:",
    ":x",
    ":",
    "a..b:c",
    "os:",
    "eliza_nb.plugins.notes:plugin",
    "eliza_nb.plugins.notes",
    "nope",
]
# Per subcommand: what its first word may be, and its options.
GRAMMAR: dict[str, tuple[list[str], list[str]]] = {
    "run": (["NOOP", "noop", "nope"], ["--option", "--json", "--room", "--timeout", "--repeat"]),
    "send": (["noop", ""], ["--room"]),
    "state": (["hi", ""], ["--room"]),
    "batch": (["NOOP", "nope"], ["--from", "--column", "--concurrency"]),
    "register": (TARGETS, []),
    "unregister": (["fuzz_plugin", "nope", "\ud800", ""], []),
    "new-plugin": (["weather", "weather\n", "Weather", "os", "\ud800"], ["--dir"]),
    "metrics": ([""], ["--action"]),
    "memories": ([""], ["--room", "--table"]),
    "events": ([""], ["--last"]),
    "set": (["k=v", f"k={DEEP}", "=v", "k=\ud800", "FUZZ_TOKEN=x"], []),
    "test": (["fuzz_plugin", "nope", ""], []),
    "help": (["run", "nope", ""], []),
    **{name: ([""], []) for name in ("plugins", "actions", "errors", "summary", "settings")},
    **{name: ([""], []) for name in ("models", "reset")},
}
values = st.one_of(st.text(max_size=6), st.sampled_from(VALUES))
NUMBERS = ["nan", "inf", "-inf", "1e309", "-1", "0", "0.5", "2", "x"]
FLAG_VALUES = {
    "--json": [DEEP, '{"a": 1}', '{"a": NaN}', "[1]", "nan", "{"],
    "--option": ["k=v", f"k={DEEP}", "k=nan", "=x", "k", "k=\ud800"],
    "--timeout": NUMBERS,
    "--repeat": NUMBERS,
    "--concurrency": NUMBERS,
    "--last": NUMBERS,
    "--room": ["r1", "\ud800", "r\n1", ""],
    "--from": ["notes", "nope", "notes_plugin"],
}
# Where `new-plugin --dir` may write: inside the working directory only.
DIRS = ["plugins", "junk.parquet", "\ud800", "x\ny", "", "."]


def _value(flag: str) -> st.SearchStrategy[str]:
    if flag == "--dir":
        return st.sampled_from(DIRS)
    return st.sampled_from(FLAG_VALUES[flag]) | values if flag in FLAG_VALUES else values


@st.composite
def grammatical(draw: st.DrawFn) -> str:
    """A line shaped like a subcommand's usage, with hostile values in its slots."""
    cmd = draw(st.sampled_from(sorted(GRAMMAR)))
    firsts, flags = GRAMMAR[cmd]
    words = [cmd, draw(st.sampled_from(firsts) | values)]
    for _ in range(draw(st.integers(0, 3))):
        flag = draw(st.sampled_from(flags or FLAGS))
        words += [flag, shlex.quote(draw(_value(flag)))]
    return " ".join(words)


lines = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda words: " ".join(words),
        st.lists(st.sampled_from(FLAGS + VALUES + TARGETS) | st.text(max_size=6), max_size=5),
    ).filter(lambda line: "new-plugin" not in line),  # only grammatical() may write plugins
    grammatical(),
    grammatical(),
    grammatical(),
)


@fuzz(3500)
@given(line=lines, body=st.one_of(st.none(), st.text(max_size=10)))
def test_fuzz_magic(eliza_shell: Any, line: str, body: str | None) -> None:
    from eliza_nb import get_runtime

    shell = eliza_shell
    shell.user_ns.setdefault("notes", ["a", "b"])
    shell.user_ns.setdefault("notes_plugin", _fuzz_plugin())
    label = f"%eliza {line.split(' ')[0][:12]}"
    try:
        if body is None:
            shell.run_line_magic("eliza", line)
        else:
            shell.run_cell_magic("eliza", line, body)
    except ElizaError as exc:
        if "\n" in exc.message:
            _found(label, exc, AssertionError(f"a message of many lines: {exc}"))
    except UsageError:
        pass  # it may quote the line, newlines and all
    except Exception as exc:
        _found(label, exc, exc)
    _still_works(get_runtime())
