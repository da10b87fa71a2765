"""ActionRunner's form for typed parameters: built from the model, driven by setting values."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Literal

import ipywidgets as widgets
import pytest
from pydantic import BaseModel, Field

from eliza_nb import ActionResult, AgentRuntime, Plugin, ValidationError, action
from eliza_nb.kernel.widgets import ActionRunner, ParametersForm

CLICK = {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}
RESERVED = {"action_context", "action_plan", "parameters"}


class Forecast(BaseModel):
    city: str = Field(description="the city to forecast")
    days: int = 3
    unit: Literal["C", "F"] = "C"


class Mood(enum.Enum):
    CALM = "calm"
    HAPPY = "happy"


class Tuning(BaseModel):
    level: Literal[1, 2] = 2
    mood: Mood = Mood.CALM
    tags: list[str] = ["x"]
    ratio: float = 0.5
    limit: int | None = None
    loud: bool = False
    note: str | None = None
    tone: Literal["low", "high"] | None = None


class Pick(BaseModel):
    color: Literal["red", "<b>blue</b>"]


def _report(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    """The validated parameters, and which option keys reached the handler."""
    given = sorted(set(options) - RESERVED)
    return {"text": "ok", "data": {"params": options["parameters"], "given": given}}


forecast = action(name="FORECAST", description="the weather", parameters=Forecast)(_report)
tune = action(name="TUNE", parameters=Tuning)(_report)
pick = action(name="PICK", parameters=Pick)(_report)


@action(description="untyped: echoes its options")
def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return {"text": message.content.text, "data": options}


@pytest.fixture
def runtime(eliza_runtime: AgentRuntime) -> AgentRuntime:
    plugin = Plugin(name="w", actions=[forecast, tune, pick, echo])
    eliza_runtime.run_sync(eliza_runtime.register_plugin(plugin))
    return eliza_runtime


@pytest.fixture
def runner(runtime: AgentRuntime) -> Iterator[ActionRunner]:
    widget = ActionRunner(runtime)
    yield widget
    widget.close()


def form_of(runner: ActionRunner, name: str) -> ParametersForm:
    runner.select(name)
    assert runner.form is not None
    return runner.form


def failures_in(output: Any) -> list[dict[str, Any]]:
    """The failures shown in an output area: one line (text/plain) and its HTML."""
    return [o["data"] for o in output.outputs if o["output_type"] == "display_data"]


# -- the form ---------------------------------------------------------------------------
def test_a_typed_action_gets_a_form_with_defaults_and_required_marks(runner: ActionRunner) -> None:
    form = form_of(runner, "FORECAST")
    assert runner.options_box.children == (form,)
    city, days, unit = (form.inputs[n] for n in ("city", "days", "unit"))
    assert (type(city), type(days), type(unit)) == (widgets.Text, widgets.IntText, widgets.Dropdown)
    assert (city.description, days.description, unit.description) == ("city*", "days", "unit")
    assert city.tooltip == "str, required: the city to forecast"
    assert city.placeholder == "the city to forecast"
    assert (city.value, days.value, unit.value) == ("", 3, "C")
    assert unit.options == (("C", "C"), ("F", "F"))  # (label, value) pairs
    assert "parameters: city: str (required), days: int = 3" in runner.info.value
    assert "(* required)" in runner.info.value


def test_each_kind_of_field_gets_its_input(runner: ActionRunner) -> None:
    inputs = form_of(runner, "TUNE").inputs
    kinds = {name: type(box) for name, box in inputs.items()}
    assert kinds == {
        "level": widgets.Dropdown,
        "mood": widgets.Dropdown,
        "tags": widgets.Textarea,
        "ratio": widgets.FloatText,
        "limit": widgets.Text,  # int | None = None: a text box that may stay empty
        "loud": widgets.Checkbox,
        "note": widgets.Text,
        "tone": widgets.Dropdown,
    }
    assert inputs["level"].options == (("1", 1), ("2", 2)) and inputs["level"].value == 2
    assert inputs["mood"].options == (("calm", Mood.CALM), ("happy", Mood.HAPPY))
    assert inputs["mood"].value is Mood.CALM
    assert inputs["tags"].value == '["x"]'
    assert (inputs["ratio"].value, inputs["loud"].value) == (0.5, False)
    assert (inputs["limit"].value, inputs["note"].value) == ("", "")
    assert inputs["tone"].options[0] == ("(none)", None) and inputs["tone"].index == 0


def test_untouched_form_runs_with_the_defaults(runner: ActionRunner) -> None:
    form_of(runner, "TUNE")
    result = runner.run()
    assert result is not None and result.success
    params = result.data["params"]
    assert params == Tuning()
    # Empty text boxes are left out (the default None applies); the others are passed.
    assert result.data["given"] == ["level", "loud", "mood", "ratio", "tags"]


def test_the_form_values_are_the_options(runner: ActionRunner) -> None:
    seen: list[ActionResult] = []
    runner.on_result(seen.append)
    inputs = form_of(runner, "TUNE").inputs
    inputs["level"].value = 1
    inputs["mood"].value = Mood.HAPPY
    inputs["tags"].value = '["a", "b"]'
    inputs["ratio"].value = 2.25
    inputs["limit"].value = "7"  # text, for pydantic to convert
    inputs["loud"].value = True
    inputs["note"].value = "007"
    inputs["tone"].value = "high"
    runner.run_button.click()
    (result,) = seen
    assert result.data["params"] == Tuning(
        level=1,
        mood=Mood.HAPPY,
        tags=["a", "b"],
        ratio=2.25,
        limit=7,
        loud=True,
        note="007",
        tone="high",
    )


def test_the_run_button_click_from_the_browser_sends_the_form(runner: ActionRunner) -> None:
    form_of(runner, "FORECAST").inputs["city"].value = "Oslo"
    runner.run_button._handle_msg(CLICK)
    assert runner.results[-1].data["params"] == Forecast(city="Oslo")
    assert "success" in runner.result.value


# -- what goes wrong --------------------------------------------------------------------
def test_an_empty_required_field_shows_the_invalid_parameters_card(runner: ActionRunner) -> None:
    seen: list[ActionResult] = []
    runner.on_result(seen.append)
    form_of(runner, "FORECAST").inputs["days"].value = -1  # fine: an int
    result = runner.run()
    assert result is not None and result.error_code == "INVALID_PARAMETERS"
    assert seen == [result]
    assert result.data == {"errors": [{"field": "city", "message": "Field required"}]}
    assert "INVALID_PARAMETERS" in runner.result.value
    assert "invalid parameters for FORECAST:\ncity: Field required" in runner.result.value
    assert "white-space:pre-wrap" in runner.result.value  # one line per field, as written
    assert failures_in(runner.output) == []  # the card tells it, once


def test_text_that_is_no_json_in_a_json_field_stops_the_run(
    runner: ActionRunner, runtime: AgentRuntime
) -> None:
    errors: list[BaseException] = []
    runner.on_error(errors.append)
    form_of(runner, "TUNE").inputs["tags"].value = "a, b"
    assert runner.run() is None
    (exc,) = errors
    assert isinstance(exc, ValidationError) and exc.field == "tags"
    assert str(exc).startswith("[VALIDATION_ERROR] parameter 'tags' must be JSON: Expecting value")
    (error,) = failures_in(runner.output)
    assert error["text/plain"].startswith("[VALIDATION_ERROR] parameter 'tags' must be JSON")
    assert "<details>" not in error["text/html"]  # a library error: its one line
    assert runtime.metrics.run_count == 0  # nothing ran


def test_json_of_the_wrong_shape_is_pydantic_s_to_refuse(runner: ActionRunner) -> None:
    form_of(runner, "TUNE").inputs["tags"].value = '{"a": 1}'
    result = runner.run()
    assert result is not None and result.error_code == "INVALID_PARAMETERS"
    assert result.data["errors"][0]["field"] == "tags"
    assert "Input should be a valid list" in result.data["errors"][0]["message"]


def test_a_required_choice_starts_unchosen(runner: ActionRunner) -> None:
    color = form_of(runner, "PICK").inputs["color"]
    assert color.value is None and color.description == "color*"
    result = runner.run()
    assert result is not None and result.data["errors"][0]["field"] == "color"
    color.value = "<b>blue</b>"
    result = runner.run()
    assert result is not None and result.data["params"] == Pick(color="<b>blue</b>")
    assert "&lt;b&gt;blue&lt;/b&gt;" in runner.info.value and "<b>blue" not in runner.info.value


def test_an_unconvertible_text_for_a_number_is_refused(runner: ActionRunner) -> None:
    form_of(runner, "TUNE").inputs["limit"].value = "seven"
    result = runner.run()
    assert result is not None and result.data["errors"][0]["field"] == "limit"


# -- following the selection ------------------------------------------------------------
def test_the_form_follows_the_selected_action(runner: ActionRunner) -> None:
    forecast_form = form_of(runner, "FORECAST")
    runner.select("ECHO")
    assert runner.form is None and runner.options_box.children == (runner.options,)
    assert forecast_form.comm is None and forecast_form.inputs["city"].comm is None  # closed
    runner.options.add("n", "3")
    runner.text.value = "hi"
    assert runner.run().data == {"n": 3}  # type: ignore[union-attr]
    assert form_of(runner, "TUNE") is not forecast_form


def test_refresh_keeps_what_was_typed_and_clear_resets_it(runner: ActionRunner) -> None:
    form = form_of(runner, "FORECAST")
    form.inputs["city"].value = "Oslo"
    runner.refresh()
    assert runner.form is form and form.inputs["city"].value == "Oslo"
    runner.clear()
    assert runner.form is not form and runner.form is not None
    assert runner.form.inputs["city"].value == ""


def test_a_new_model_for_the_action_gets_a_new_form(
    runner: ActionRunner, runtime: AgentRuntime
) -> None:
    old = form_of(runner, "FORECAST")

    class Other(BaseModel):
        place: str

    again = action(name="FORECAST", parameters=Other)(_report)
    runtime.run_sync(runtime.register_plugin(Plugin(name="w", actions=[again, echo])))
    runner.refresh()
    assert runner.form is not old and runner.form is not None
    assert list(runner.form.inputs) == ["place"]


def test_the_form_alone(runtime: AgentRuntime) -> None:
    form = ParametersForm(Forecast)
    form.inputs["city"].value = "Oslo"
    assert form.value == {"city": "Oslo", "days": 3, "unit": "C"}
    form.close()
    assert form.comm is None and form.inputs["days"].comm is None
