"""elizaOS 1.7 shapes: provider results and composition, action chains, typed parameters."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, field_validator

from eliza_nb import (
    Action,
    ActionContext,
    ActionPlan,
    AgentRuntime,
    InvalidParametersError,
    Plugin,
    Provider,
    ProviderResult,
    State,
    ValidationError,
    action,
    provider,
)
from eliza_nb.parameters import check_options, describe_parameters, parameter_fields


# -- providers ----------------------------------------------------------------------------
def result_provider(name: str, position: int = 0, **flags: Any) -> Provider:
    def get(rt: Any, message: Any, state: Any) -> ProviderResult:
        return ProviderResult(text=f"{name} text", values={name.lower(): 1}, data={"by": name})

    return Provider(name=name, get=get, position=position, **flags)


async def test_provider_results_compose_in_position_order(runtime: AgentRuntime) -> None:
    providers = [
        result_provider("LATE", position=10),
        result_provider("EARLY", position=-5),
        result_provider("MIDDLE_A"),
        result_provider("MIDDLE_B"),  # a tie keeps registration order
    ]
    await runtime.register_plugin(Plugin(name="p", providers=providers))
    state = await runtime.compose_state("hi")
    assert state.text == "EARLY text\n\nMIDDLE_A text\n\nMIDDLE_B text\n\nLATE text"
    assert state.values == {"late": 1, "early": 1, "middle_a": 1, "middle_b": 1}
    assert list(state.data["providers"]) == ["EARLY", "MIDDLE_A", "MIDDLE_B", "LATE"]
    assert state.data["providers"]["LATE"] == ProviderResult(
        text="LATE text", values={"late": 1}, data={"by": "LATE"}
    )


async def test_a_dict_with_result_keys_is_a_result_and_any_other_value_is_kept_whole(
    runtime: AgentRuntime,
) -> None:
    providers = [
        Provider(name="AS_DICT", get=lambda *a: {"text": "from a dict", "values": {"k": "v"}}),
        Provider(name="plain", get=lambda *a: {"not": "a result"}),
        Provider(name="nothing", get=lambda *a: None),
    ]
    await runtime.register_plugin(Plugin(name="p", providers=providers))
    state = await runtime.compose_state("hi")
    assert state.values == {"k": "v", "plain": {"not": "a result"}, "nothing": None}
    assert state.text == "from a dict\n\n## plain\n{'not': 'a result'}"


async def test_private_and_dynamic_providers_only_when_asked_for(runtime: AgentRuntime) -> None:
    providers = [
        result_provider("ALWAYS"),
        result_provider("SECRET_SAUCE", private=True),
        result_provider("ON_DEMAND", dynamic=True),
    ]
    await runtime.register_plugin(Plugin(name="p", providers=providers))
    assert list((await runtime.compose_state("hi")).data["providers"]) == ["ALWAYS"]
    state = await runtime.compose_state("hi", ["secret_sauce", "ON_DEMAND"])
    assert list(state.data["providers"]) == ["ALWAYS", "SECRET_SAUCE", "ON_DEMAND"]
    only = await runtime.compose_state("hi", ["ON_DEMAND"], only_include=True)
    assert list(only.data["providers"]) == ["ON_DEMAND"]
    assert only.text == "ON_DEMAND text"


@pytest.mark.parametrize(
    ("include", "match"),
    [
        ("ALWAYS", "include must be a list of provider names"),
        (["NOPE"], r"include names no provider 'NOPE' \(providers: ALWAYS\)"),
        ([3], "include names no provider 3"),
    ],
)
async def test_bad_include_is_a_clear_error(
    runtime: AgentRuntime, include: Any, match: str
) -> None:
    await runtime.register_plugin(Plugin(name="p", providers=[result_provider("ALWAYS")]))
    with pytest.raises(ValidationError, match=match) as info:
        await runtime.compose_state("hi", include)
    assert info.value.field == "include"


async def test_failing_slow_and_malformed_providers_are_recorded_and_left_out(
    runtime: AgentRuntime,
) -> None:
    async def hang(*args: Any) -> str:
        await asyncio.Event().wait()
        return "never"

    def boom(*args: Any) -> str:
        raise ConnectionError("feed down")

    providers = [
        Provider(name="SLOW", get=hang),
        Provider(name="BOOM", get=boom),
        Provider(name="BAD", get=lambda *a: {"text": 42}),
        result_provider("FINE"),
    ]
    await runtime.register_plugin(Plugin(name="p", providers=providers))
    await runtime.set_setting("PROVIDER_TIMEOUT", 0.05)
    state = await runtime.compose_state("hi")
    assert list(state.data["providers"]) == ["FINE"] and state.text == "FINE text"
    errors = runtime.errors_frame()
    assert sorted(zip(errors["action"], errors["code"], strict=True)) == [
        ("BAD", "PROVIDER_ERROR"),
        ("BOOM", "PROVIDER_ERROR"),
        ("SLOW", "TIMEOUT"),
    ]
    bad = errors[errors["action"] == "BAD"]["message"].iloc[0]
    assert "provider BAD's result" in bad and "text" in bad
    assert (
        "raise the PROVIDER_TIMEOUT setting"
        in errors[errors["action"] == "SLOW"]["message"].iloc[0]
    )


async def test_provider_results_are_masked(runtime: AgentRuntime) -> None:
    await runtime.set_setting("API_KEY", "sk-very-secret-value")

    def leak(rt: Any, message: Any, state: Any) -> ProviderResult:
        key = rt.get_setting("API_KEY")
        return ProviderResult(text=f"key {key}", values={"key": key}, data={"raw": [key]})

    await runtime.register_plugin(Plugin(name="p", providers=[Provider(name="LEAK", get=leak)]))
    state = await runtime.compose_state("hi")
    assert "sk-very-secret-value" not in repr(state.model_dump())
    assert state.text == "key ***"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"position": "1"}, "'position' must be an integer"),
        ({"position": True}, "'position' must be an integer"),
        ({"dynamic": "yes"}, "'dynamic' must be True or False"),
        ({"private": 1}, "'private' must be True or False"),
    ],
)
def test_bad_provider_flags_are_refused(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Provider(name="P", get=lambda *a: None, **fields)


def test_the_provider_decorator_takes_the_flags() -> None:
    @provider(name="LATE", position=3, dynamic=True, private=True)
    def late(rt: Any, message: Any, state: Any) -> str:
        return "x"

    assert (late.position, late.dynamic, late.private) == (3, True, True)


# -- chains -------------------------------------------------------------------------------
seen: list[tuple[str, ActionContext, ActionPlan, dict[str, Any]]] = []


def step(name: str, *, ok: bool = True, continue_on_error: bool = False) -> Action:
    def handler(rt: Any, message: Any, state: State, options: Any, callback: Any) -> Any:
        plan = options["action_plan"]
        seen.append((name, options["action_context"], plan, dict(state.values)))
        return {"success": ok, "text": f"{name} ran", "values": {name.lower(): plan.current_step}}

    return Action(name=name, handler=handler, continue_on_error=continue_on_error)


@pytest.fixture
async def chain_runtime(runtime: AgentRuntime) -> AgentRuntime:
    seen.clear()
    actions = [step("FIRST"), step("SECOND"), step("FAILS", ok=False)]
    actions.append(step("TOLERATED", ok=False, continue_on_error=True))
    await runtime.register_plugin(Plugin(name="chain", actions=actions))
    return runtime


async def test_each_step_sees_the_results_and_values_before_it(
    chain_runtime: AgentRuntime,
) -> None:
    results = await chain_runtime.execute_actions(["FIRST", "second"], "go", {"tone": "dry"})
    assert [(r.action, r.success, r.values) for r in results] == [
        ("FIRST", True, {"first": 1}),
        ("SECOND", True, {"second": 2}),
    ]
    (_, ctx1, plan, values1), (_, ctx2, _, values2) = seen
    assert ctx1.previous_results == () and ctx1.get_previous_result("FIRST") is None
    assert ctx2.get_previous_result("first") is results[0]
    assert "first" not in values1 and values2["first"] == 1
    assert (plan.total_steps, plan.current_step) == (2, 2)
    assert [(s.action, s.status) for s in plan.steps] == [
        ("FIRST", "completed"),
        ("SECOND", "completed"),
    ]
    assert len(chain_runtime.metrics_frame()) == 2  # every step is a recorded run


async def test_a_failed_step_stops_the_chain_unless_it_continues_on_error(
    chain_runtime: AgentRuntime,
) -> None:
    results = await chain_runtime.execute_actions(["FIRST", "FAILS", "SECOND"], "go")
    assert [(r.action, r.error_code) for r in results] == [
        ("FIRST", None),
        ("FAILS", "HANDLER_ERROR"),
    ]
    plan = seen[-1][2]
    assert [s.status for s in plan.steps] == ["completed", "failed", "skipped"]
    results = await chain_runtime.execute_actions(["TOLERATED", "SECOND"], "go")
    assert [(r.action, r.success) for r in results] == [("TOLERATED", False), ("SECOND", True)]


async def test_an_unknown_step_is_a_recorded_failure_that_stops_the_chain(
    chain_runtime: AgentRuntime,
) -> None:
    results = await chain_runtime.execute_actions(["FIRST", "FLY", "SECOND"], "go")
    assert [(r.action, r.error_code) for r in results] == [
        ("FIRST", None),
        ("FLY", "ACTION_NOT_FOUND"),
    ]
    assert chain_runtime.errors_frame()["code"].tolist() == ["ACTION_NOT_FOUND"]


@pytest.mark.parametrize(
    ("names", "options", "match"),
    [
        ("FIRST", None, "names must be a list of action names"),
        (["FIRST", ""], None, "names must hold non-empty action names"),
        (["FIRST", 3], None, "names must hold non-empty action names"),
        (["FIRST"], ["x"], "options must be a dict"),
        (["FIRST"], {"action_plan": 1}, "options must not set action_plan"),
    ],
)
async def test_bad_chains_are_refused_before_any_step(
    chain_runtime: AgentRuntime, names: Any, options: Any, match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        await chain_runtime.execute_actions(names, "go", options)
    assert chain_runtime.metrics_frame().empty


async def test_an_empty_chain_runs_nothing(chain_runtime: AgentRuntime) -> None:
    assert await chain_runtime.execute_actions([], "go") == []


# -- typed parameters ---------------------------------------------------------------------
class Unit(Enum):
    C = "celsius"
    F = "fahrenheit"


class Forecast(BaseModel):
    city: str = Field(description="Where")
    days: int = 3
    unit: Unit = Unit.C
    mode: Literal["brief", "full"] = "brief"
    alerts: bool = False
    note: str | None = None

    @field_validator("city")
    @classmethod
    def _known(cls, value: str) -> str:
        if value == "Atlantis":
            raise ValueError("no such city")
        return value


@action(name="FORECAST", parameters=Forecast)
def forecast(rt: Any, message: Any, state: Any, options: dict[str, Any], callback: Any) -> str:
    params = options["parameters"]
    assert isinstance(params, Forecast)
    return f"{params.city}: {params.days} days in {params.unit.value}"


async def test_typed_options_are_validated_and_handed_over(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="weather", actions=[forecast]))
    result = await runtime.execute_action("FORECAST", options={"city": "Oslo", "days": "2"})
    assert (result.success, result.text) == (True, "Oslo: 2 days in celsius")


@pytest.mark.parametrize(
    ("options", "lines"),
    [
        ({}, ["city: Field required"]),
        (
            {"city": "Oslo", "days": "soon", "unit": "kelvin"},
            [
                "days: Input should be a valid integer, unable to parse string as an integer "
                "(got 'soon')",
                "unit: Input should be 'celsius' or 'fahrenheit' (got 'kelvin')",
            ],
        ),
        ({"city": "Atlantis"}, ["city: Value error, no such city (got 'Atlantis')"]),
    ],
)
async def test_invalid_options_fail_with_one_line_per_field(
    runtime: AgentRuntime, options: dict[str, Any], lines: list[str]
) -> None:
    await runtime.register_plugin(Plugin(name="weather", actions=[forecast]))
    result = await runtime.execute_action("FORECAST", options=options)
    assert (result.success, result.error_code) == (False, "INVALID_PARAMETERS")
    assert result.error is not None
    assert result.error.message.split("\n") == ["invalid parameters for FORECAST:", *lines]
    assert result.error.traceback == ""
    assert [e["field"] for e in result.data["errors"]] == [line.split(":")[0] for line in lines]
    assert runtime.errors_frame()["code"].tolist() == ["INVALID_PARAMETERS"]
    with pytest.raises(InvalidParametersError, match="invalid parameters for FORECAST"):
        result.raise_for_error()


async def test_untyped_actions_keep_free_form_options(runtime: AgentRuntime) -> None:
    @action()
    def free(rt: Any, message: Any, state: Any, options: dict[str, Any], callback: Any) -> Any:
        return sorted(options)

    await runtime.register_plugin(Plugin(name="p", actions=[free]))
    assert (await runtime.execute_action("FREE", options={"b": 1, "a": 2})).data == ["a", "b"]


def test_parameters_describe_themselves_for_forms_and_listings() -> None:
    assert describe_parameters(Forecast) == (
        "city: str (required), days: int = 3, unit: Unit = <Unit.C: 'celsius'>, "
        "mode: Literal['brief', 'full'] = 'brief', alerts: bool = False, note: str | None = None"
    )
    kinds = {f.name: (f.kind, f.required, f.default, f.choices) for f in parameter_fields(Forecast)}
    assert kinds == {
        "city": ("text", True, None, ()),
        "days": ("integer", False, 3, ()),
        "unit": ("choice", False, Unit.C, (Unit.C, Unit.F)),
        "mode": ("choice", False, "brief", ("brief", "full")),
        "alerts": ("boolean", False, False, ()),
        "note": ("text", False, None, ()),
    }
    assert parameter_fields(Forecast)[0].description == "Where"
    assert describe_parameters(None) == ""


def test_reserved_options_are_not_validated() -> None:
    model = check_options(Forecast, {"city": "Oslo", "action_plan": object()})
    assert model == Forecast(city="Oslo")


@pytest.mark.parametrize("bad", [dict, "Forecast", Forecast(city="x")])
def test_parameters_must_be_a_model_class(bad: Any) -> None:
    with pytest.raises(ValidationError, match="'parameters' must be a pydantic model class"):
        Action(name="A", handler=lambda *a: None, parameters=bad)


def test_continue_on_error_must_be_a_bool() -> None:
    with pytest.raises(ValidationError, match="'continue_on_error' must be True or False"):
        Action(name="A", handler=lambda *a: None, continue_on_error="yes")  # type: ignore[arg-type]


async def test_a_typed_step_of_a_chain_gets_its_parameters(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="weather", actions=[forecast]))
    (result,) = await runtime.execute_actions(["FORECAST"], "go", {"city": "Rome"})
    assert result.text == "Rome: 3 days in celsius"


@settings(max_examples=60, deadline=None)
@given(positions=st.lists(st.integers(-5, 5), min_size=1, max_size=8))
def test_composition_order_is_position_then_registration(positions: list[int]) -> None:
    rt = AgentRuntime(use_env=False)
    try:
        providers = [result_provider(f"P{i}", position=p) for i, p in enumerate(positions)]
        rt.run_sync(rt.register_plugin(Plugin(name="p", providers=providers)))
        state = rt.run_sync(rt.compose_state("hi"))
        expected = sorted(range(len(positions)), key=lambda i: positions[i])
        assert list(state.data["providers"]) == [f"P{i}" for i in expected]
        assert state.text == "\n\n".join(f"P{i} text" for i in expected)
    finally:
        rt.close()


@settings(max_examples=60, deadline=None)
@given(outcomes=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_a_chain_runs_up_to_its_first_intolerable_failure(
    outcomes: list[tuple[bool, bool]],
) -> None:
    actions = [
        step(f"S{i}", ok=ok, continue_on_error=tolerant)
        for i, (ok, tolerant) in enumerate(outcomes)
    ]
    rt = AgentRuntime(use_env=False)
    try:
        rt.run_sync(rt.register_plugin(Plugin(name="p", actions=actions)))
        results = rt.run_sync(rt.execute_actions([a.name for a in actions], "go"))
        stop = next((i for i, (ok, tol) in enumerate(outcomes) if not ok and not tol), None)
        ran = len(outcomes) if stop is None else stop + 1
        assert [r.action for r in results] == [a.name for a in actions[:ran]]
        assert [r.success for r in results] == [ok for ok, _ in outcomes[:ran]]
    finally:
        rt.close()


async def test_an_unknown_step_suggests_the_closest_names(chain_runtime: AgentRuntime) -> None:
    (result,) = await chain_runtime.execute_actions(["SECND"], "go")
    assert result.error is not None
    assert result.error.message == "No action named 'SECND'. Did you mean: SECOND?"


def test_a_failing_default_factory_is_shown_not_raised() -> None:
    def broken() -> int:
        raise RuntimeError("no default today")

    class Odd(BaseModel):
        n: int = Field(default_factory=broken)

    assert describe_parameters(Odd) == "n: int = '<default_factory failed: RuntimeError>'"


async def test_a_given_state_is_not_changed_by_the_chain(chain_runtime: AgentRuntime) -> None:
    state = await chain_runtime.compose_state("go")
    before = (dict(state.values), dict(state.data))
    await chain_runtime.execute_actions(["FIRST", "SECOND"], "go", state=state)
    assert (state.values, state.data) == before
    with pytest.raises(ValidationError, match="state must be a State from compose_state"):
        await chain_runtime.execute_actions(["FIRST"], "go", state={"values": {}})  # type: ignore[arg-type]
