"""The agent loop: prompt, decision parsing, actions, evaluators, memories, and every failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import (
    AgentRuntime,
    ApiError,
    Character,
    ModelNotFoundError,
    Plugin,
    action,
    evaluator,
    provider,
)
from eliza_nb.agent import Decision, DecisionParseError, parse_decision, render_prompt, respond
from eliza_nb.testing import DeterministicModel


@action(similes=["HELLO"], description="Greet the user warmly")
async def greet(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await callback({"text": "Greetings! I am fluent in over six million forms of communication."})


@action(name="TRANSLATE", description="Translate a phrase")
def translate(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "Translated."


@action(name="BROKEN", description="Always fails")
def broken(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("handler failed")


@provider(name="time")
def clock(runtime: Any, message: Any, state: Any) -> str:
    return f"token={runtime.get_setting('SERVICE_TOKEN')}"


reflections: list[str] = []


@evaluator(always_run=True, description="Remembers what was said")
def reflect(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    reflections.append(message.content.text)


def decision(text: str = "", *actions: str, thought: str = "") -> str:
    return json.dumps({"thought": thought, "text": text, "actions": list(actions)})


@pytest.fixture(autouse=True)
def _clear_reflections() -> None:
    reflections.clear()


@pytest.fixture
def c3po(fixtures_dir: Path) -> Character:
    return Character.from_file(fixtures_dir / "c3po.character.json")


@pytest.fixture
async def agent(c3po: Character) -> Any:
    rt = AgentRuntime(character=c3po, settings={"SERVICE_TOKEN": "tok-secret-42"}, use_env=False)
    await rt.register_plugin(
        Plugin(
            name="protocol",
            actions=[greet, translate, broken],
            providers=[clock],
            evaluators=[reflect],
        )
    )
    yield rt
    await rt.aclose()


async def with_model(rt: AgentRuntime, *replies: Any, **kw: Any) -> DeterministicModel:
    model = DeterministicModel(replies, **kw)
    await rt.register_plugin(model.plugin)
    return model


def texts(rt: AgentRuntime) -> list[tuple[str, str]]:
    frame = rt.memories_frame()
    return list(zip(frame["user_id"], frame["text"], strict=True))


# -- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"thought": "t", "text": "hi", "actions": ["GREET"]}', Decision("t", "hi", ("GREET",))),
        ('Sure!\n```json\n{"text": "hi", "actions": []}\n```', Decision("", "hi", ())),
        ('{"text": "a", "action": "GREET, translate"}', Decision("", "a", ("GREET", "translate"))),
        ('{"actions": ["greet", "GREET", " "]}', Decision("", "", ("greet",))),
        ('{"actions": [{"name": "GREET"}]}', Decision("", "", ("GREET",))),
        ({"text": "from an object model"}, Decision("", "from an object model", ())),
        (
            "<response><thought>t</thought><actions>REPLY,GREET</actions><text>hi</text></response>",
            Decision("t", "hi", ("REPLY", "GREET")),
        ),
        ('noise {"unrelated": 1} then {"text": "x"}', Decision("", "x", ())),
    ],
)
def test_tolerated_answer_formats(answer: Any, expected: Decision) -> None:
    assert parse_decision(answer) == expected


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ("", "empty"),
        ("I would like to greet you.", "no JSON object"),
        ('{"text": "cut off", "actions": [', "no JSON object"),
        ('{"thought": "only a thought"}', "no JSON object"),
        ({"other": 1}, "neither 'text' nor 'actions'"),
        ('{"text": 42}', "'text' must be a string"),
        ('{"actions": 7}', "'actions' must be a list"),
        ('{"actions": [1]}', "'actions' must hold names"),
        (None, "expected text or a dict"),
    ],
)
def test_unparsable_answers(answer: Any, match: str) -> None:
    with pytest.raises(DecisionParseError, match=match):
        parse_decision(answer)


# -- the loop -----------------------------------------------------------------------------
async def test_without_a_text_model_routing_stays_rule_based(agent: AgentRuntime) -> None:
    results = await agent.process_message("hello there")
    assert [r.action for r in results] == ["GREET"]
    with pytest.raises(ModelNotFoundError):
        await respond(agent, agent.to_memory("hi"))


async def test_the_model_chooses_an_action_and_the_loop_runs_it(agent: AgentRuntime) -> None:
    model = await with_model(agent, decision("Oh my! Hello.", "GREET", thought="A greeting."))
    results = await agent.process_message("Good day, droid", room_id="bridge")
    assert [(r.action, r.plugin, r.success) for r in results] == [
        ("TEXT_LARGE", "deterministic-model", True),
        ("GREET", "protocol", True),
    ]
    assert results[0].text == "Oh my! Hello."
    assert results[0].data == {"thought": "A greeting.", "actions": ["GREET"], "providers": []}
    assert texts(agent) == [
        ("user", "Good day, droid"),
        ("C-3PO", "Oh my! Hello."),
        ("C-3PO", "Greetings! I am fluent in over six million forms of communication."),
    ]
    assert reflections == ["Good day, droid"]
    metrics = agent.metrics_frame()
    assert metrics[["action", "success", "room_id"]].values.tolist() == [
        ["TEXT_LARGE", True, "bridge"],
        ["GREET", True, "bridge"],
    ]
    params = next(p for kind, p in model.calls if kind == "TEXT_LARGE")
    assert params["message"] == "Good day, droid"
    assert params["actions"] == ["BROKEN", "GREET", "TRANSLATE"]


async def test_the_default_deterministic_answer_routes_by_keyword(agent: AgentRuntime) -> None:
    await with_model(agent)
    results = await agent.process_message("please translate this")
    assert [r.action for r in results] == ["TEXT_LARGE", "TRANSLATE"]
    assert results[0].text == "I heard: please translate this"
    results = await agent.process_message("just chatting")
    assert [r.action for r in results] == ["TEXT_LARGE"]


async def test_text_small_serves_when_there_is_no_large_model(agent: AgentRuntime) -> None:
    agent.register_model("TEXT_SMALL", lambda rt, params: decision("small model", "GREET"))
    results = await agent.process_message("hi")
    assert [r.action for r in results] == ["TEXT_SMALL", "GREET"]


async def test_several_actions_run_in_order(agent: AgentRuntime) -> None:
    await with_model(agent, decision("", "TRANSLATE", "REPLY", "greet"))
    results = await agent.process_message("go")
    assert [r.action for r in results] == ["TEXT_LARGE", "TRANSLATE", "GREET"]
    assert [t for _, t in texts(agent)] == [
        "go",
        "Translated.",
        "Greetings! I am fluent in over six million forms of communication.",
    ]


async def test_ignore_says_nothing(agent: AgentRuntime) -> None:
    await with_model(agent, decision("should not be stored", "IGNORE"))
    results = await agent.process_message("spam")
    assert [r.action for r in results] == ["TEXT_LARGE"]
    assert texts(agent) == [("user", "spam")]


async def test_an_unparsable_answer_is_a_parse_error_with_a_reply(agent: AgentRuntime) -> None:
    await with_model(agent, "I think I should greet them.")
    results = await agent.process_message("hello")
    step = results[0]
    assert (step.success, step.error_code) == (False, "PARSE_ERROR")
    assert step.text == "Sorry, I could not make sense of my model's answer (PARSE_ERROR)."
    assert len(results) == 1  # no action ran
    assert texts(agent)[-1] == ("C-3PO", step.text)
    err = agent.errors_frame().iloc[-1]
    assert (err["code"], err["action"], err["plugin"]) == (
        "PARSE_ERROR",
        "TEXT_LARGE",
        "deterministic-model",
    )
    assert "I think I should greet them." in err["message"]
    assert reflections == ["hello"]  # evaluators still run


async def test_an_unknown_action_is_recorded_answered_and_stops_the_chain(
    agent: AgentRuntime,
) -> None:
    await with_model(agent, decision("On it.", "FLY_SHIP", "GREET"))
    results = await agent.process_message("fly us out")
    assert [(r.action, r.success, r.error_code) for r in results] == [
        ("TEXT_LARGE", True, None),
        ("FLY_SHIP", False, "ACTION_NOT_FOUND"),
    ]
    reply = "Sorry, I cannot do FLY_SHIP: there is no such action (ACTION_NOT_FOUND)."
    assert results[1].responses[0].text == reply
    assert ("C-3PO", reply) in texts(agent)
    assert "ACTION_NOT_FOUND" in agent.errors_frame()["code"].tolist()


async def test_a_model_that_hangs_times_out(agent: AgentRuntime) -> None:
    async def hang(params: dict[str, Any]) -> str:
        await asyncio.Event().wait()
        return ""

    await with_model(agent, hang)
    await agent.set_setting("MODEL_TIMEOUT", "0.01")
    results = await agent.process_message("hello?")
    assert (results[0].success, results[0].error_code) == (False, "TIMEOUT")
    assert results[0].text == "Sorry, my model did not answer in time (TIMEOUT)."
    assert "within 0.01 s" in agent.errors_frame()["message"].iloc[-1]
    # the runtime is still usable, and the next answer is read normally
    await agent.set_setting("MODEL_TIMEOUT", 5)
    again = await agent.process_message("hello again")
    assert again[0].success


async def test_a_model_error_keeps_its_code(agent: AgentRuntime) -> None:
    await with_model(
        agent,
        ApiError("upstream 503", status=503, code="API_SERVER_ERROR"),
        RuntimeError("driver crashed"),
    )
    first = await agent.process_message("one")
    second = await agent.process_message("two")
    assert first[0].error_code == "API_SERVER_ERROR"
    assert first[0].text == "Sorry, my model failed (API_SERVER_ERROR): upstream 503"
    assert second[0].error_code == "MODEL_ERROR"
    assert "driver crashed" in agent.errors_frame()["message"].iloc[-1]


async def test_a_failing_action_stops_the_chain_not_the_loop(agent: AgentRuntime) -> None:
    await with_model(agent, decision("trying", "BROKEN", "GREET"), decision("again", "GREET"))
    results = await agent.process_message("try")
    assert [(r.action, r.error_code) for r in results] == [
        ("TEXT_LARGE", None),
        ("BROKEN", "HANDLER_ERROR"),
    ]
    assert reflections == ["try"]  # the evaluators still ran
    assert [r.action for r in await agent.process_message("and now")] == ["TEXT_LARGE", "GREET"]


async def test_a_bad_model_timeout_setting_falls_back(agent: AgentRuntime) -> None:
    await with_model(agent, decision("fine"))
    await agent.set_setting("MODEL_TIMEOUT", "soon")
    assert (await agent.process_message("x"))[0].success


async def test_the_prompt_renders_character_state_actions_and_format(agent: AgentRuntime) -> None:
    await agent.messages.create_memory("earlier words", room_id="default")
    msg = agent.to_memory("translate 'hello'")
    await agent.messages.create_memory(msg)
    state = await agent.compose_state(msg)
    prompt = render_prompt(agent.loop, state, msg)
    assert prompt.startswith("<task>Write the next message of C-3PO")
    assert "<character>\nC-3PO is a protocol droid" in prompt
    assert "- GREET: Greet the user warmly (also: HELLO)" in prompt
    assert "<conversation>\nuser: earlier words\nuser: translate 'hello'\n</conversation>" in prompt
    assert "<actions>ACTION1,ACTION2</actions>" in prompt
    assert "token=***" in prompt and "tok-secret-42" not in prompt
    assert prompt == await agent.render_prompt(msg)


async def test_a_runtime_without_character_is_named_by_its_agent_id() -> None:
    rt = AgentRuntime(use_env=False)
    model = await with_model(rt, decision("ok"))
    await rt.process_message("hi")
    prompt = next(p for k, p in model.calls if k == "TEXT_LARGE")["prompt"]
    assert prompt.startswith("<task>Write the next message of agent")
    assert "agent is a helpful agent." in prompt
    assert "(none: answer with text only, actions REPLY)" in prompt
    await rt.aclose()
