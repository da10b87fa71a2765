"""%eliza trace and %eliza cassette: a run's timeline and its replay, from a cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import eliza_nb
from eliza_nb import ElizaError, Plugin, action
from eliza_nb.testing import Cassette, DeterministicModel
from eliza_nb.testing.pytest_plugin import TestingShell
from eliza_nb.traces import Trace


@action(description="says hello")
def greet(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return "hello"


@pytest.fixture
def shell(eliza_shell: TestingShell) -> TestingShell:
    eliza_shell.user_ns["demo"] = Plugin(name="demo", actions=[greet])
    eliza_shell.run_cell("%eliza register demo")
    return eliza_shell


def out(shell: TestingShell, line: str) -> Any:
    return shell.run_cell(line).result


def test_the_kernel_traces_every_run_and_the_card_says_how_to_see_it(
    shell: TestingShell,
) -> None:
    result = out(shell, "%eliza run GREET")
    assert result.trace_id is not None
    html, _ = shell.display_formatter.format(result)
    assert f"%eliza trace {result.trace_id}" in html["text/html"]
    trace = out(shell, "%eliza trace")
    assert isinstance(trace, Trace) and trace.trace_id == result.trace_id
    assert out(shell, f"%eliza trace {result.trace_id}").root.name == "GREET"
    assert "<b>Trace</b>" in shell.display_formatter.format(trace)[0]["text/html"]


def test_the_tracing_setting_can_turn_the_kernel_off(shell: TestingShell) -> None:
    shell.run_cell("%eliza set TRACING=off")
    assert out(shell, "%eliza run GREET").trace_id is None


def test_an_unknown_trace_is_one_line_with_its_code(shell: TestingShell) -> None:
    with pytest.raises(ElizaError, match=r"No trace 'abc'") as info:
        shell.run_cell("%eliza trace abc")
    assert info.value.code == "TRACE_NOT_FOUND"


def test_a_cassette_records_in_one_cell_and_replays_in_another(
    shell: TestingShell, tmp_path: Path
) -> None:
    runtime = eliza_nb.get_runtime()
    model = DeterministicModel()
    runtime.run_sync(runtime.register_plugin(model.plugin))
    path = tmp_path / "calls.json"
    started = out(shell, f"%eliza cassette record {path}")
    assert isinstance(started, Cassette) and Cassette.active(runtime) is started
    first = runtime.run_sync(runtime.process_message("please greet me", room_id="one"))
    shell.run_cell("%eliza cassette off")
    assert Cassette.active(runtime) is None and path.exists()
    runtime.run_sync(runtime.unregister_plugin(model.plugin.name))
    out(shell, f"%eliza cassette replay {path}")
    # another room: the same conversation so far, so the same prompt
    again = runtime.run_sync(runtime.process_message("please greet me", room_id="two"))
    assert [r.action for r in again] == [r.action for r in first] == ["TEXT_LARGE", "GREET"]
    assert again[0].plugin == "cassette"
    shell.run_cell("%eliza cassette off")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("%eliza cassette off", "no cassette is in use"),
        ("%eliza cassette record", "give the cassette file"),
        ("%eliza cassette rewind x.json", "invalid choice"),
    ],
)
def test_bad_cassette_lines_are_usage_errors(shell: TestingShell, line: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        shell.run_cell(line)


def test_a_missing_cassette_file_is_one_line_with_its_code(
    shell: TestingShell, tmp_path: Path
) -> None:
    with pytest.raises(ElizaError, match="Cassette") as info:
        shell.run_cell(f"%eliza cassette replay {tmp_path / 'none.json'}")
    assert info.value.code == "CASSETTE_ERROR"


def test_closing_the_runtime_closes_its_cassette(tmp_path: Path) -> None:
    rt = eliza_nb.AgentRuntime(use_env=False)
    rt.use_cassette(tmp_path / "c.json", "record")
    rt.close()
    assert Cassette.active() is None


def test_record_frames_are_shown_rounded_and_keep_every_digit(shell: TestingShell) -> None:
    import pickle

    import pandas as pd

    shell.run_cell("%eliza run GREET")
    summary = out(shell, "%eliza summary")
    html = shell.display_formatter.format(summary)[0]["text/html"]
    assert "eliza-table" in html
    assert isinstance(summary, pd.DataFrame)
    exact = summary.filter(like="_ms").iloc[0].tolist()
    assert any(len(repr(v)) > 6 for v in exact)  # full precision behind the rounded display
    assert type(pickle.loads(pickle.dumps(summary))) is pd.DataFrame
    empty = out(shell, "%eliza errors")
    assert shell.display_formatter.format(empty)[0]["text/html"] == "<i>no errors</i>"
