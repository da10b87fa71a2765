"""%eliza for elizaOS 1.7: chain, prompt, typed options of run, and the new frame columns."""

from __future__ import annotations

import asyncio
import enum
from typing import Any, Literal

import pandas as pd
import pytest
from pydantic import BaseModel, Field

from eliza_nb import (
    ActionNotFoundError,
    ActionResult,
    AgentRuntime,
    Evaluator,
    Plugin,
    action,
    provider,
)
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
    row = html[html.index("<div style='white-space:pre-wrap'>") :]
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
