"""The plugin model: Action, Provider, Evaluator, Plugin, decorators, callbacks, return folding."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from eliza_nb import (
    Action,
    ActionExample,
    ActionResult,
    AgentRuntime,
    Client,
    Content,
    Evaluator,
    Plugin,
    PluginConfig,
    Provider,
    Service,
    ValidationError,
    action,
    evaluator,
    provider,
)


def sync_handler(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "sync"


async def async_handler(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "async"


class AsyncCallable:
    async def __call__(self, *args: Any) -> str:
        return "callable"


# -- decorators ---------------------------------------------------------------------------------


class TestActionDecorator:
    def test_defaults_from_the_function(self) -> None:
        @action()
        def fetch_data(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
            """Fetch the data."""

        assert isinstance(fetch_data, Action)
        assert fetch_data.name == "FETCH_DATA"
        assert fetch_data.description == "Fetch the data."
        assert fetch_data.similes == []
        assert fetch_data.examples == []
        assert fetch_data.validate is None
        assert fetch_data.handler_is_async is False

    def test_explicit_fields(self) -> None:
        @action(
            name="MY_ACTION",
            description="Does it",
            similes=["DO_IT"],
            examples=[
                [
                    {"user": "{{user1}}", "content": {"text": "do it"}},
                    {"user": "agent", "content": {"text": "done", "action": "MY_ACTION"}},
                ]
            ],
            timeout=2.5,
        )
        async def handler(*args: Any) -> None:
            """Ignored: an explicit description wins."""

        assert handler.name == "MY_ACTION"
        assert handler.description == "Does it"
        assert handler.similes == ["DO_IT"]
        assert handler.timeout == 2.5
        assert handler.handler_is_async is True
        turn = handler.examples[0][1]
        assert isinstance(turn, ActionExample)
        assert turn.content.action == "MY_ACTION"

    def test_bare_decorator_without_parentheses(self) -> None:
        @action
        def ping(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
            return "pong"

        assert isinstance(ping, Action)
        assert ping.name == "PING"

    def test_validator_decorator_sync_and_async(self) -> None:
        @action()
        def ping(*args: Any) -> None: ...

        @ping.validator
        def check(runtime: Any, message: Any, state: Any) -> bool:
            return True

        assert ping.validate is check
        assert ping.validate_is_async is False

        @ping.validator
        async def acheck(runtime: Any, message: Any, state: Any) -> bool:
            return True

        assert ping.validate is acheck
        assert ping.validate_is_async is True

    def test_validator_must_be_callable(self) -> None:
        @action()
        def ping(*args: Any) -> None: ...

        with pytest.raises(ValidationError, match="'validate'") as info:
            ping.validator(42)  # type: ignore[type-var]
        assert info.value.field == "validate"


def test_provider_decorator() -> None:
    @provider()
    async def time_of_day(runtime: Any, message: Any, state: Any) -> str:
        """The time of day."""
        return "noon"

    assert isinstance(time_of_day, Provider)
    assert time_of_day.name == "time_of_day"
    assert time_of_day.description == "The time of day."
    assert time_of_day.get_is_async is True

    @provider("WEATHER", description="Weather")
    def weather(runtime: Any, message: Any, state: Any) -> str:
        return "sunny"

    assert (weather.name, weather.description, weather.get_is_async) == (
        "WEATHER",
        "Weather",
        False,
    )


def test_evaluator_decorator() -> None:
    @evaluator(similes=["THINK"], always_run=True)
    def reflect(*args: Any) -> None:
        """Reflect on the conversation."""

    assert isinstance(reflect, Evaluator)
    assert reflect.name == "REFLECT"
    assert reflect.similes == ["THINK"]
    assert reflect.always_run is True
    assert reflect.description == "Reflect on the conversation."

    @reflect.validator
    def check(*args: Any) -> bool:
        return False

    assert reflect.validate is check


# -- sync or async, decided once ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "is_async"),
    [
        (sync_handler, False),
        (async_handler, True),
        (functools.partial(async_handler), True),
        (functools.partial(functools.partial(sync_handler)), False),
        (AsyncCallable(), True),
        (lambda *a: None, False),
    ],
    ids=["sync", "async", "partial-async", "partial-sync", "async-callable", "lambda"],
)
def test_async_is_decided_at_creation(fn: Any, is_async: bool) -> None:
    assert Action(name="A", handler=fn).handler_is_async is is_async
    assert Action(name="A", handler=sync_handler, validate=fn).validate_is_async is is_async
    assert Provider(name="p", get=fn).get_is_async is is_async


# -- bad input: each error names the field ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"name": ""}, "name", "non-empty"),
        ({"name": "   "}, "name", "non-empty"),
        ({"name": 7}, "name", "non-empty"),
        ({"handler": None}, "handler", "is required"),
        ({"handler": "not a function"}, "handler", "must be callable, got str"),
        ({"validate": 3}, "validate", "must be callable"),
        ({"similes": "ECHO"}, "similes", "list of strings"),
        ({"similes": ["OK", ""]}, "similes", "non-empty strings"),
        ({"similes": [1]}, "similes", "non-empty strings"),
        ({"examples": "hi"}, "examples", "list of conversations"),
        ({"examples": [{"user": "u"}]}, "examples", "item 0 must be a list of turns"),
        ({"examples": [[{"user": "u"}]]}, "examples", "content"),
        ({"examples": [[{"user": "u", "content": 5}]]}, "examples", "content"),
        ({"examples": [[], ["turn"]]}, "examples", "item 1"),
        ({"description": None}, "description", "must be a string"),
        ({"timeout": 0}, "timeout", "positive"),
        ({"timeout": "1"}, "timeout", "positive"),
    ],
)
def test_bad_action_fields(kwargs: dict[str, Any], field: str, words: str) -> None:
    fields: dict[str, Any] = {"name": "ECHO", "handler": sync_handler, **kwargs}
    with pytest.raises(ValidationError) as info:
        Action(**fields)
    assert info.value.field == field
    assert f"'{field}'" in info.value.message
    assert words in info.value.message


def test_bad_action_error_names_the_action() -> None:
    with pytest.raises(ValidationError, match="Action 'ECHO'"):
        Action(name="ECHO", handler=None)


def test_decorator_with_bad_examples_raises_at_definition() -> None:
    with pytest.raises(ValidationError, match="examples"):

        @action(examples=["not a conversation"])
        def ping(*args: Any) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "p", "version": "1.0"}, "version"),
        ({"name": "p", "version": 1}, "version"),
        ({"name": "p", "config": {"required": "API_KEY"}}, "config.required"),
        ({"name": "p", "config": {"requried": ["API_KEY"]}}, "config.requried"),
        ({"name": "p", "config": ["API_KEY"]}, "config"),
        ({"name": "p", "on_load": "load"}, "on_load"),
        ({"name": "p", "on_error": 1}, "on_error"),
        ({"name": "p", "actions": None}, "actions"),
        ({"name": "p", "providers": "weather"}, "providers"),
        ({"name": "p", "services": 3}, "services"),
    ],
)
def test_bad_plugin_fields(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Plugin(**kwargs)
    assert info.value.field == field
    assert f"'{field}'" in info.value.message
    if kwargs["name"]:
        assert "Plugin 'p'" in info.value.message
        assert info.value.plugin == "p"


def test_provider_and_evaluator_need_callables() -> None:
    with pytest.raises(ValidationError, match="'get'"):
        Provider(name="p")
    with pytest.raises(ValidationError, match="'name'"):
        Provider(name="", get=sync_handler)
    with pytest.raises(ValidationError, match="'handler'"):
        Evaluator(name="E")
    with pytest.raises(ValidationError, match="'validate'"):
        Evaluator(name="E", handler=sync_handler, validate=5)
    with pytest.raises(ValidationError, match="'examples'"):
        Evaluator(name="E", handler=sync_handler, examples=[["x"]])


def test_plugin_defaults_and_config_dict() -> None:
    p = Plugin(name="p", config={"required": ["API_KEY"], "defaults": {"REGION": "eu"}})
    assert p.version == "0.1.0"
    assert isinstance(p.config, PluginConfig)
    assert p.config.required == ["API_KEY"]
    assert p.config.defaults == {"REGION": "eu"}
    assert Plugin(name="q", version="1.2.3-beta.1").version == "1.2.3-beta.1"
    assert Plugin(name="q", actions=()).actions == []


def test_plugin_repr_masks_secret_defaults() -> None:
    p = Plugin(
        name="p",
        config=PluginConfig(
            defaults={"API_KEY": "sk-default-123", "MODE": "x", "DB": "pw-9"}, secrets=["DB"]
        ),
    )
    text = repr(p)
    assert "sk-default-123" not in text
    assert "pw-9" not in text
    assert "MODE" in text


def test_service_and_client_are_abstract() -> None:
    with pytest.raises(TypeError):
        Service()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        Client()  # type: ignore[abstract]

    class Minimal(Service):
        service_type = "minimal"

        async def initialize(self, runtime: AgentRuntime) -> None:
            pass

    assert Minimal().service_type == "minimal"


# -- callback and return folding, as the runtime applies them ------------------------------------


async def run_handler(runtime: AgentRuntime, handler: Any, text: str = "hi") -> ActionResult:
    await runtime.register_action(Action(name="UNDER_TEST", handler=handler))
    return await runtime.execute_action("UNDER_TEST", text)


async def test_callback_called_without_await_in_a_sync_handler(runtime: AgentRuntime) -> None:
    def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        callback({"text": "first"})
        callback("second")
        callback(Content(text="third", action="X"))

    result = await run_handler(runtime, handler)
    assert result.success
    assert [c.text for c in result.responses] == ["first", "second", "third"]
    assert result.responses[2].action == "X"
    assert result.text == "third", "with no return value, the last response is the text"


async def test_callback_awaited_in_an_async_handler(runtime: AgentRuntime) -> None:
    async def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        returned = await callback({"text": f"echo {message.content.text}"}, ["file.png"])
        assert returned is None

    result = await run_handler(runtime, handler, "hello")
    assert result.responses == [Content(text="echo hello", attachments=["file.png"])]


async def test_callback_records_at_once_even_if_the_handler_fails(runtime: AgentRuntime) -> None:
    def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        callback("partial")
        raise RuntimeError("later failure")

    result = await run_handler(runtime, handler)
    assert not result.success
    assert [c.text for c in result.responses] == ["partial"]


async def test_callback_with_a_bad_value_fails_the_run(runtime: AgentRuntime) -> None:
    def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        callback(42)

    result = await run_handler(runtime, handler)
    assert result.error_code == "HANDLER_ERROR"
    assert result.error is not None
    assert "callback expects Content, dict or str, got int" in result.error.message


@pytest.mark.parametrize(
    ("returned", "success", "text", "data"),
    [
        (None, True, None, None),
        (True, True, None, None),
        ("plain text", True, "plain text", None),
        (Content(text="content text"), True, "content text", None),
        (Content(text="t", mood="happy"), True, "t", {"mood": "happy"}),
        ({"text": "dict text", "score": 3}, True, "dict text", {"score": 3}),
        ({"success": True, "text": "ok", "data": [1, 2]}, True, "ok", [1, 2]),
        ({"success": True, "values": {"k": "v"}}, True, None, None),
        ({"success": True, "values": {"k": "v"}, "data": {"d": 1}}, True, None, {"d": 1}),
        ({"success": False, "error": "quota exceeded"}, False, None, None),
        ({"error": "no success key but an error"}, False, None, None),
        ({"success": False}, False, None, None),
        (False, False, None, None),
        (42, True, None, 42),
        ([1, 2], True, None, [1, 2]),
    ],
    ids=repr,
)
async def test_return_values_fold_into_the_result(
    runtime: AgentRuntime, returned: Any, success: bool, text: str | None, data: Any
) -> None:
    def handler(*args: Any) -> Any:
        return returned

    result = await run_handler(runtime, handler)
    assert result.success is success
    assert result.text == text
    assert result.data == data
    if not success:
        assert result.error_code == "HANDLER_ERROR"
        assert result.error is not None and result.error.message


async def test_failure_message_from_a_result_dict(runtime: AgentRuntime) -> None:
    result = await run_handler(runtime, lambda *a: {"success": False, "error": "quota exceeded"})
    assert result.error is not None
    assert result.error.message == "quota exceeded"
    assert runtime.errors_frame()["message"].tolist() == ["quota exceeded"]


async def test_returning_an_action_result(runtime: AgentRuntime) -> None:
    inner = ActionResult(1, "OTHER", "p", True, "from inner", {"x": 1})
    result = await run_handler(runtime, lambda *a: inner)
    assert (result.success, result.text, result.data) == (True, "from inner", {"x": 1})
    assert result.action == "UNDER_TEST"


async def test_sync_handler_returning_a_coroutine_is_awaited(runtime: AgentRuntime) -> None:
    # A lambda or wrapper around an async function: not async itself, but its value is.
    result = await run_handler(runtime, lambda *a: async_handler(*a))
    assert result.success
    assert result.text == "async"


async def test_handler_gets_runtime_message_state_options(runtime: AgentRuntime) -> None:
    seen: dict[str, Any] = {}

    async def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        seen.update(rt=rt, text=message.content.text, state=state, options=options)

    await runtime.register_action(Action(name="SEE", handler=handler))
    await runtime.execute_action("SEE", "look", options={"k": 1})
    assert seen == {"rt": runtime, "text": "look", "state": None, "options": {"k": 1}}


async def test_a_result_without_text_takes_the_first_reply(runtime: AgentRuntime) -> None:
    """The README's quickstart: callback the greeting, then return success and data."""

    async def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        await callback({"text": "Hello, Ada!"})
        await callback({"text": "(logged the greeting)"})
        return {"success": True, "data": {"greeted": "Ada"}}

    result = await run_handler(runtime, handler)
    assert (result.success, result.text, result.data) == (True, "Hello, Ada!", {"greeted": "Ada"})
    assert "text='Hello, Ada!'" in repr(result)


@pytest.mark.parametrize(
    ("returned", "text"),
    [
        ({"success": True, "text": "from the result"}, "from the result"),
        ({"success": True, "text": ""}, ""),  # an explicit text, even empty, is the text
        ("a string", "a string"),
        ({"greeted": "Ada"}, "reply"),  # content without text
        ({"success": False, "error": "nope"}, "reply"),
    ],
)
async def test_a_returned_text_wins_over_the_replies(
    runtime: AgentRuntime, returned: Any, text: str
) -> None:
    def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        callback({"text": "reply"})
        return returned

    assert (await run_handler(runtime, handler)).text == text


async def test_no_reply_and_no_text_leaves_the_text_empty(runtime: AgentRuntime) -> None:
    def handler(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
        callback({"text": ""})
        return {"success": True}

    assert (await run_handler(runtime, handler)).text is None
