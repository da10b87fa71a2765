"""Cassettes of model calls: record with the deterministic model, replay with no model at all.

What a user sees: the answers again, offline; a ``CASSETTE_MISS`` naming the closest recorded
call and a diff of its prompt; a ``CASSETTE_ERROR`` naming the file for every bad file or path;
a plain JSON file with no secret in it; the registry as it was once the cassette is closed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eliza_nb import (
    AgentRuntime,
    ElizaError,
    ModelNotFoundError,
    ModelType,
    Plugin,
    ValidationError,
)
from eliza_nb.errors import Code
from eliza_nb.plugins import _http
from eliza_nb.testing import Cassette, DeterministicModel, create_test_runtime
from eliza_nb.testing import _cassette_file as cassette_file
from eliza_nb.testing import cassette as cassette_module
from eliza_nb.testing.cassette import CASSETTE_VERSION, canonical

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cassettes" / "calls.json"


@pytest.fixture
async def model_rt() -> AsyncIterator[tuple[AgentRuntime, DeterministicModel]]:
    """A runtime served by the deterministic model (and knowing one secret)."""
    model = DeterministicModel()
    rt = await create_test_runtime(settings={"OPENAI_API_KEY": SECRET}, plugins=[model.plugin])
    yield rt, model
    await rt.aclose()


@pytest.fixture
async def bare_rt() -> AsyncIterator[AgentRuntime]:
    """A runtime with no model plugin at all (what a replay runs on)."""
    rt = await create_test_runtime(settings={"OPENAI_API_KEY": SECRET})
    yield rt
    await rt.aclose()


@pytest.fixture(autouse=True)
def _no_cassette_left() -> Any:
    """Every test leaves no cassette started and the HTTP hook free."""
    yield
    leftover = Cassette.active()
    if leftover is not None:
        leftover.close()
    assert leftover is None and _http._transport is None


async def record(rt: AgentRuntime, path: Path, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    with rt.use_cassette(path, mode="record"):
        return [await rt.use_model(kind, params) for kind, params in calls]


def miss_of(excinfo: pytest.ExceptionInfo[ElizaError]) -> str:
    assert excinfo.value.code == Code.CASSETTE_MISS
    return excinfo.value.message


# -- record, then replay with no model ----------------------------------------------------
async def test_replay_answers_every_model_type_with_no_model_plugin(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, model = model_rt
    model.add_replies("Hi!", {"city": "Paris"})
    calls: list[tuple[str, dict[str, Any]]] = [
        ("TEXT_LARGE", {"prompt": "Hello", "temperature": 0.2}),
        ("OBJECT_SMALL", {"prompt": "Where?"}),
        ("TEXT_EMBEDDING", {"text": "a cat"}),
    ]
    answers = await record(rt, path, *calls)
    assert answers[:2] == ["Hi!", {"city": "Paris"}] and len(answers[2]) == 64
    assert bare_rt.models.types() == []
    with bare_rt.use_cassette(path) as cassette:
        assert len(cassette) == 3
        assert [await bare_rt.use_model(k, p) for k, p in calls] == answers
    assert len(model.calls) == 3  # the replay asked no model


async def test_the_registry_shows_the_cassette_and_is_restored_exactly(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path
) -> None:
    rt, _ = model_rt
    before = rt.models_frame()
    with rt.use_cassette(path, mode="record"):
        during = rt.models_frame()
        assert set(during[during.serving].plugin) == {"cassette"}
        assert set(during[~during.serving].plugin) == {"deterministic-model"}
    assert rt.models_frame().equals(before)
    assert rt.models.source is None and repr(rt.models).count("deterministic-model") == 5


async def test_only_one_source_sits_above_the_plugins(bare_rt: AgentRuntime, path: Path) -> None:
    first = bare_rt.use_cassette(path, mode="record")
    other = Cassette(path.with_name("other.json"), mode="record")
    with pytest.raises(ValidationError, match="cassette already serves these models"):
        bare_rt.models.interpose(other)
    bare_rt.models.withdraw(other)  # not the interposed one: nothing changes
    assert bare_rt.models.source is first
    first.close()
    assert bare_rt.models.source is None


async def test_the_agent_loop_replays_offline_and_a_changed_message_is_a_miss(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, _ = model_rt
    with rt.use_cassette(path, mode="record"):
        recorded = await rt.process_message("hello there")
    with bare_rt.use_cassette(path):
        replayed = await bare_rt.process_message("hello there")
        memory = await bare_rt.messages.create_memory("hello there", room_id="r2")
        changed = await bare_rt.process_message("hello again")
    assert [r.text for r in replayed] == [r.text for r in recorded] == ["I heard: hello there"]
    assert replayed[0].action == ModelType.TEXT_LARGE  # the model decided, not the rules
    assert memory.embedding is not None  # the recorded embedding, with no embedding model
    assert changed[0].error_code == Code.CASSETTE_MISS
    assert "+user: hello again" in changed[0].error.message  # type: ignore[union-attr]


async def test_a_changed_prompt_is_a_miss_showing_the_closest_call_and_a_diff(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, _ = model_rt
    prompt = "You are Ada.\nAnswer briefly.\nQuestion: what is 2 + 2?"
    await record(
        rt, path, ("TEXT_SMALL", {"prompt": "unrelated"}), ("TEXT_LARGE", {"prompt": prompt})
    )
    with bare_rt.use_cassette(path), pytest.raises(ElizaError) as excinfo:
        await bare_rt.use_model("TEXT_LARGE", prompt=prompt.replace("2 + 2", "3 + 3"))
    message = miss_of(excinfo)
    assert message.startswith(f"No recording of this TEXT_LARGE call in cassette {path}")
    assert "Closest recorded call: entry 1, which differs in prompt:" in message
    assert "-Question: what is 2 + 2?\n+Question: what is 3 + 3?" in message
    assert "Answer briefly." in message  # one line of context
    assert excinfo.value.details["closest"] == 1 and excinfo.value.details["path"] == str(path)


async def test_replay_never_calls_a_registered_model_for_an_unrecorded_call(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path
) -> None:
    rt, model = model_rt
    await record(rt, path, ("TEXT_LARGE", {"prompt": "a"}))
    with rt.use_cassette(path), pytest.raises(ElizaError) as excinfo:
        await rt.use_model("OBJECT_LARGE", prompt="b")
    assert "holds no model call" not in miss_of(excinfo)  # entry 0 is the closest call
    assert len(model.calls) == 1


async def test_a_type_never_served_is_still_not_found(bare_rt: AgentRuntime, path: Path) -> None:
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "entries": []}))
    with bare_rt.use_cassette(path), pytest.raises(ModelNotFoundError):
        await bare_rt.use_model("TEXT_LARGE", prompt="x")
    with bare_rt.use_cassette(path, mode="record"), pytest.raises(ModelNotFoundError):
        await bare_rt.use_model("TEXT_LARGE", prompt="x")  # nothing to record from


async def test_a_failing_model_call_is_not_recorded(bare_rt: AgentRuntime, path: Path) -> None:
    model = DeterministicModel([RuntimeError("model down"), "fine"])
    await bare_rt.register_plugin(model.plugin)
    with bare_rt.use_cassette(path, mode="record") as cassette:
        with pytest.raises(RuntimeError, match="model down"):
            await bare_rt.use_model("TEXT_SMALL", prompt="p")
        assert await bare_rt.use_model("TEXT_SMALL", prompt="p") == "fine"
    assert len(cassette) == 1


# -- identical calls ------------------------------------------------------------------------
async def test_identical_calls_replay_in_order_then_the_last_repeats(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, model = model_rt
    model.add_replies("first", "second")
    await record(rt, path, ("TEXT_SMALL", {"prompt": "roll"}), ("TEXT_SMALL", {"prompt": "roll"}))
    with bare_rt.use_cassette(path):
        answers = [await bare_rt.use_model("TEXT_SMALL", prompt="roll") for _ in range(3)]
    assert answers == ["first", "second", "second"]
    with bare_rt.use_cassette(path, allow_repeats=False):
        assert await bare_rt.use_model("TEXT_SMALL", prompt="roll") == "first"
        assert await bare_rt.use_model("TEXT_SMALL", prompt="roll") == "second"
        with pytest.raises(ElizaError) as excinfo:
            await bare_rt.use_model("TEXT_SMALL", prompt="roll")
    assert "recorded this TEXT_SMALL call 2 time(s)" in miss_of(excinfo)


async def test_each_start_replays_from_the_first_entry(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, model = model_rt
    model.add_replies("one", "two")
    await record(rt, path, ("TEXT_SMALL", {"prompt": "n"}), ("TEXT_SMALL", {"prompt": "n"}))
    cassette = Cassette(path)
    for _ in range(2):
        with cassette.start(bare_rt):
            assert await bare_rt.use_model("TEXT_SMALL", prompt="n") == "one"


async def test_volatile_params_do_not_matter(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, model = model_rt
    model.add_replies("traced")
    await record(rt, path, ("TEXT_SMALL", {"prompt": "p", "trace_id": "t-1", "stop": ("a", "b")}))
    with bare_rt.use_cassette(path):
        params = {"stop": ["a", "b"], "trace_id": "t-2", "prompt": "p"}
        assert await bare_rt.use_model("TEXT_SMALL", params) == "traced"


# -- auto and record ---------------------------------------------------------------------
async def test_auto_replays_what_it_has_and_records_the_rest(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path
) -> None:
    rt, model = model_rt
    model.add_replies("old")
    with rt.use_cassette(path, mode="auto") as first:  # a new file
        assert await rt.use_model("TEXT_SMALL", prompt="a") == "old"
    model.add_replies("new")
    with rt.use_cassette(path, mode="auto") as second:
        assert await rt.use_model("TEXT_SMALL", prompt="a") == "old"  # replayed
        assert await rt.use_model("TEXT_SMALL", prompt="b") == "new"  # recorded
    assert (len(first), len(second), len(model.calls)) == (1, 2, 2)
    with rt.use_cassette(path, mode="record"):
        await rt.use_model("TEXT_SMALL", prompt="c")
    assert len(Cassette(path)) == 1  # record starts the file anew


async def test_an_auto_cassette_with_no_calls_is_created_empty(
    bare_rt: AgentRuntime, path: Path
) -> None:
    bare_rt.use_cassette(path, mode="auto").close()
    assert json.loads(path.read_text()) == {"entries": [], "models": [], "version": 1}


# -- the file ----------------------------------------------------------------------------
async def test_the_file_is_sorted_indented_json_one_entry_per_call(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path
) -> None:
    rt, model = model_rt
    rt.models.remove_plugin(model.name)
    rt.register_model("TEXT_SMALL", lambda rt, params: {"b": 1, "a": [0.5, 2]})
    await record(rt, path, ("TEXT_SMALL", {"prompt": "Hi", "max_tokens": 5}))
    assert path.read_text() == (
        "{\n"
        '  "entries": [\n'
        "    {\n"
        '      "kind": "model",\n'
        '      "request": {\n'
        '        "model_type": "TEXT_SMALL",\n'
        '        "params": {\n'
        '          "max_tokens": 5,\n'
        '          "prompt": "Hi"\n'
        "        }\n"
        "      },\n"
        '      "response": {\n'
        '        "a": [0.5, 2],\n'
        '        "b": 1\n'
        "      }\n"
        "    }\n"
        "  ],\n"
        '  "models": [\n'
        '    "TEXT_SMALL"\n'
        "  ],\n"
        f'  "version": {CASSETTE_VERSION}\n'
        "}\n"
    )


async def test_the_file_is_complete_after_every_call_and_no_temp_file_is_left(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path
) -> None:
    rt, _ = model_rt
    cassette = rt.use_cassette(path, mode="record")
    await rt.use_model("TEXT_SMALL", prompt="one")
    await rt.use_model("TEXT_SMALL", prompt="two")
    assert len(Cassette(path)) == 2  # readable before close: a crash loses nothing recorded
    cassette.close()
    assert os.listdir(path.parent) == ["calls.json"]


async def test_secrets_never_reach_the_file(
    model_rt: tuple[AgentRuntime, DeterministicModel], bare_rt: AgentRuntime, path: Path
) -> None:
    rt, model = model_rt
    model.add_replies(f"your key is {SECRET}", {"key": SECRET})
    answers = await record(
        rt,
        path,
        ("TEXT_SMALL", {"prompt": f"use {SECRET}"}),
        ("OBJECT_SMALL", {"prompt": "k", SECRET: [SECRET]}),
    )
    assert SECRET not in path.read_text() and SECRET not in str(answers)
    with bare_rt.use_cassette(path):  # the same secret masks the same way: it matches
        assert await bare_rt.use_model("TEXT_SMALL", prompt=f"use {SECRET}") == answers[0]


async def test_a_secret_learned_after_the_call_is_masked_when_written(
    bare_rt: AgentRuntime, path: Path
) -> None:
    bare_rt.register_model("TEXT_SMALL", lambda rt, params: "pin 98765432")
    with bare_rt.use_cassette(path, mode="record"):
        await bare_rt.use_model("TEXT_SMALL", prompt="first")
        await bare_rt.set_setting("PIN_SECRET", "98765432")
        await bare_rt.use_model("TEXT_SMALL", prompt="second")
    assert "98765432" not in path.read_text()


async def test_an_answer_that_is_not_json_cannot_be_recorded(
    bare_rt: AgentRuntime, path: Path
) -> None:
    bare_rt.register_model("OBJECT_SMALL", lambda rt, params: {"when": object()})
    with bare_rt.use_cassette(path, mode="record"), pytest.raises(ElizaError) as excinfo:
        await bare_rt.use_model("OBJECT_SMALL", prompt="x")
    assert excinfo.value.code == Code.CASSETTE_ERROR
    assert excinfo.value.message == f"Cassette {path} cannot record a dict answer."


# -- bad files and paths -------------------------------------------------------------------
def cassette_error(make: Callable[[], object], path: Path) -> str:
    with pytest.raises(ElizaError) as excinfo:
        make()
    assert excinfo.value.code == Code.CASSETTE_ERROR
    assert excinfo.value.details["path"] == str(path)
    assert excinfo.value.message.startswith(f"Cassette {path} ")
    return excinfo.value.message


def test_a_missing_file_in_replay_says_to_record_it(path: Path) -> None:
    assert "does not exist: record it first" in cassette_error(lambda: Cassette(path), path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "is not JSON (Expecting property name"),
        ("\udcff".encode("utf-8", "surrogateescape"), "is not UTF-8 text"),
        ("[]", "is not a cassette: file: Input should be a valid dictionary"),
        ('{"version": 1}', "is not a cassette: entries: Field required"),
        ('{"version": 2, "entries": []}', "is version 2; this eliza_nb reads 1"),
        ('{"version": "1", "entries": []}', "is not a cassette: version: Input should be a"),
        ('{"version": 1, "entries": {}}', "is not a cassette: entries: Input should be a"),
        ('{"version": 1, "entries": [{"kind": "tape"}]}', "entries.0: Input tag 'tape'"),
        (
            '{"version": 1, "entries": [{"kind": "model", "request": {"params": {}}, '
            '"response": 1}]}',
            "entries.0.model.request.model_type: Field required",
        ),
        (
            '{"version": 1, "entries": [{"kind": "http", "request": {"method": "GET", '
            '"url": "u", "body": null}, "response": {"status": "200", "reason": "OK", '
            '"headers": {}, "body": null}}]}',
            "entries.0.http.response.status: Input should be a valid integer",
        ),
    ],
)
def test_a_bad_file_is_a_cassette_error_naming_it(
    path: Path, text: str | bytes, problem: str
) -> None:
    path.parent.mkdir()
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    for mode in ("replay", "auto"):  # auto never overwrites what it cannot read
        assert problem in cassette_error(functools.partial(Cassette, path, mode), path)


def test_a_directory_is_not_a_cassette(tmp_path: Path) -> None:
    assert "cannot be read (Is a directory)" in cassette_error(lambda: Cassette(tmp_path), tmp_path)
    assert "is a directory" in cassette_error(lambda: Cassette(tmp_path, "record"), tmp_path)


def test_record_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.json"
    Cassette(path, "record")
    assert path.parent.is_dir() and not path.exists()  # nothing written before a start


def test_record_under_a_file_is_a_cassette_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "plain" / "c.json"
    assert "cannot be written" in cassette_error(lambda: Cassette(path, "record"), path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_record_into_a_read_only_directory_is_a_cassette_error(tmp_path: Path) -> None:
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        path = tmp_path / "c.json"
        message = cassette_error(lambda: Cassette(path, "record"), path)
    finally:
        tmp_path.chmod(stat.S_IRWXU)
    assert "cannot be written (Permission denied)" in message


def test_a_denied_write_is_a_cassette_error(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a read-only directory does for a user who is not root (the test above).
    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    message = cassette_error(lambda: Cassette(path, "record"), path)
    assert message == f"Cassette {path} cannot be written (Permission denied)."


async def test_a_write_failing_mid_run_is_a_cassette_error_and_close_still_restores(
    model_rt: tuple[AgentRuntime, DeterministicModel], path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = model_rt
    cassette = rt.use_cassette(path, mode="record")

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ElizaError, match="cannot be written \\(No space left on device\\)"):
        await rt.use_model("TEXT_SMALL", prompt="x")
    with pytest.raises(ElizaError, match="No space left"):
        cassette.close()  # record mode writes again on close
    assert rt.models.source is None and _http._transport is None
    assert os.listdir(path.parent) == []  # no temporary file left behind


def test_a_bad_mode_is_a_cassette_error(runtime: AgentRuntime, path: Path) -> None:
    message = cassette_error(lambda: runtime.use_cassette(path, mode="rewind"), path)
    assert "mode 'rewind' is not one of replay, record, auto" in message


async def test_one_cassette_at_a_time(bare_rt: AgentRuntime, path: Path, tmp_path: Path) -> None:
    with bare_rt.use_cassette(path, mode="record") as first:
        other = AgentRuntime(use_env=False)
        message = cassette_error(lambda: other.use_cassette(tmp_path / "b.json", "record"), path)
        assert "is in use: close that cassette first" in message
        assert Cassette.active() is first and Cassette.active(bare_rt) is first
        assert Cassette.active(other) is None
        other.close()
    assert Cassette.active() is None


def test_a_cassette_must_be_started_to_be_used(path: Path) -> None:
    message = cassette_error(lambda: Cassette(path, "record").__enter__(), path)
    assert "is not started: use runtime.use_cassette(path)" in message


async def test_close_is_idempotent_and_repr_says_the_state(
    bare_rt: AgentRuntime, path: Path
) -> None:
    cassette = bare_rt.use_cassette(path, mode="record")
    assert repr(cassette) == f"Cassette({str(path)!r}, mode='record', entries=0, started)"
    cassette.close()
    cassette.close()
    assert repr(cassette).endswith("entries=0, closed)")


# -- canonical requests (hypothesis) ---------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _reordered(value: Any) -> Any:
    """The same value with every dict's keys in reverse order and tuples for lists."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return tuple(_reordered(v) for v in value)
    return value


@given(st.dictionaries(st.text(), JSON, max_size=6))
def test_key_order_and_tuples_never_change_the_request(params: dict[str, Any]) -> None:
    assert cassette_module._key(canonical(_reordered(params))) == cassette_module._key(
        canonical(params)
    )


@given(JSON)
def test_a_canonical_request_survives_the_file(value: Any) -> None:
    """What replay computes matches what was written: canonical JSON round-trips exactly."""
    once = canonical(value)
    assert canonical(json.loads(json.dumps(once))) == once
    assert cassette_module._key(json.loads(cassette_file.dumps(once))) == (
        cassette_module._key(once)
    )


@given(st.sets(st.integers() | st.text(), max_size=5))
def test_a_set_is_sorted_whatever_its_order(items: set[Any]) -> None:
    assert canonical(items) == canonical(set(reversed(list(items))))


SECRETS = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=24)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, before=st.text(max_size=20), after=st.text(max_size=20))
def test_a_masked_secret_never_appears_in_the_file(secret: str, before: str, after: str) -> None:
    text = f"{before}{secret}{after}"

    async def scenario(path: Path) -> None:
        model = DeterministicModel([text, {"echo": text}])
        rt = await create_test_runtime(settings={"SERVICE_TOKEN": secret}, plugins=[model.plugin])
        with rt.use_cassette(path, mode="record"):
            await rt.use_model("TEXT_LARGE", prompt=text, system=[text])
            await rt.use_model("OBJECT_LARGE", {text: text})
            await rt.use_model("TEXT_EMBEDDING", text=text)
        await rt.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.json"
        asyncio.run(scenario(path))
        assert secret not in path.read_text(encoding="utf-8")


def test_a_plugin_model_call_is_recorded_through_use_model(path: Path) -> None:
    """A plugin's own ``runtime.use_model`` (inside an action) goes through the cassette too."""
    from eliza_nb import action

    @action()
    def ask(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        return runtime.use_model("TEXT_SMALL", prompt="inside")

    rt = AgentRuntime(use_env=False)
    rt.run_sync(rt.register_plugin(Plugin(name="asker", actions=[ask])))
    rt.register_model("TEXT_SMALL", lambda rt, params: "from the model")
    with rt.use_cassette(path, mode="record"):
        assert rt.run("ASK").text == "from the model"
    rt.models.remove_plugin("local")
    with rt.use_cassette(path):
        assert rt.run("ASK").text == "from the model"
    rt.close()


async def test_a_trace_shows_the_cassette_answering(path: Path) -> None:
    """Recording nests the model's span under the cassette's; a replay has the cassette's only."""
    model = DeterministicModel(["hi"])
    rt = await create_test_runtime(settings={"TRACING": True}, plugins=[model.plugin])
    await record(rt, path, ("TEXT_SMALL", {"prompt": "x"}))
    offline = await create_test_runtime(settings={"TRACING": True})
    with offline.use_cassette(path):
        await offline.use_model("TEXT_SMALL", prompt="x")
    recorded, replayed = rt.traces_frame(), offline.traces_frame()
    plugins = [a["plugin"] for a in recorded.attributes]
    assert plugins == ["deterministic-model", "cassette"]
    assert recorded.parent_id[0] == recorded.span_id[1]
    assert [(a["plugin"], a["answer"]) for a in replayed.attributes] == [("cassette", "hi")]
    await rt.aclose()
    await offline.aclose()
