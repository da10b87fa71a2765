"""Property tests: arbitrary input at the public API gives a result or an ElizaError, never
another exception, and the runtime still runs an action correctly afterwards.

Inputs: message text (lone surrogates included), message values of any type, option dicts,
action names, timeouts and rooms, settings, character dicts and files, plugin and action
definitions with arbitrary field values, and ``%eliza`` argument strings.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eliza_nb import (
    Action,
    ActionResult,
    AgentRuntime,
    Character,
    Client,
    ElizaError,
    Evaluator,
    Plugin,
    Provider,
    Service,
    ValidationError,
    action,
)

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies --------------------------------------------------------------------------------
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
texts = st.one_of(
    st.text(),
    st.text(st.characters(codec=None)),
    surrogates,
    st.sampled_from(
        [
            "",
            " ",
            "<script>alert(1)</script>",
            "echo",
            "ECHO it",
            "\x00",
            "'; DROP TABLE memories; --",
            "a" * 10_000,
        ]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts, st.binary())
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


def _raise(*args: Any) -> Any:
    raise RuntimeError("hook raised")


async def _araise(*args: Any) -> Any:
    raise RuntimeError("async hook raised")


def _returns_none(*args: Any) -> None:
    return None


class GoodService(Service):
    service_type = "prop_service"

    async def initialize(self, runtime: Any) -> None:
        return None


class FailingService(Service):
    service_type = "failing_service"

    async def initialize(self, runtime: Any) -> None:
        raise OSError("cannot connect")


def _part(kind: str) -> Any:
    if kind == "action":
        return Action(name="PROP_ACTION", handler=_returns_none)
    if kind == "provider":
        return Provider(name="prop_provider", get=_raise)
    return Evaluator(name="PROP_EVAL", handler=_araise, always_run=True)


odd_objects = st.sampled_from(
    [
        object(),
        _raise,
        _araise,
        _returns_none,
        int,
        GoodService,
        GoodService(),
        FailingService,
        Service,
        _part("action"),
        _part("provider"),
        _part("evaluator"),
        Plugin(name="inner"),
        asyncio.sleep,
        {"required": ["X"]},
        ["PROP_ACTION"],
    ]
)
anything = st.one_of(json_like, odd_objects, st.lists(odd_objects, max_size=3))


def mostly(valid: st.SearchStrategy[Any], odds: int = 4) -> st.SearchStrategy[Any]:
    """A plausible value for a field (so the input gets deep) 3 times in 4, else anything."""
    return st.integers(0, odds - 1).flatmap(lambda i: anything if i == 0 else valid)


class GoodClient(Client):
    async def start(self, runtime: Any) -> None:
        return None


class FailingClient(Client):
    async def start(self, runtime: Any) -> None:
        raise ConnectionError("client cannot start")

    async def stop(self) -> None:
        raise ConnectionError("client cannot stop either")


def _returns_junk(*args: Any) -> Any:
    return {"success": "maybe", "data": object(), "error": None}


async def _returns_content(*args: Any) -> Any:
    return {"text": "done", "score": 3}


# Names start with a letter: separator-only names are test_separator_only_action_name's business.
ident = st.from_regex(r"[A-Za-z][A-Za-z0-9_ -]{0,10}", fullmatch=True)
handlers = st.sampled_from([_raise, _araise, _returns_none, _returns_junk, _returns_content])
turn = st.fixed_dictionaries(
    {"user": st.text(max_size=5), "content": st.fixed_dictionaries({"text": st.text(max_size=8)})}
)
examples = st.lists(st.lists(turn, max_size=2), max_size=2)
# Valid parts for plugins (arbitrary part definitions are test_any_action_definition's business).
actions = st.builds(
    Action,
    name=ident,
    handler=handlers,
    similes=st.lists(ident, max_size=2),
    examples=examples,
    validate=st.sampled_from([None, _raise, _returns_none, lambda *a: True]),
    timeout=st.none() | st.floats(min_value=0.001, max_value=5),
)
plugin_fields = {
    "description": mostly(st.text(max_size=20)),
    "version": mostly(st.from_regex(r"\d{1,2}\.\d{1,2}\.\d{1,2}(-rc\.1)?", fullmatch=True)),
    "actions": mostly(st.lists(st.builds(lambda a: a, actions), max_size=3)),
    "providers": mostly(st.lists(st.builds(Provider, name=ident, get=handlers), max_size=2)),
    "evaluators": mostly(
        st.lists(
            st.builds(Evaluator, name=ident, handler=handlers, always_run=st.booleans()), max_size=2
        )
    ),
    "services": mostly(
        st.lists(st.sampled_from([GoodService, FailingService, GoodService()]), max_size=2)
    ),
    "clients": mostly(st.lists(st.builds(GoodClient) | st.builds(FailingClient), max_size=2)),
    "config": mostly(
        st.fixed_dictionaries(
            {},
            optional={
                "required": st.lists(st.sampled_from(["PRESENT_KEY", "MISSING_KEY"]), max_size=2),
                "optional": st.lists(ident, max_size=2),
                "defaults": st.dictionaries(ident, json_like, max_size=2),
                "secrets": st.lists(ident, max_size=2),
            },
        )
    ),
    **{
        hook: mostly(st.sampled_from([None, _raise, _araise, _returns_none]))
        for hook in ("on_load", "on_unload", "on_config_change", "on_error")
    },
}


# -- the runtime under test --------------------------------------------------------------------
@action(name="ECHO", similes=["REPEAT"])
def echo(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    callback({"text": message.content.text})
    return message.content.text


@pytest.fixture(scope="module")
def rt() -> Iterator[AgentRuntime]:
    runtime = AgentRuntime(settings={"PRESENT_KEY": "present-value"}, use_env=False)
    runtime.run_sync(runtime.register_plugin(Plugin(name="echo_plugin", actions=[echo])))
    yield runtime
    runtime.close()


def _outcome(rt: AgentRuntime, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` (awaiting it on the runtime if it is async): a value or an ElizaError."""
    try:
        value = fn(*args, **kwargs)
        if asyncio.iscoroutine(value):
            value = rt.run_sync(value)
        return value
    except ElizaError as exc:
        assert exc.code and exc.message  # a clear error: a code and a sentence
        return exc


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _still_works(rt: AgentRuntime) -> None:
    result = rt.run("ECHO", "still here")
    assert result.success, result.error
    assert result.text == "still here"
    assert [c.text for c in result.responses] == ["still here"]


# -- messages, options, names ------------------------------------------------------------------
@PROPS
@given(text=texts)
def test_any_text_is_echoed_exactly(rt: AgentRuntime, text: str) -> None:
    result = _outcome(rt, rt.execute_action, "ECHO", text)
    if _is_unicode(text):
        assert result.success
        assert result.text == text
    else:  # lone surrogates can be neither stored nor shown: refused at the boundary
        assert isinstance(result, ElizaError) and result.code == "VALIDATION_ERROR"
    _outcome(rt, rt.process_message, text)
    _outcome(rt, rt.compose_state, text)
    _still_works(rt)


content_fields = {
    "text": mostly(texts),
    "action": mostly(st.none() | st.sampled_from(["ECHO", "echo", "NOPE"]) | ident),
    "source": mostly(st.none() | st.text(max_size=5)),
    "url": mostly(st.none() | st.text(max_size=5)),
    "attachments": mostly(st.lists(json_like, max_size=2)),
    "mood": anything,  # an extra key
}
contents = st.fixed_dictionaries({}, optional=content_fields)
memory_dicts = st.fixed_dictionaries(
    {"content": mostly(contents)},
    optional={
        "room_id": mostly(st.text(max_size=5)),
        "user_id": mostly(st.text(max_size=5)),
        "id": mostly(st.uuids() | st.uuids().map(str)),
        "embedding": mostly(st.none() | st.lists(st.floats(), max_size=3)),
        "created_at": mostly(st.datetimes() | st.datetimes().map(str)),
    },
)
messages = st.one_of(st.none(), texts, contents, memory_dicts, anything)
rooms = mostly(st.none() | st.text(max_size=8) | st.uuids())


def _json_able(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return False
    return True


@PROPS
@given(message=messages, room=rooms)
def test_any_message_value(rt: AgentRuntime, message: Any, room: Any) -> None:
    out = _outcome(rt, rt.execute_action, "ECHO", message, room_id=room)
    if isinstance(out, ActionResult):
        assert isinstance(out.text, str | None)
    if not isinstance(message, dict) or _json_able(message):  # see test_unstorable_content
        out = _outcome(rt, rt.process_message, message, room_id=room)
        assert isinstance(out, ElizaError | list)
    _still_works(rt)


@pytest.mark.parametrize(
    "extra", [b"\xff", object(), "\ud800"], ids=["bytes", "object", "surrogate"]
)
def test_unstorable_content_is_a_validation_error(rt: AgentRuntime, extra: Any) -> None:
    out = _outcome(rt, rt.process_message, {"text": "hello", "blob": extra})
    assert isinstance(out, ValidationError) and out.field == "content"
    _still_works(rt)


def test_separator_only_action_name_does_not_break_routing() -> None:
    rt = AgentRuntime(use_env=False)
    try:
        rt.run_sync(rt.register_plugin(Plugin(name="e", actions=[echo])))
        with pytest.raises(ValidationError, match="must contain a letter or digit"):
            Action(name="_", handler=_returns_none)
        results = rt.run_sync(rt.process_message("! echo this"))
        assert [r.action for r in results] == ["ECHO"]
    finally:
        rt.close()


@PROPS
@given(
    options=mostly(st.dictionaries(st.text(max_size=8), json_like, max_size=5)),
    timeout=st.one_of(st.none(), st.floats(min_value=1e-6, max_value=10), anything),
)
def test_any_options_and_timeout(rt: AgentRuntime, options: Any, timeout: Any) -> None:
    out = _outcome(rt, rt.execute_action, "ECHO", "hi", options=options, timeout=timeout)
    if isinstance(out, ActionResult):  # a tiny timeout is a timeout, not an error
        assert (out.success and out.text == "hi") or out.error_code == "TIMEOUT"
    _still_works(rt)


@PROPS
@given(name=texts | anything | st.sampled_from(["echo", " Echo ", "repeat", "ECH0", "ECHO\n"]))
def test_any_action_name(rt: AgentRuntime, name: Any) -> None:
    out = _outcome(rt, rt.execute_action, name, "x")
    assert isinstance(out, ActionResult | ElizaError)
    if isinstance(out, ActionResult):
        assert out.action == "ECHO"
    _still_works(rt)


@PROPS
@given(
    values=mostly(st.dictionaries(st.text(max_size=8), json_like, max_size=4)),
    key=mostly(st.text(max_size=10)),
)
def test_any_settings(rt: AgentRuntime, values: Any, key: Any) -> None:
    made = _outcome(rt, AgentRuntime, settings=values, use_env=False)
    if isinstance(made, AgentRuntime):
        made.close()
    _outcome(rt, rt.set_setting, key, values)
    _outcome(rt, rt.get_setting, key)
    _still_works(rt)


# -- characters ----------------------------------------------------------------------------------


many_texts = mostly(st.text(max_size=10) | st.lists(st.text(max_size=10), max_size=3))
character_fields = {
    "bio": many_texts,
    "lore": many_texts,
    "topics": many_texts,
    "adjectives": many_texts,
    "postExamples": many_texts,
    "plugins": mostly(st.lists(st.text(max_size=12), max_size=3)),
    "clients": mostly(st.lists(st.text(max_size=12), max_size=3)),
    "knowledge": mostly(st.lists(json_like, max_size=3)),
    "modelProvider": mostly(st.text(max_size=10)),
    "messageExamples": mostly(examples),
    "style": mostly(
        st.dictionaries(
            st.sampled_from(["all", "chat", "post"]), st.lists(st.text(max_size=10), max_size=2)
        )
    ),
    "settings": mostly(
        st.fixed_dictionaries(
            {},
            optional={
                "secrets": mostly(st.dictionaries(st.text(max_size=8), json_like, max_size=3)),
                "model": st.text(max_size=10),
                "voice": json_like,
            },
        )
    ),
}
character_dicts = mostly(
    st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(
            {"name": mostly(st.text(min_size=1, max_size=10))}, optional=character_fields
        ),
        st.dictionaries(st.text(max_size=8), json_like, max_size=2),
    ),
    odds=6,
)


def _use_character(rt: AgentRuntime, character: Any) -> None:
    if isinstance(character, Character):
        made = _outcome(rt, AgentRuntime, character=character, use_env=False)
        if isinstance(made, AgentRuntime):
            made.run_sync(made.register_plugin(Plugin(name="e", actions=[echo])))
            assert made.run("ECHO", "ok").text == "ok"
            made.close()


@PROPS
@given(raw=character_dicts)
def test_any_character_dict(rt: AgentRuntime, raw: Any) -> None:
    _use_character(rt, _outcome(rt, Character.from_dict, raw))
    _still_works(rt)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@PROPS
@given(raw=character_dicts, blob=st.binary(), mode=st.sampled_from(["json", "bytes", "cut"]))
def test_any_character_file(
    rt: AgentRuntime, scratch: Path, raw: Any, blob: bytes, mode: str
) -> None:
    path = scratch / "c.character.json"
    if mode == "json":
        try:
            path.write_text(json.dumps(raw), encoding="utf-8")
        except (TypeError, ValueError, UnicodeEncodeError):
            path.write_bytes(blob)  # not JSON-able (bytes, objects, surrogates): raw bytes instead
    elif mode == "bytes":
        path.write_bytes(blob)
    else:
        path.write_text('{"name": "Ada", "bio": ["cut', encoding="utf-8")
    character = _outcome(rt, Character.from_file, path)
    _use_character(rt, character)
    made = _outcome(rt, AgentRuntime, character=path, use_env=False)
    if isinstance(made, AgentRuntime):
        made.close()
    os.unlink(path)
    _still_works(rt)


# -- plugin definitions --------------------------------------------------------------------------


def _register_then_clean(rt: AgentRuntime, plugin: Any) -> None:
    if isinstance(plugin, Plugin) and plugin.name == "echo_plugin":
        return  # replacing the fixture's plugin is allowed; it is not what is tested here
    before = set(rt.registry.plugins)
    out = _outcome(rt, rt.register_plugin, plugin)
    if isinstance(out, ElizaError):
        assert set(rt.registry.plugins) == before  # all or nothing
    if isinstance(plugin, Plugin) and plugin.name in set(rt.registry.plugins) - before:
        for act in plugin.actions:
            _outcome(rt, rt.execute_action, act.name, "go")
        _outcome(rt, rt.process_message, "go PROP_ACTION")
        _outcome(rt, rt.unregister_plugin, plugin.name)
    assert set(rt.registry.plugins) == before


@PROPS
@given(fields=st.fixed_dictionaries({"name": mostly(ident)}, optional=plugin_fields))
def test_any_plugin_definition(rt: AgentRuntime, fields: dict[str, Any]) -> None:
    _register_then_clean(rt, _outcome(rt, Plugin, **fields))
    _still_works(rt)


action_fields = {
    "description": mostly(st.text(max_size=20)),
    "similes": mostly(st.lists(ident, max_size=3)),
    "examples": mostly(examples),
    "validate": mostly(st.sampled_from([None, _raise, _araise, _returns_none])),
    "timeout": mostly(st.none() | st.floats(min_value=1e-6, max_value=5)),
}


@PROPS
@given(
    fields=st.fixed_dictionaries(
        {"name": mostly(ident), "handler": mostly(handlers)}, optional=action_fields
    )
)
def test_any_action_definition(rt: AgentRuntime, fields: dict[str, Any]) -> None:
    made = _outcome(rt, Action, **fields)
    if isinstance(made, Action):
        _register_then_clean(rt, Plugin(name="prop_plugin", actions=[made]))
        if not isinstance(_outcome(rt, rt.register_action, made), ElizaError):
            _outcome(rt, rt.execute_action, made.name, "go")
            rt.run_sync(rt.unregister_plugin("local"))
    _still_works(rt)


# -- %eliza argument strings -----------------------------------------------------------------------
# Left out: subcommands that import modules or write files (register, new-plugin), open widgets
# (ui, dashboard), change the process-wide logger (debug) or read from stdin (secret).
SAFE = [
    "run",
    "send",
    "state",
    "unregister",
    "reset",
    "plugins",
    "actions",
    "providers",
    "evaluators",
    "services",
    "metrics",
    "errors",
    "memories",
    "summary",
    "settings",
    "set",
    "test",
    "help",
    "batch",
    "nope",
]
UNSAFE = {"register", "new-plugin", "ui", "dashboard", "debug", "secret"}
TOKENS = [
    "--option",
    "--json",
    "--room",
    "--timeout",
    "-h",
    "--help",
    "--action",
    "--from",
    "ECHO",
    "REPEAT",
    "k=v",
    "=",
    "'",
    '"',
    "{}",
    '{"a": [1]}',
    "[1]",
    "-1",
    "0",
    "1e309",
    "nan",
    "echo_plugin",
    "notes",
    "--",
    "\\",
]
words = st.one_of(st.text(max_size=8), st.sampled_from(TOKENS))
lines = st.one_of(
    st.text(),
    st.builds(
        lambda cmd, rest: " ".join([cmd, *rest]), st.sampled_from(SAFE), st.lists(words, max_size=6)
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=lines, body=st.one_of(st.none(), st.text(max_size=20)))
def test_any_magic_arguments(eliza_shell: Any, line: str, body: str | None) -> None:
    from IPython.core.error import UsageError

    from eliza_nb import get_runtime

    split = line.split()
    assume(not split or split[0] not in UNSAFE)
    # `--repeat 100000` (or its abbreviations) is valid and slow: not what is probed here.
    assume(not any(len(w) >= 5 and "--repeat".startswith(w.split("=")[0]) for w in split))
    shell = eliza_shell
    shell.user_ns.setdefault("echo_plugin", Plugin(name="echo_plugin", actions=[echo]))
    shell.user_ns.setdefault("notes", ["a", "b"])
    try:
        if body is None:
            shell.run_line_magic("eliza", line)
        else:
            shell.run_cell_magic("eliza", line, body)
    except (ElizaError, UsageError):
        pass
    if "echo_plugin" not in get_runtime().registry.plugins:
        shell.run_line_magic("eliza", "register echo_plugin")
    result = shell.run_line_magic("eliza", "run ECHO still here")
    assert result.text == "still here"


# -- HTML reprs escape whatever they show ---------------------------------------------------------
PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"'><svg onload=x>"]
FORBIDDEN = ("<script", "<img", "<svg")  # an escaped "onerror=" is only text


@st.composite
def hostile(draw: st.DrawFn) -> str:
    return draw(st.text(max_size=5)) + draw(st.sampled_from(PAYLOADS)) + draw(st.text(max_size=5))


def _assert_escaped(html: str) -> None:
    lowered = html.lower()
    assert not [bad for bad in FORBIDDEN if bad in lowered], html


@settings(max_examples=60, deadline=None)
@given(text=hostile(), name=hostile(), data=hostile(), error=hostile())
def test_html_reprs_escape_any_text(text: str, name: str, data: str, error: str) -> None:
    from eliza_nb import reprs as display

    @action(name=f"A{name}", description=text, similes=[f"S{data}"])
    def shout(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        callback({"text": text})
        if message.content.text == "fail":
            raise RuntimeError(error)
        return {"text": text, "payload": data}

    plugin = Plugin(
        name=name,
        description=text,
        actions=[shout],
        providers=[Provider(name=f"p{name}", get=lambda rt, m, s: {"v": data})],
    )
    rt = AgentRuntime(Character(name=name, bio=[text]), use_env=False)
    rt.run_sync(rt.register_plugin(plugin))
    ok = rt.run(shout.name, text)
    failed = rt.run(shout.name, "fail")
    assert failed.error is not None and failed.error.message == error
    rt.run_sync(rt.messages.create_memory(text))
    state = rt.run_sync(rt.compose_state(text))
    pages = [
        ok._repr_html_(),
        failed._repr_html_(),
        plugin._repr_html_(),
        state._repr_html_(),
        rt._repr_html_(),
        display.action_info_html(shout),
        display.history_html([ok, failed]),
    ]
    pages += [
        display.frame_html(frame, text)
        for frame in (
            rt.errors_frame(),
            rt.metrics_frame(),
            rt.memories_frame(),
            rt.components_frame(),
        )
    ]
    pages += [f._repr_html_() or "" for f in (rt.errors_frame(), rt.memories_frame())]
    for page in pages:
        _assert_escaped(page)
    assert "&lt;" in ok._repr_html_()  # the text is shown, escaped, not dropped
    rt.close()


def test_widgets_escape_hostile_text() -> None:
    from eliza_nb.kernel.widgets import ActionRunner, Dashboard

    payload = PAYLOADS[1]

    @action(name="SHOUT", description=payload, similes=["YELL"])
    def shout(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        callback({"text": message.content.text})
        raise RuntimeError(f"failed on {message.content.text}")

    rt = AgentRuntime(use_env=False)
    rt.run_sync(rt.register_plugin(Plugin(name=payload, actions=[shout])))
    runner = ActionRunner(rt)
    dashboard = Dashboard(rt)
    runner.select("SHOUT")
    runner.text.value = payload
    result = runner.run()
    assert result is not None and result.error_code == "HANDLER_ERROR"
    dashboard.refresh()
    pages = [
        runner.info.value,
        runner.result.value,
        runner.history.value,
        dashboard.summary.value,
        dashboard.errors.value,
        dashboard.status.value,
    ]
    for page in pages:
        _assert_escaped(page)
    assert "&lt;img" in runner.result.value and "&lt;img" in dashboard.errors.value
    dashboard.close()
    runner.close()
    rt.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"message": 42}, "message"),
        ({"message": {"text": 5}}, "message"),
        ({"message": "bad \ud800 text"}, "text"),
        ({"message": {"content": {"text": "x"}, "user_id": "\udfff"}}, "user_id"),
        ({"room_id": 7}, "room_id"),
        ({"room_id": "r\ud800"}, "room_id"),
        ({"options": ["k", 1]}, "options"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "5"}, "timeout"),
    ],
)
def test_boundary_names_the_bad_field(rt: AgentRuntime, kwargs: dict[str, Any], field: str) -> None:
    message = kwargs.pop("message", "hi")
    out = _outcome(rt, rt.execute_action, "ECHO", message, **kwargs)
    assert isinstance(out, ElizaError) and out.code == "VALIDATION_ERROR"
    assert out.details["field"] == field
    _still_works(rt)
