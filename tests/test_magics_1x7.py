"""%eliza for elizaOS 1.7: chain, prompt, typed options of run, and the new frame columns."""

from __future__ import annotations

import asyncio
import enum
from typing import Any, Literal

import pandas as pd
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from pydantic import BaseModel, Field

import eliza_nb
from eliza_nb import (
    ActionNotFoundError,
    ActionResult,
    AgentRuntime,
    Evaluator,
    Plugin,
    ValidationError,
    action,
    provider,
)
from eliza_nb.kernel.commands import ChainResults, PromptText
from eliza_nb.testing.pytest_plugin import TestingShell

RESERVED = {"action_context", "action_plan", "parameters"}
SECRET = "sk-verysecret123"


# -- a plugin to drive ------------------------------------------------------------------
class Forecast(BaseModel):
    city: str = Field(description="the city")
    days: int = 3
    unit: Literal["C", "F"] = "C"


class Mood(enum.Enum):
    CALM = "calm"
    HAPPY = "happy"


class Tuning(BaseModel):
    level: Literal[1, 2] = 1
    mood: Mood = Mood.CALM
    tags: list[str] = []
    loud: bool = False


@action(description="the weather", parameters=Forecast)
def forecast(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    p = options["parameters"]
    return {"text": f"{p.city} {p.days} {p.unit}", "data": p}


@action(parameters=Tuning)
def tune(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return {"text": "tuned", "data": options["parameters"]}


@action(description="echoes the text and the options", similes=["SAY"])
def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    given = {k: v for k, v in options.items() if k not in RESERVED}
    return {"text": message.content.text, "data": {"options": given, "room": message.room_id}}


@action(description="says hello")
def greet(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return "hello"


@action(description="fails")
def broken(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom")


@action(description="fails, and the chain goes on", continue_on_error=True)
def lenient(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise RuntimeError("shrugged off")


@action(description="waits forever")
async def forever(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    await asyncio.Event().wait()


@provider(description="hands the API key to the agent's context (it must not get out)")
def leak(runtime, message, state):  # type: ignore[no-untyped-def]
    return f"the key is {runtime.get_setting('API_KEY')}"


@provider(description="late and on request", position=5, dynamic=True)
def late(runtime, message, state):  # type: ignore[no-untyped-def]
    return "late"


@provider(description="never composed by default", position=-2, private=True)
def vault(runtime, message, state):  # type: ignore[no-untyped-def]
    return "vault"


def make_plugin() -> Plugin:
    return Plugin(
        name="demo",
        actions=[forecast, tune, echo, greet, broken, lenient, forever],
        providers=[leak, late, vault],
        evaluators=[Evaluator(name="REFLECT", handler=lambda *a: None)],
    )


@pytest.fixture
def shell(eliza_shell: TestingShell) -> TestingShell:
    """The testing shell with the demo plugin registered."""
    eliza_shell.user_ns["demo"] = make_plugin()
    eliza_shell.run_cell("%eliza register demo")
    return eliza_shell


def out(shell: TestingShell, line: str) -> Any:
    """The value of a magic line (what a cell ending in it would display)."""
    return shell.run_cell(line).result


def shown(shell: TestingShell, value: Any) -> dict[str, str]:
    """What the notebook would show of ``value``: its text/plain and text/html."""
    data, _ = shell.display_formatter.format(value)
    return data  # type: ignore[no-any-return]


def runs(shell: TestingShell) -> list[str]:
    return list(out(shell, "%eliza metrics")["action"])


# -- the frames -------------------------------------------------------------------------
def test_actions_frame_has_the_parameters(shell: TestingShell) -> None:
    frame = out(shell, "%eliza actions")
    assert list(frame.columns) == [
        "plugin",
        "kind",
        "name",
        "description",
        "similes",
        "parameters",
    ]
    typed = frame.set_index("name")["parameters"]
    assert typed["FORECAST"] == "city: str (required), days: int = 3, unit: Literal['C', 'F'] = 'C'"
    assert typed["ECHO"] == "" and typed["GREET"] == ""


def test_providers_frame_has_position_dynamic_private(shell: TestingShell) -> None:
    frame = out(shell, "%eliza providers")
    assert list(frame.columns) == [
        "plugin",
        "kind",
        "name",
        "description",
        "similes",
        "position",
        "dynamic",
        "private",
    ]
    assert frame[["name", "position", "dynamic", "private"]].values.tolist() == [
        ["leak", 0, False, False],
        ["late", 5, True, False],
        ["vault", -2, False, True],
    ]
    assert [str(t) for t in frame.dtypes.iloc[-3:]] == ["Int64", "boolean", "boolean"]


COMPONENT_DTYPES = {
    "plugin": "object",
    "kind": "object",
    "name": "object",
    "description": "object",
    "similes": "object",
    "parameters": "object",
    "position": "Int64",
    "dynamic": "boolean",
    "private": "boolean",
}


def test_components_frame_schema_is_fixed_and_other_kinds_hold_nulls() -> None:
    rt = AgentRuntime(use_env=False)
    try:
        empty = rt.components_frame()
        assert {c: str(t) for c, t in empty.dtypes.items()} == COMPONENT_DTYPES
        rt.run_sync(rt.register_plugin(make_plugin()))
        frame = rt.components_frame()
        assert {c: str(t) for c, t in frame.dtypes.items()} == COMPONENT_DTYPES
        reflect = frame.set_index("name").loc["REFLECT"]
        assert reflect["parameters"] is None
        assert all(reflect[c] is pd.NA for c in ("position", "dynamic", "private"))
        greet = frame.set_index("name").loc["GREET"]
        assert greet["parameters"] == "" and greet["position"] is pd.NA
    finally:
        rt.close()


def test_evaluators_frame_shows_no_other_kind_s_columns(shell: TestingShell) -> None:
    frame = out(shell, "%eliza evaluators")
    assert list(frame.columns) == ["plugin", "kind", "name", "description", "similes"]
    assert frame["name"].tolist() == ["REFLECT"]


# -- run with typed parameters ----------------------------------------------------------
def test_typed_option_values_reach_pydantic_as_typed(shell: TestingShell) -> None:
    result = out(shell, "%eliza run FORECAST -o city=007 -o days=2 -o unit=F")
    assert result.success and result.data == Forecast(city="007", days=2, unit="F")
    # "true" and "42" are JSON (a bool, an int): a str field gets them as typed all the same.
    assert out(shell, "%eliza run FORECAST -o city=true").data.city == "true"
    assert out(shell, "%eliza run FORECAST -o city=42 -o days=042").data == Forecast(
        city="42", days=42
    )
    # An untyped action keeps reading values as JSON when they are JSON.
    assert out(shell, "%eliza run ECHO -o city=3 -o flag=true").data["options"] == {
        "city": 3,
        "flag": True,
    }


def test_typed_choices_json_and_flags(shell: TestingShell) -> None:
    line = '%eliza run TUNE -o level=2 -o mood=happy -o tags=\'["a", "b"]\' -o loud=yes'
    assert out(shell, line).data == Tuning(level=2, mood=Mood.HAPPY, tags=["a", "b"], loud=True)
    assert out(shell, "%eliza run TUNE -o mood=HAPPY").data.mood is Mood.HAPPY  # a member's name
    # --json values are JSON already; they win over --option.
    result = out(shell, "%eliza run TUNE -o level=1 --json '{\"level\": 2}'")
    assert result.data.level == 2


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [
        ("-o city=Oslo -o days=many", "days", "Input should be a valid integer"),
        ("-o city=Oslo -o unit=K", "unit", "Input should be 'C' or 'F' (got 'K')"),
        ("-o days=2", "city", "Field required"),
    ],
)
def test_a_bad_typed_option_is_an_invalid_parameters_result(
    shell: TestingShell, options: str, field: str, problem: str
) -> None:
    result = out(shell, f"%eliza run FORECAST {options}")
    assert isinstance(result, ActionResult) and result.error_code == "INVALID_PARAMETERS"
    ((got,),) = [result.data["errors"]]
    assert got["field"] == field and problem in got["message"]
    assert result.error.message.splitlines()[1].startswith(f"{field}: {problem}")  # type: ignore[union-attr]


def test_the_invalid_parameters_card_shows_one_line_per_field(shell: TestingShell) -> None:
    result = out(shell, "%eliza run TUNE -o level=3 -o tags=notjson -o mood='<b>'")
    assert [e["field"] for e in result.data["errors"]] == ["level", "mood", "tags"]
    html = shown(shell, result)["text/html"]
    start = html.index("<b>error INVALID_PARAMETERS</b>")
    row = html[html.rindex("<div", 0, start) :]
    assert row.startswith(
        "<div style='white-space:pre-wrap'><b>error INVALID_PARAMETERS</b>: "
        "invalid parameters for TUNE:\nlevel: Input should be 1 or 2 (got &#x27;3&#x27;)\n"
        "mood: Input should be &#x27;calm&#x27; or &#x27;happy&#x27; (got &#x27;&lt;b&gt;&#x27;)\n"
        "tags: Input should be a valid list (got &#x27;notjson&#x27;)</div>"
    )


def test_run_of_an_unknown_action_with_options_still_names_the_closest(
    shell: TestingShell,
) -> None:
    with pytest.raises(ActionNotFoundError, match="Did you mean: FORECAST"):
        shell.run_cell("%eliza run FORECASTT -o city=x")


# -- chain ------------------------------------------------------------------------------
def test_chain_runs_the_leading_action_words_on_the_rest_of_the_line(shell: TestingShell) -> None:
    results = shell.run_cell("%eliza chain echo FORECAST hello world -o city=Oslo", True).result
    assert isinstance(results, list) and shell.user_ns["_"] is results  # `_` holds the list
    assert [r.action for r in results] == ["ECHO", "FORECAST"]
    assert [r.text for r in results] == ["hello world", "Oslo 3 C"]
    assert results[0].data["options"] == {"city": "Oslo"}  # the options go to every step
    assert results.steps == ["ECHO", "FORECAST"] and results.skipped == []


def test_chain_shows_a_card_per_step_and_a_summary(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain ECHO GREET <hi>")
    data = shown(shell, results)
    html = data["text/html"]
    assert html.startswith("<div><b>chain of 2 steps: 2 ran</b></div>")
    assert html.count("eliza-card") == 2 and "&lt;hi&gt;" in html and "<hi>" not in html
    lines = data["text/plain"].splitlines()
    assert lines[0] == "chain of 2 steps: 2 ran"
    assert lines[1].startswith("  1. ActionResult(action='ECHO', ok, text='<hi>'")
    assert lines[2].startswith("  2. ActionResult(action='GREET', ok, text='hello'")


def test_a_failed_step_stops_the_chain_and_says_what_it_skipped(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain ECHO BROKEN GREET hi")
    assert [(r.action, r.success) for r in results] == [("ECHO", True), ("BROKEN", False)]
    assert results[1].error_code == "HANDLER_ERROR" and results.skipped == ["GREET"]
    summary = "chain of 3 steps: 2 ran; skipped after BROKEN failed: GREET"
    assert results.summary() == summary
    data = shown(shell, results)
    assert data["text/plain"].splitlines()[0] == summary
    assert summary in data["text/html"] and "HANDLER_ERROR" in data["text/html"]
    assert runs(shell) == ["ECHO", "BROKEN"]  # GREET never ran


def test_a_step_with_continue_on_error_lets_the_chain_go_on(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain LENIENT GREET")
    assert [(r.action, r.success) for r in results] == [("LENIENT", False), ("GREET", True)]
    assert results[0].error.message == "shrugged off"  # type: ignore[union-attr]
    assert results.skipped == [] and results.summary() == "chain of 2 steps: 2 ran"


def test_an_invalid_typed_option_fails_its_step(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain GREET FORECAST ECHO -o city=Oslo -o days=many")
    assert [r.action for r in results] == ["GREET", "FORECAST"] and results.skipped == ["ECHO"]
    assert results[1].error_code == "INVALID_PARAMETERS"
    assert results[1].data["errors"][0]["field"] == "days"


def test_chain_timeout_cancels_a_step(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain FOREVER GREET --timeout 0.01")
    assert results[0].error_code == "TIMEOUT" and results.skipped == ["GREET"]


@pytest.mark.parametrize(
    ("line", "steps", "text"),
    [
        # a simile is an action name too: the leading words that name actions are steps
        ("%eliza chain echo say hi", ["ECHO", "ECHO"], "hi"),
        ("%eliza chain ECHO,ECHO say hi", ["ECHO", "ECHO"], "say hi"),
        ("%eliza chain ECHO, GREET say hi", ["ECHO", "GREET"], "say hi"),
        ("%eliza chain ECHO, GREET, say hi", ["ECHO", "GREET", "ECHO"], "hi"),
        ("%eliza chain ECHO -- say hi --room r1", ["ECHO"], "say hi --room r1"),
        ("%eliza chain ECHO GREET -- -5", ["ECHO", "GREET"], "-5"),
        ("%eliza chain ECHO GREET", ["ECHO", "GREET"], ""),
        ("%eliza chain ECHO hi --room r1 GREET", ["ECHO"], "hi GREET"),
    ],
)
def test_which_words_name_the_steps(
    shell: TestingShell, line: str, steps: list[str], text: str
) -> None:
    results = out(shell, line)
    assert results.steps == steps and results[0].text == text


def test_options_and_room_after_the_words(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain ECHO hi --room r1 -o n=3 --json '{\"flag\": true}'")
    assert results[0].data == {"options": {"n": 3, "flag": True}, "room": "r1"}


def test_cell_chain_takes_the_line_as_steps_and_the_body_as_text(shell: TestingShell) -> None:
    results = shell.run_cell("%%eliza chain ECHO SAY\nfirst line\nsecond\n").result
    assert results.steps == ["ECHO", "ECHO"]
    assert [r.text for r in results] == ["first line\nsecond"] * 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%eliza chain", "name the actions to run"),
        ("%eliza chain -- hi", "name the actions to run"),
        ("%eliza chain ,", "name the actions to run"),
        ("%eliza chain , hi", "No action named 'hi'"),  # the list goes on after a comma
        ("%eliza chain GRET hi", "No action named 'GRET'. Did you mean: GREET"),
        ("%eliza chain ECHO,ECHOO hi", "No action named 'ECHOO'. Did you mean: ECHO\\?"),
        ("%eliza chain ECHO NOPE -- hi", "No action named 'NOPE'"),
        ("%%eliza chain ECHO ECHOO\nbody", "No action named 'ECHOO'"),
        ("%%eliza chain ECHO -- hi\nbody", "not both"),
        ("%eliza chain ECHO --json '[1]'", "%eliza chain: --json must be a JSON object"),
        ("%eliza chain ECHO --json '{bad'", "%eliza chain: --json is not valid JSON"),
        ("%eliza chain ECHO -o novalue", "KEY=VALUE"),
        ("%eliza chain ECHO --timeout 0", "invalid positive float"),
        ("%eliza chain ECHO --bogus", "unrecognized arguments"),
    ],
)
def test_chain_usage_errors_run_nothing(
    shell: TestingShell, capsys: Any, line: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_cell(line)
    assert "UsageError" in capsys.readouterr().err  # one line, no traceback
    assert runs(shell) == []


def test_chain_with_nothing_registered_says_so(eliza_shell: TestingShell) -> None:
    with pytest.raises(UsageError, match="No actions are registered: register a plugin first"):
        eliza_shell.run_cell("%eliza chain ECHO hi")


def test_chain_options_the_chain_fills_in_are_a_library_error(shell: TestingShell) -> None:
    with pytest.raises(ValidationError, match="options must not set parameters"):
        shell.run_cell("%eliza chain ECHO --json '{\"parameters\": 1}'")


def test_chain_of_one_step(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain BROKEN")
    assert results.summary() == "chain of 1 step: 1 ran" and results.skipped == []


def test_chain_results_are_a_plain_list_too() -> None:
    empty = ChainResults()
    assert empty == [] and empty.steps == [] and empty.summary() == "chain of 0 steps: 0 ran"


def test_words_after_double_dash_are_text(shell: TestingShell) -> None:
    result = out(shell, "%eliza run ECHO -- -5 --room r1")
    assert (result.text, result.data["room"]) == ("-5 --room r1", "default")
    with pytest.raises(UsageError, match="argument --room: expected one argument"):
        shell.run_cell("%eliza run ECHO hi --room")


# -- help and completion ----------------------------------------------------------------
def test_help_tells_which_words_name_the_steps(shell: TestingShell, capsys: Any) -> None:
    shell.run_cell("%eliza help")
    printed = capsys.readouterr().out
    assert "%eliza chain ACTION [ACTION ...] [text ...] [--option KEY=VALUE]" in printed
    shell.run_cell("%eliza help chain")
    printed = capsys.readouterr().out
    assert "%eliza chain A,B say hello       a comma list names the steps exactly" in printed
    assert "continue_on_error" in printed
    shell.run_cell("%eliza help run")
    printed = " ".join(capsys.readouterr().out.split())
    assert "a typed action's parameter gets the text as typed, for pydantic to convert" in printed


def _complete(shell: TestingShell, line: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(line, len(line))]


def test_tab_completion_of_chain_steps(shell: TestingShell) -> None:
    assert "chain" in _complete(shell, "%eliza ch")
    assert _complete(shell, "%eliza chain GR") == ["GREET"]
    assert _complete(shell, "%eliza chain GREET say FO") == ["FORECAST", "FOREVER"]
    assert _complete(shell, "%eliza chain GREET hello FO") == []  # the text has begun


# -- prompt -----------------------------------------------------------------------------
@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str | None, str]]:
    """Every ``runtime.render_prompt(message, room_id=...)`` call and the prompt it returned."""
    render = AgentRuntime.render_prompt
    calls: list[tuple[Any, str | None, str]] = []

    async def spy(self: AgentRuntime, message: Any = None, *, room_id: str | None = None) -> str:
        prompt = await render(self, message, room_id=room_id)
        calls.append((message, room_id, prompt))
        return prompt

    monkeypatch.setattr(AgentRuntime, "render_prompt", spy)
    return calls


def test_prompt_is_the_runtime_s_prompt_as_plain_text_with_secrets_masked(
    shell: TestingShell, prompts: list[Any], capsys: Any
) -> None:
    shell.run_cell(f"%eliza set API_KEY={SECRET}")
    result = shell.run_cell("%eliza prompt what is the key?", True).result
    ((message, room, prompt),) = prompts
    assert (message, room) == ("what is the key?", None)
    assert isinstance(result, PromptText) and result == prompt and shell.user_ns["_"] == prompt
    assert shown(shell, result) == {"text/plain": prompt}  # as it is: no quotes, no repr
    assert "what is the key?" in prompt and "the key is ***" in prompt
    assert SECRET not in prompt and SECRET not in capsys.readouterr().out


def test_prompt_of_a_room_and_of_the_cell(shell: TestingShell, prompts: list[Any]) -> None:
    rt = eliza_nb.get_runtime()
    rt.run_sync(rt.messages.create_memory("said in r1", room_id="r1"))
    assert "said in r1" in out(shell, "%eliza prompt now --room r1")
    assert "said in r1" not in out(shell, "%eliza prompt now")
    assert "two\nlines" in shell.run_cell("%%eliza prompt --room r1\ntwo\nlines\n").result
    assert [(m, r) for m, r, _ in prompts] == [("now", "r1"), ("now", None), ("two\nlines", "r1")]


def test_prompt_without_text_is_the_prompt_of_an_empty_message(
    shell: TestingShell, prompts: list[Any]
) -> None:
    shell.run_cell(f"%eliza set API_KEY={SECRET}")
    result = out(shell, "%eliza prompt")
    ((message, room, prompt),) = prompts
    assert (message, room, result) == (None, None, prompt)
    assert "the key is ***" in prompt and SECRET not in prompt  # the context is all there
    with pytest.raises(UsageError, match="not both"):
        shell.run_cell("%%eliza prompt words\nbody")


def test_help_and_completion_know_prompt(shell: TestingShell, capsys: Any) -> None:
    shell.run_cell("%eliza help")
    assert "%eliza prompt [--room ROOM] [text ...]" in capsys.readouterr().out
    assert "prompt" in _complete(shell, "%eliza pr")


def test_a_question_mark_ends_the_text_and_asks_for_no_help(
    shell: TestingShell, capsys: Any
) -> None:
    # IPython alone reads a line ending in ? as `pinfo` of its last word.
    assert out(shell, "%eliza run ECHO is it late?").text == "is it late?"
    assert out(shell, "%eliza chain ECHO GREET really??")[0].text == "really??"
    assert shell.transform_cell("if x:\n    %eliza send hi?\n") == (
        "if x:\n    get_ipython().run_line_magic('eliza', 'send hi?')\n"
    )
    for line in ("%eliza?", "%eliza run?", "%%eliza run ECHO\nwhy?", "x = '%eliza run ECHO a?'"):
        assert "run_line_magic('eliza'" not in shell.transform_cell(line)
    before, _ = runs(shell), capsys.readouterr()
    shell.run_cell("%eliza run?")  # still IPython's help (of the word `run`), not a run
    assert runs(shell) == before and "Docstring" in capsys.readouterr().out
    shell.run_line_magic("unload_ext", "eliza_nb")
    assert "pinfo" in shell.transform_cell("%eliza run ECHO is it late?")
    shell.run_cell("%load_ext eliza_nb")
