"""%eliza through a real IPython shell whose run_cell raises (the eliza_shell fixture)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import sys
import types
from typing import Any

import pandas as pd
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError

import eliza_nb
from eliza_nb import (
    ActionCancelledError,
    ActionNotFoundError,
    ActionResult,
    Plugin,
    PluginError,
    Service,
    action,
    provider,
)
from eliza_nb.kernel import commands
from eliza_nb.kernel.loop import patch_kernel_loop
from eliza_nb.testing.pytest_plugin import TestingShell

# -- a plugin to drive ------------------------------------------------------------------
EVENTS: list[str] = []


@action(description="echoes the text and the options", similes=["SAY"])
async def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    await asyncio.sleep(0)
    inner = asyncio.ensure_future(asyncio.sleep(0, result=message.content.text.upper()))
    await callback({"text": await inner})
    return {"text": message.content.text, "data": {"options": options, "room": message.room_id}}


@action(description="a sync handler")
def noop(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return "done"


@action(description="fails")
def broken(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


@action(description="waits forever")
async def forever(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    await asyncio.Event().wait()


@action(description="the user presses interrupt while the loop waits")
async def interrupted(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    asyncio.get_running_loop().call_soon(_press_interrupt)
    await asyncio.Event().wait()


@action(description="the user presses interrupt inside a sync handler")
def interrupted_sync(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    _press_interrupt()


def _press_interrupt() -> None:
    raise KeyboardInterrupt


@provider(description="the time of day")
def clock(runtime, message, state):  # type: ignore[no-untyped-def]
    return "noon"


class Store(Service):
    """a service that records its stop"""

    service_type = "store"

    async def initialize(self, runtime: Any) -> None:
        EVENTS.append("store started")

    async def stop(self) -> None:
        EVENTS.append("store stopped")


def make_plugin(name: str = "demo") -> Plugin:
    return Plugin(
        name=name,
        description="for tests",
        actions=[echo, noop, broken, forever, interrupted, interrupted_sync],
        providers=[clock],
        services=[Store],
        on_unload=lambda rt: EVENTS.append(f"{name} unloaded"),
    )


@pytest.fixture
def shell(eliza_shell: TestingShell) -> TestingShell:
    """The testing shell with the demo plugin registered."""
    eliza_shell.user_ns["demo"] = make_plugin()
    eliza_shell.run_cell("%eliza register demo")
    EVENTS.clear()
    return eliza_shell


def out(shell: TestingShell, line: str) -> Any:
    """The value of a magic line (what a cell ending in it would display)."""
    return shell.run_cell(line).result


# -- loading ----------------------------------------------------------------------------
def test_load_ext_creates_the_runtime_and_registers_the_magic(eliza_shell: TestingShell) -> None:
    assert "eliza" in eliza_shell.magics_manager.magics["line"]
    assert "eliza" in eliza_shell.magics_manager.magics["cell"]
    assert eliza_nb.get_runtime() is eliza_nb.get_runtime()
    assert eliza_nb.get_runtime().settings.use_env is False  # the fixture's isolation


def test_unload_ext_closes_the_runtime_cleanly(shell: TestingShell) -> None:
    runtime = eliza_nb.get_runtime()
    shell.run_line_magic("unload_ext", "eliza_nb")
    assert EVENTS == ["store stopped", "demo unloaded"]
    assert runtime.closed
    assert "eliza" not in shell.magics_manager.magics["line"]
    shell.run_cell("%load_ext eliza_nb")  # the fixture unloads again at teardown


def test_reload_ext_starts_a_fresh_runtime(shell: TestingShell) -> None:
    before = eliza_nb.get_runtime()
    shell.run_line_magic("reload_ext", "eliza_nb")
    assert eliza_nb.get_runtime() is not before and before.closed
    assert out(shell, "%eliza plugins").empty


def test_no_loop_is_patched_outside_a_kernel(shell: TestingShell) -> None:
    assert patch_kernel_loop(shell) is False
    assert not getattr(asyncio, "_nest_patched", False)


# -- register ---------------------------------------------------------------------------
def test_register_a_module_attribute(eliza_shell: TestingShell, monkeypatch: Any) -> None:
    module = types.ModuleType("eliza_demo_plugin")
    module.plugin = make_plugin("from_module")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "eliza_demo_plugin", module)
    registered = out(eliza_shell, "%eliza register eliza_demo_plugin:plugin")
    assert registered.name == "from_module"
    assert "from_module" in eliza_nb.get_runtime().registry.plugins


def test_register_an_installed_entry_point(eliza_shell: TestingShell, monkeypatch: Any) -> None:
    module = types.ModuleType("eliza_ep_plugin")
    module.factory = lambda: make_plugin("installed")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "eliza_ep_plugin", module)
    ep = importlib.metadata.EntryPoint("demo-ep", "eliza_ep_plugin:factory", "eliza_nb.plugins")
    real = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") != "eliza_nb.plugins":
            return real(**params)
        return importlib.metadata.EntryPoints([ep]).select(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert out(eliza_shell, "%eliza register demo-ep").name == "installed"
    with pytest.raises(UsageError, match=r"installed: demo-ep"):
        eliza_shell.run_cell("%eliza register nothing_like_it")


def test_register_single_parts_and_lists(eliza_shell: TestingShell) -> None:
    eliza_shell.user_ns.update(one=noop, parts=[echo, clock])
    assert out(eliza_shell, "%eliza register one").name == "local"
    local = out(eliza_shell, "%eliza register parts")
    assert [a.name for a in local.actions] == ["NOOP", "ECHO"] and local.providers == [clock]


def test_register_rejects_what_it_cannot_register(eliza_shell: TestingShell) -> None:
    eliza_shell.user_ns["number"] = 3
    with pytest.raises(UsageError, match="cannot register a int"):
        eliza_shell.run_cell("%eliza register number")
    with pytest.raises(UsageError, match="cannot import"):
        eliza_shell.run_cell("%eliza register no_such_module_xyz:thing")


# -- run --------------------------------------------------------------------------------
def test_run_with_text_options_json_and_room(shell: TestingShell) -> None:
    line = "%eliza run say hello there -o n=3 --json '{\"flag\": true}' --room r1 world"
    result = out(shell, line)
    assert isinstance(result, ActionResult) and result.success
    assert result.text == "hello there world"
    assert result.responses[0].text == "HELLO THERE WORLD"
    assert result.data == {"options": {"n": 3, "flag": True}, "room": "r1"}


def test_cell_magic_takes_the_body_as_text(shell: TestingShell) -> None:
    result = shell.run_cell("%%eliza run ECHO -o k=v\nfirst line\nsecond line\n").result
    assert result.text == "first line\nsecond line"
    assert result.data["options"] == {"k": "v"}


def test_sync_handler_and_top_level_await_in_the_shell(shell: TestingShell) -> None:
    assert out(shell, "%eliza run NOOP").text == "done"
    shell.run_cell("import eliza_nb\nr = await eliza_nb.get_runtime().execute_action('ECHO', 'x')")
    assert shell.user_ns["r"].text == "x"


def test_timeout_option_and_configured_default(shell: TestingShell) -> None:
    assert out(shell, "%eliza run FOREVER --timeout 0.01").error_code == "TIMEOUT"
    shell.run_cell("%config ElizaMagics.timeout = 0.01")
    assert out(shell, "%eliza run FOREVER").error_code == "TIMEOUT"


def test_repeat_runs_n_times_with_a_progress_bar(shell: TestingShell, capsys: Any) -> None:
    results = out(shell, "%eliza run NOOP --repeat 3")
    assert [r.text for r in results] == ["done"] * 3
    assert "3/3" in capsys.readouterr().err  # tqdm writes to stderr outside a notebook
    shell.run_cell("%config ElizaMagics.progress = False")
    assert len(out(shell, "%eliza run NOOP --repeat 2")) == 2
    assert "2/2" not in capsys.readouterr().err


def test_handler_failure_is_a_result_not_an_error(shell: TestingShell) -> None:
    result = out(shell, "%eliza run BROKEN")
    assert not result.success and result.error_code == "HANDLER_ERROR"
    assert out(shell, "%eliza errors")["message"].tolist() == ["boom"]


@pytest.mark.parametrize("name", ["INTERRUPTED", "INTERRUPTED_SYNC"])
def test_interrupt_cancels_the_run_and_leaves_the_runtime_usable(
    shell: TestingShell, name: str
) -> None:
    with pytest.raises(ActionCancelledError):
        shell.run_cell(f"%eliza run {name}")
    last = out(shell, "%eliza metrics").iloc[-1]
    assert (last["action"], last["error_code"]) == (name, "CANCELLED")
    assert out(shell, "%eliza run NOOP").success


# -- errors -----------------------------------------------------------------------------
@pytest.fixture
def shown(shell: TestingShell, monkeypatch: Any) -> list[tuple[str, list[str]]]:
    """What the shell hands to the front end as an error output (ipykernel overrides this)."""
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(shell, "_showtraceback", lambda t, v, stb: calls.append((t.__name__, stb)))
    return calls


def test_library_error_is_one_line_with_its_code(shell: TestingShell, shown: list[Any]) -> None:
    with pytest.raises(ActionNotFoundError):
        shell.run_cell("%eliza run ECHOO")
    ((ename, stb),) = shown
    assert ename == "ActionNotFoundError" and len(stb) == 1
    assert "[ACTION_NOT_FOUND]" in stb[0] and "ECHO" in stb[0]
    shell.run_cell("%tb")  # the full traceback stays available
    ename, full = shown[1]
    assert ename == "ActionNotFoundError" and len(full) > 1
    assert "execute_action" in "".join(full) and "[ACTION_NOT_FOUND]" in full[-1]


def test_tb_of_other_errors_is_ipython_s(shell: TestingShell, shown: list[Any]) -> None:
    with pytest.raises(ZeroDivisionError):
        shell.run_cell("1 / 0")
    shell.run_cell("%tb")
    assert [ename for ename, _ in shown] == ["ZeroDivisionError", "ZeroDivisionError"]
    shell.run_line_magic("unload_ext", "eliza_nb")
    assert shell.find_line_magic("tb").__self__.__class__.__name__ == "ExecutionMagics"
    shell.run_cell("%load_ext eliza_nb")


def test_unregister_of_unknown_plugin_is_a_library_error(shell: TestingShell) -> None:
    with pytest.raises(PluginError, match="registered: demo"):
        shell.run_cell("%eliza unregister nope")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%eliza", None),
        ("%eliza run", "required: action"),
        ("%eliza run ECHO --json '[1]'", "JSON object"),
        ("%eliza run ECHO --json '{bad'", "not valid JSON"),
        ("%eliza run ECHO -o novalue", "KEY=VALUE"),
        ("%eliza run ECHO --repeat 0", "invalid positive int"),
        ("%eliza run ECHO --bogus", "unrecognized arguments"),
        ("%eliza rn ECHO", "Did you mean 'run'"),
        ("%eliza run 'unclosed", "cannot split"),
        ("%eliza debug loud", "Unknown debug mode 'loud'"),
        ("%eliza help nothing", "unknown subcommand"),
        ("%eliza batch ECHO --from missing_var", "no variable"),
        ("%%eliza actions\nbody", "takes no cell body"),
        ("%%eliza run ECHO words\nbody", "not both"),
    ],
)
def test_bad_arguments_raise_usage_error(
    shell: TestingShell, shown: list[Any], capsys: Any, line: str, message: str | None
) -> None:
    if message is None:  # a bare %eliza prints the usage
        shell.run_cell(line)
        assert "%eliza run" in capsys.readouterr().out
        return
    with pytest.raises(UsageError, match=message):
        shell.run_cell(line)
    assert shown == []  # no error output: IPython prints a UsageError to stderr only
    assert "UsageError" in capsys.readouterr().err


# -- looking ----------------------------------------------------------------------------
def test_component_frames_are_filtered(shell: TestingShell) -> None:
    assert set(out(shell, "%eliza actions")["name"]) >= {"ECHO", "NOOP"}
    assert out(shell, "%eliza providers")["name"].tolist() == ["clock"]
    assert out(shell, "%eliza services")["name"].tolist() == ["store"]
    assert out(shell, "%eliza evaluators").empty
    plugins = out(shell, "%eliza plugins")
    assert plugins.iloc[0][["plugin", "actions", "providers", "services"]].tolist() == [
        "demo",
        6,
        1,
        1,
    ]


def test_metrics_errors_summary_and_memories(shell: TestingShell) -> None:
    shell.run_cell("%eliza run ECHO a\n%eliza run NOOP\n%eliza run BROKEN")
    assert out(shell, "%eliza metrics --action ECHO")["action"].tolist() == ["ECHO"]
    assert len(out(shell, "%eliza metrics")) == 3
    assert out(shell, "%eliza errors")["code"].tolist() == ["HANDLER_ERROR"]
    summary = out(shell, "%eliza summary").set_index("action")
    assert summary.loc["BROKEN", "failures"] == 1
    shell.run_cell("%eliza send say hi --room lobby")
    memories = out(shell, "%eliza memories --room lobby")
    assert isinstance(memories, pd.DataFrame) and "say hi" in memories["text"].tolist()
    assert out(shell, "%eliza memories --room elsewhere").empty
    assert not out(shell, "%eliza memories --table messages").empty
    assert out(shell, "%eliza memories --table notes").empty


def test_send_routes_text_to_an_action(shell: TestingShell, capsys: Any) -> None:
    assert out(shell, "%eliza send please say hi").action == "ECHO"
    assert shell.run_cell("%%eliza send\nnoop now").result.text == "done"
    assert out(shell, "%eliza send nothing matches here") is None
    assert "No action matched" in capsys.readouterr().out


def test_state_composes_providers_and_actions(shell: TestingShell) -> None:
    state = out(shell, "%eliza state hello")
    assert state.values == {"clock": "noon"} and "ECHO" in state.actions


def test_settings_mask_secrets(shell: TestingShell, capsys: Any) -> None:
    shell.run_cell("%eliza set API_KEY=sk-very-secret MODE=fast")
    printed = capsys.readouterr().out
    assert "sk-very-secret" not in printed and "'***'" in printed
    frame = out(shell, "%eliza settings").set_index("key")
    assert frame["value"].to_dict() == {"API_KEY": "***", "MODE": "fast"}
    assert set(frame["source"]) == {"set"}
    assert eliza_nb.get_runtime().get_setting("API_KEY") == "sk-very-secret"


def test_plain_text_reprs_are_short(shell: TestingShell) -> None:
    plain = shell.display_formatter.formatters["text/plain"]
    text = plain(eliza_nb.get_runtime().registry.plugins["demo"])
    assert text.splitlines()[0] == "Plugin 'demo' v0.1.0: for tests"
    assert "services: store" in text
    assert "clock: noon" in plain(out(shell, "%eliza state"))


# -- changing ---------------------------------------------------------------------------
def test_unregister_and_reset(shell: TestingShell) -> None:
    shell.run_cell("%eliza unregister demo")
    assert EVENTS == ["store stopped", "demo unloaded"]
    assert out(shell, "%eliza plugins").empty
    shell.run_cell("%eliza register demo")
    old = eliza_nb.get_runtime()
    fresh = out(shell, "%eliza reset")
    assert fresh is eliza_nb.get_runtime() and fresh is not old and old.closed
    assert out(shell, "%eliza plugins").empty


def test_debug_sets_the_logger_level(shell: TestingShell) -> None:
    logger = logging.getLogger("eliza_nb")
    try:
        for level, expected in [
            ("verbose", logging.DEBUG),
            ("basic", logging.INFO),
            ("none", logging.WARNING),
            ("debug", logging.DEBUG),  # the names people type
            ("INFO", logging.INFO),
            ("off", logging.WARNING),
            ("on", logging.INFO),
            ("error", logging.ERROR),
            ("Warning", logging.WARNING),
        ]:
            shell.run_cell(f"%eliza debug {level}")
            assert logger.level == expected
    finally:
        logger.setLevel(logging.NOTSET)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "eliza_nb-console"]


def test_debug_without_a_mode_shows_the_one_in_force(shell: TestingShell, capsys: Any) -> None:
    logger = logging.getLogger("eliza_nb")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        shell.run_cell("%eliza debug")
        assert capsys.readouterr().out == "eliza_nb logging: basic (INFO)\n"
    finally:
        logger.setLevel(before)


def test_batch_delegates_to_run_batch(shell: TestingShell) -> None:
    shell.user_ns["questions"] = pd.DataFrame({"q": ["a", "b"]})
    frame = out(shell, "%eliza batch ECHO --from questions --column q --concurrency 2")
    assert len(frame) == 2


def test_new_plugin_writes_a_project(shell: TestingShell, tmp_path: Any, capsys: Any) -> None:
    path = out(shell, f"%eliza new-plugin weather --dir {tmp_path}")
    assert path == tmp_path / "weather" and path.is_dir()
    printed = capsys.readouterr().out
    assert "Next steps:" in printed
    assert f'%pip install -e "{path}[dev]"' in printed and "restart the kernel" in printed
    assert "%eliza register weather" in printed
    assert str(path / "src" / "weather" / "plugin.py") in printed


def test_timeout_help_says_a_sync_handler_runs_to_its_end(shell: TestingShell, capsys: Any) -> None:
    shell.run_cell("%eliza help run")
    printed = " ".join(capsys.readouterr().out.split())
    assert "a sync handler cannot be interrupted: it runs to its end" in printed


def test_models_events_and_plugin_tests(shell: TestingShell) -> None:
    assert isinstance(out(shell, "%eliza models"), pd.DataFrame)
    shell.run_cell("%eliza run NOOP\n%eliza run NOOP")
    assert len(out(shell, "%eliza events --last 1")) == 1
    assert "passed" in out(shell, "%eliza test demo").columns


def test_widgets_from_magics(shell: TestingShell) -> None:
    runner = out(shell, "%eliza ui")
    dashboard = out(shell, "%eliza dashboard")
    assert "ECHO" in runner.action.options
    assert "No runs yet" in dashboard.summary.value
    dashboard.close()
    runner.close()


# -- help and completion ----------------------------------------------------------------
def test_help_documents_every_subcommand(shell: TestingShell, capsys: Any) -> None:
    doc = shell.find_line_magic("eliza").__doc__
    shell.run_cell("%eliza help")
    printed = capsys.readouterr().out
    for name in commands.COMMANDS:
        assert f"%eliza {name}" in doc and f"%eliza {name}" in printed
    shell.run_cell("%eliza?")  # the pager shows the same docstring
    shell.run_cell("%eliza help run")
    assert "--repeat N" in capsys.readouterr().out
    assert shell.run_cell("%eliza run -h").result is None
    assert "--timeout S" in capsys.readouterr().out


def _complete(shell: TestingShell, line: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(line, len(line))]


def test_tab_completion(shell: TestingShell) -> None:
    assert _complete(shell, "%eliza ru") == ["run"]
    assert {"run", "register", "reset"} <= set(_complete(shell, "%eliza r"))
    assert _complete(shell, "%eliza run EC") == ["ECHO"]
    assert "INTERRUPTED_SYNC" in _complete(shell, "%eliza run ")
    assert _complete(shell, "%%eliza run NO") == ["NOOP"]
    assert _complete(shell, "%eliza unregister d") == ["demo"]
    assert _complete(shell, "%eliza debug v") == ["verbose"]
    assert _complete(shell, "%eliza debug e") == ["error"]


# -- secrets ----------------------------------------------------------------------------
def test_secret_set_prompts_and_never_shows_the_value(
    shell: TestingShell, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    from eliza_nb.secrets import generate_key

    monkeypatch.setenv("ELIZA_SECRET_KEY", generate_key())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "sk-typed-in-secret-42")
    store = tmp_path / "secrets.json"
    result = shell.run_cell(f"%eliza secret set SERVICE_API_KEY --store {store}")
    assert result.result is None  # nothing lands in Out
    from eliza_nb import get_runtime

    assert get_runtime().get_setting("SERVICE_API_KEY") == "sk-typed-in-secret-42"
    assert "sk-typed-in-secret-42" not in capsys.readouterr().out
    assert "sk-typed-in-secret-42" not in store.read_text()  # encrypted at rest
    settings = out(shell, "%eliza settings")
    assert settings.set_index("key").loc["SERVICE_API_KEY", "value"] == "***"
    shell.run_cell("%eliza reset")
    shell.run_cell(f"%eliza secret load --store {store}")
    assert get_runtime().get_setting("SERVICE_API_KEY") == "sk-typed-in-secret-42"


def test_secret_set_without_a_terminal_is_one_line(
    shell: TestingShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.error import StdinNotImplementedError

    from eliza_nb.secrets import SecretError

    def no_stdin(prompt: str = "") -> str:  # what ipykernel does under nbclient / papermill
        raise StdinNotImplementedError("getpass was called, but this frontend does not support it")

    monkeypatch.setattr("getpass.getpass", no_stdin)
    with pytest.raises(SecretError, match=r"%eliza set SERVICE_API_KEY=.*SecretStore") as info:
        shell.run_cell("%eliza secret set SERVICE_API_KEY")
    assert len(info.value._render_traceback_()) == 1


def test_secret_set_needs_a_key(shell: TestingShell) -> None:
    with pytest.raises(UsageError, match="name the setting"):
        shell.run_cell("%eliza secret set")
