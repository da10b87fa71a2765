"""A secret leaves the runtime only through get_setting: plugin output is masked as it enters.

One plugin hands its settings back every way it can: through ``callback``, its return value,
its log lines, an exception, a memory it stores, an event it emits, a provider value and a
model answer. The secret is a password holding both quote characters (so masking after repr
escaping would miss it) and an int-valued PIN. Every place a user can look is searched.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Plugin, Provider, action
from eliza_nb.kernel.widgets import ActionRunner

SECRET = "sk-live-'quote\"both-4f9Q"
PIN = 493817
NEEDLES = ("sk-live", "both-4f9Q", "493817")
SETTINGS = {"OPENAI_API_KEY": SECRET, "PIN_PASSWORD": PIN}
plugin_log = logging.getLogger("eliza_nb.plugins.leaky")


@action(name="LEAKY")
async def leaky(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    key, pin = runtime.get_setting("OPENAI_API_KEY"), runtime.get_setting("PIN_PASSWORD")
    await callback({"text": f"calling with {key}", "key": key, "pin": pin})
    plugin_log.warning("using key %s and pin %s", key, pin)
    await runtime.messages.create_memory({"text": f"remember {key} and {pin}"})
    await runtime.emit("LEAK", {"key": key, "nested": [{"pin": pin}]})
    model_said = await runtime.use_model("TEXT_SMALL", prompt="echo")
    if message.content.text == "fail":
        raise RuntimeError(f"bad key {key!r} ({pin})")
    return {"success": True, "text": f"done with {key}", "data": {"key": key, "said": model_said}}


def _provider(runtime: Any, message: Any, state: Any) -> Any:
    return {"token": runtime.get_setting("OPENAI_API_KEY")}


def _model(runtime: Any, params: Any) -> str:
    return f"my key is {runtime.get_setting('OPENAI_API_KEY')}"


PLUGIN = Plugin(
    name="leaky",
    actions=[leaky],
    providers=[Provider(name="CONFIG", get=_provider)],
    models={"TEXT_SMALL": _model},
)


def _clean(place: str, text: str) -> None:
    found = [needle for needle in NEEDLES if needle in text]
    assert not found, f"{place} shows {found}: {text[:300]}"


@pytest.fixture
async def rt(tmp_path: Path) -> Any:
    runtime = AgentRuntime(settings=SETTINGS, use_env=False, database=tmp_path / "a.db")
    await runtime.register_plugin(PLUGIN)
    yield runtime
    await runtime.aclose()


async def test_results_cards_and_records_hold_no_secret(rt: AgentRuntime) -> None:
    ok = await rt.execute_action("LEAKY", "go")
    failed = await rt.execute_action("LEAKY", "fail")
    assert ok.success and not failed.success
    for label, result in (("success", ok), ("failure", failed)):
        _clean(f"{label} repr", repr(result))
        _clean(f"{label} dump", json.dumps(result.model_dump(), default=str))
        _clean(f"{label} card", result._repr_html_())
    assert ok.text == "done with ***"
    assert ok.responses[0].text == "calling with ***"
    assert ok.responses[0].model_extra == {"key": "***", "pin": "***"}
    assert ok.data == {"key": "***", "said": "my key is ***"}
    for frame in (rt.metrics_frame(), rt.errors_frame(), rt.memories_frame(), rt.events_frame()):
        _clean("a frame", frame.to_csv())
    _clean("snapshot", json.dumps(rt.snapshot(), default=str))
    _clean("runtime repr", repr(rt) + rt._repr_html_())


async def test_state_and_stored_messages_hold_no_secret(rt: AgentRuntime) -> None:
    await rt.process_message(f"my PIN_PASSWORD={PIN}, and call LEAKY")
    state = await rt.compose_state("again")
    assert state.values["CONFIG"] == {"token": "***"}
    _clean("State repr", repr(state))
    _clean("State str", str(state))
    _clean("State.text", state.text)
    _clean("State card", state._repr_html_())
    _clean("memories", rt.memories_frame().to_csv())
    assert "PIN_PASSWORD=***" in rt.memories_frame()["text"].tolist()[0]


async def test_log_lines_of_plugins_hold_no_secret(
    rt: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eliza_nb")
    await rt.execute_action("LEAKY", "fail")
    try:
        raise RuntimeError(f"traceback with {SECRET}")
    except RuntimeError:
        plugin_log.exception("while calling")
    assert "using key *** and pin ***" in caplog.text
    _clean("log records", caplog.text)
    _clean("log messages", " ".join(r.getMessage() for r in caplog.records))


async def test_the_database_files_hold_no_secret(rt: AgentRuntime, tmp_path: Path) -> None:
    await rt.execute_action("LEAKY", "go")
    await rt.execute_action("LEAKY", "fail")
    await rt.process_message(f"PIN_PASSWORD={PIN}")
    rt.metrics.flush()
    files = list(tmp_path.glob("a.db*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert not [n for n in NEEDLES if n.encode() in data], path.name


async def test_the_action_runner_widget_holds_no_secret(rt: AgentRuntime) -> None:
    runner = ActionRunner(rt)
    runner.select("LEAKY")
    runner.text.value = "fail"
    runner.run()
    runner.text.value = "go"
    runner.run()
    state = json.dumps(
        [w.get_state() for w in (runner.result, runner.history, runner.info)], default=str
    )
    assert "LEAKY" in state
    _clean("widget state", state)


NOTEBOOK = [
    "%load_ext eliza_nb",
    "import os, eliza_nb\nfrom leaky_plugin import PLUGIN\n%eliza register PLUGIN",
    "%eliza run LEAKY go",
    "%eliza run LEAKY fail",
    "rt = eliza_nb.get_runtime()\n"
    "rt.run_sync(rt.process_message('my PIN_PASSWORD=' + os.environ['PIN_PASSWORD']))",
    "from eliza_nb.kernel.widgets import ActionRunner\n"
    "runner = ActionRunner(rt)\nrunner.select('LEAKY')\nrunner.text.value = 'go'\n"
    "runner.run()\nrunner",
    "%eliza memories",
    "%eliza state",
    "rt.snapshot()",
]


def test_a_saved_notebook_holds_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    source = Path(__file__).read_text(encoding="utf-8")
    module = source[source.index("plugin_log = ") : source.index("def _clean")]
    header = (
        "import logging\nfrom typing import Any\nfrom eliza_nb import Plugin, Provider, action\n"
    )
    (tmp_path / "leaky_plugin.py").write_text(header + module, encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # the kernel inherits them; the notebook never
    monkeypatch.setenv("PIN_PASSWORD", str(PIN))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell) for cell in NOTEBOOK]
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    saved = tmp_path / "leaky.ipynb"
    nbformat.write(nb, saved)
    raw = saved.read_text(encoding="utf-8")
    assert "calling with ***" in raw and "HANDLER_ERROR" in raw  # the runs are there, masked
    assert "widgets" in json.dumps(nb.metadata)  # and so is the widget state
    _clean("the saved notebook", raw)
