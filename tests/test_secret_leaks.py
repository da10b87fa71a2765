"""A plugin's API key, put into every failure we can think of, shows up nowhere.

Not in frames, reprs, HTML, logs, the SQLite file (and its WAL), nor a notebook saved after a
real kernel ran the failing plugin.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import (
    AgentRuntime,
    ApiError,
    ElizaError,
    Evaluator,
    Plugin,
    PluginConfig,
    Provider,
    Service,
    action,
)
from eliza_nb.secrets import ENV_KEY, SecretStore, generate_key

API_KEY = "sk-acme-Zq7XbT4vLw9RkP2m"


def _key(runtime: Any) -> str:
    return str(runtime.get_setting("ACME_API_KEY"))


@action(name="CALL_ACME", similes=["ACME"])
async def call_acme(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    key = _key(runtime)
    try:
        raise KeyError(key)
    except KeyError as cause:
        raise ApiError(f"401 Unauthorized for key {key}", status=401) from cause


@action(name="FAIL_RESULT")
def fail_result(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    return {"success": False, "error": f"acme says {_key(runtime)} is revoked"}


@action(name="FOREIGN")
def foreign(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError({"headers": {"Authorization": f"Bearer {_key(runtime)}"}})


@foreign.validator
def _validate(runtime: Any, message: Any, state: Any) -> bool:
    if state is not None and not isinstance(state, dict) and message.content.text == "check":
        raise ValueError(f"validator saw {_key(runtime)}")  # while composing state
    return True


def _provider(runtime: Any, message: Any, state: Any) -> Any:
    raise ConnectionError(f"GET /status?api_key={_key(runtime)} failed")


def _evaluator(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError(f"evaluator choked on {_key(runtime)}")


def _on_error(error: BaseException) -> None:
    raise RuntimeError(f"on_error re-raised with {API_KEY}")


class AcmeService(Service):
    """Holds the acme connection."""

    service_type = "acme"

    async def initialize(self, runtime: Any) -> None:
        self.key = _key(runtime)

    async def stop(self) -> None:
        raise OSError(f"could not close session of {self.key}")


def acme_plugin() -> Plugin:
    return Plugin(
        name="acme",
        description="Talks to the Acme API",
        actions=[call_acme, fail_result, foreign],
        providers=[Provider(name="acme_status", get=_provider)],
        evaluators=[Evaluator(name="ACME_EVAL", handler=_evaluator, always_run=True)],
        services=[AcmeService],
        config=PluginConfig(required=["ACME_API_KEY"]),
        on_error=_on_error,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "a.db"


def _everything_shown(rt: AgentRuntime, results: list[Any], state: Any) -> dict[str, str]:
    """Every text the runtime shows about itself, by where it appears."""
    shown = {
        "metrics_frame": rt.metrics_frame().to_csv(),
        "errors_frame": rt.errors_frame().to_csv(),
        "memories_frame": rt.memories_frame().to_csv(),
        "components_frame": rt.components_frame().to_csv(),
        "metrics_summary": rt.metrics_summary().to_csv(),
        "errors_frame_html": rt.errors_frame()._repr_html_() or "",
        "repr(runtime)": repr(rt),
        "runtime_html": rt._repr_html_(),
        "settings": str(rt.settings.masked()),
        "snapshot": str(rt.snapshot()),
        "state.text": state.text,
        "state_html": state._repr_html_(),
        "repr(state)": repr(state),
        "raw error records": repr(rt.metrics.errors),
    }
    for i, r in enumerate(results):
        shown[f"repr(result {i})"] = repr(r)
        shown[f"result {i} html"] = r._repr_html_()
        shown[f"result {i} dump"] = str(r.model_dump())
        shown[f"result {i} error"] = repr(r.error)
    return shown


async def test_key_is_nowhere_in_process(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rt = AgentRuntime(settings={"ACME_API_KEY": API_KEY}, database=db_path, use_env=False)
    await rt.register_plugin(acme_plugin())
    results = [
        await rt.execute_action("CALL_ACME", "hello"),
        await rt.execute_action("FAIL_RESULT"),
        await rt.execute_action("FOREIGN", "x"),
        *(await rt.process_message("please call acme")),
        *(await rt.process_message("check")),
    ]
    state = await rt.compose_state("check")
    assert [r.success for r in results] == [False] * 4  # "check" runs no action
    assert results[0].error is not None
    assert results[0].error.message == "401 Unauthorized for key ***"
    assert "KeyError: '***'" in results[0].error.traceback  # the chained cause is masked too
    shown = _everything_shown(rt, results, state)
    assert "API_ERROR" in shown["errors_frame"]  # the failures really are there
    assert not [where for where, text in shown.items() if API_KEY in text]

    await rt.unregister_plugin("acme")  # the service's stop() fails with the key
    await rt.aclose()
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "could not close session of ***" in logged
    assert API_KEY not in logged
    for path in db_path.parent.glob("a.db*"):  # the database and any -wal / -journal file
        assert API_KEY.encode() not in path.read_bytes(), path.name
    assert db_path.stat().st_size > 0


async def test_register_failure_and_config_hooks_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_load(runtime: Any) -> None:
        raise RuntimeError(f"login refused for {_key(runtime)}")

    def on_config_change(changes: dict[str, Any]) -> None:
        raise ValueError(f"cannot rotate to {changes}")

    rt = AgentRuntime(settings={"ACME_API_KEY": API_KEY}, use_env=False)
    with pytest.raises(ElizaError) as info:
        await rt.register_plugin(Plugin(name="bad", on_load=on_load))
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    await rt.register_plugin(Plugin(name="watch", on_config_change=on_config_change))
    await rt.set_setting("ACME_API_KEY", API_KEY)
    assert API_KEY not in caplog.text
    assert API_KEY not in rt.errors_frame().to_csv()
    await rt.aclose()


# -- a real kernel, a saved notebook --------------------------------------------------------------
NOTEBOOK_CELLS = [
    """
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, force=True)
    from eliza_nb import AgentRuntime
    from eliza_nb.secrets import SecretStore
    from leaky_plugin import acme_plugin
    """,
    """
    rt = AgentRuntime(database="a.db", use_env=False)
    SecretStore("secrets.json").load_into(rt)  # the key comes from the encrypted store
    await rt.register_plugin(acme_plugin())
    rt
    """,
    'result = await rt.execute_action("CALL_ACME", "hello")\nresult',
    "print(result.error.traceback)\nresult.error",
    'await rt.execute_action("FOREIGN", "x")',
    'await rt.process_message("please call acme")',
    "rt.errors_frame()",
    "rt.metrics_frame()",
    "rt.settings.masked()",
    'await rt.compose_state("check")',
    "rt.snapshot()",
    "await rt.aclose()\nprint('closed')",
]


@pytest.fixture
def plugin_module(tmp_path: Path) -> Iterator[Path]:
    """This file's plugin, importable by the kernel as ``leaky_plugin``."""
    source = Path(__file__).read_text(encoding="utf-8")
    plugin_part = source.split("@pytest.fixture\ndef db_path")[0]
    (tmp_path / "leaky_plugin.py").write_text(plugin_part, encoding="utf-8")
    yield tmp_path


@pytest.mark.kernel
def test_key_is_nowhere_in_a_saved_notebook(
    plugin_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    key = generate_key()
    monkeypatch.setenv(ENV_KEY, key)  # the kernel inherits it; the notebook never holds it
    SecretStore(plugin_module / "secrets.json").set("ACME_API_KEY", API_KEY)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in NOTEBOOK_CELLS]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(plugin_module)}}
    )
    client.execute()
    saved = plugin_module / "leaky.ipynb"
    nbformat.write(nb, saved)

    raw = saved.read_text(encoding="utf-8")
    assert "401 Unauthorized for key ***" in raw  # the failure is in the notebook, masked
    assert "could not close session of ***" in raw  # and so is the log line of the service
    assert "API_ERROR" in raw and "text/html" in raw
    assert API_KEY not in raw
    assert key not in raw
    for path in plugin_module.glob("a.db*"):
        assert API_KEY.encode() not in path.read_bytes(), path.name


async def test_provider_value_holding_the_key_is_masked_in_state_reprs() -> None:
    def config(runtime: Any, message: Any, state: Any) -> Any:
        return {"endpoint": "https://acme.example", "auth": _key(runtime)}

    rt = AgentRuntime(settings={"ACME_API_KEY": API_KEY}, use_env=False)
    await rt.register_plugin(Plugin(name="cfg", providers=[Provider(name="acme", get=config)]))
    state = await rt.compose_state("hi")
    assert API_KEY not in state.text
    try:
        assert API_KEY not in state._repr_html_()
        assert API_KEY not in repr(state)
    finally:
        await rt.aclose()
