"""The elizaOS 1.7 agent loop: XML answers, should-respond, named providers, stage failures."""

from __future__ import annotations

from typing import Any

import pytest

from eliza_nb import (
    AgentRuntime,
    Character,
    Plugin,
    Provider,
    ProviderResult,
    action,
    evaluator,
)
from eliza_nb import prompts as prompts_module
from eliza_nb.testing import DeterministicModel


def xml(text: str = "", actions: str = "", providers: str = "", thought: str = "t") -> str:
    return (
        f"<response><thought>{thought}</thought><actions>{actions}</actions>"
        f"<providers>{providers}</providers><text>{text}</text></response>"
    )


def verdict(word: str) -> str:
    return f"<response><name>Ada</name><reasoning>r</reasoning><action>{word}</action></response>"


@action(description="Look the weather up")
def weather(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    forecast = state.data["providers"].get("FORECAST")
    seen_text = forecast.text if forecast is not None else "no forecast"
    return {"success": True, "text": seen_text, "values": {"looked_up": True}}


@action(description="Summarise what ran before")
def summarise(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    before = options["action_context"].get_previous_result("WEATHER")
    return f"summary of {before.text!r}, looked_up={state.values.get('looked_up')}"


evaluated: list[str] = []


@evaluator(always_run=True)
def note(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    evaluated.append(message.content.text)


def forecast(rt: Any, message: Any, state: Any) -> ProviderResult:
    return ProviderResult(text="Rain at noon.", values={"rain": True})


@pytest.fixture
async def agent() -> Any:
    evaluated.clear()
    rt = AgentRuntime(character=Character(name="Ada", bio=["Forecaster."]), use_env=False)
    plugin = Plugin(
        name="wx",
        actions=[weather, summarise],
        providers=[Provider(name="FORECAST", get=forecast, dynamic=True)],
        evaluators=[note],
    )
    await rt.register_plugin(plugin)
    yield rt
    await rt.aclose()


def asked(m: DeterministicModel) -> list[dict[str, Any]]:
    """The parameters of every text-model call (embeddings left out)."""
    return [params for kind, params in m.calls if kind in ("TEXT_SMALL", "TEXT_LARGE")]


async def model(rt: AgentRuntime, *replies: Any) -> DeterministicModel:
    m = DeterministicModel(replies)
    await rt.register_plugin(m.plugin)
    return m


async def test_an_xml_decision_composes_named_providers_and_runs_the_chain(
    agent: AgentRuntime,
) -> None:
    m = await model(agent, xml("Let me look.", "WEATHER,SUMMARISE", "FORECAST", "check wx"))
    results = await agent.process_message("will it rain?")
    assert [(r.action, r.success) for r in results] == [
        ("TEXT_LARGE", True),
        ("WEATHER", True),
        ("SUMMARISE", True),
    ]
    assert results[0].data == {
        "thought": "check wx",
        "actions": ["WEATHER", "SUMMARISE"],
        "providers": ["FORECAST"],
    }
    assert results[1].text == "Rain at noon."  # the dynamic provider the model asked for
    assert results[2].text == "summary of 'Rain at noon.', looked_up=True"
    assert evaluated == ["will it rain?"]
    frame = agent.memories_frame()
    assert frame["text"].tolist()[-3:] == ["Let me look.", results[1].text, results[2].text]
    (params,) = asked(m)
    assert params["stage"] == "message_handler"
    assert "FORECAST" not in params["prompt"].split("<providers>")[1].split("</providers>")[0]


async def test_reply_alone_says_the_text_and_runs_nothing(agent: AgentRuntime) -> None:
    await model(agent, xml("Hello &amp; welcome", "REPLY"))
    results = await agent.process_message("hi")
    assert [r.action for r in results] == ["TEXT_LARGE"]
    assert agent.memories_frame()["text"].tolist() == ["hi", "Hello & welcome"]


async def test_an_answer_with_no_response_block_is_a_parse_error(agent: AgentRuntime) -> None:
    await model(agent, "<thought>only a thought</thought>")
    (step,) = await agent.process_message("hi")
    assert (step.success, step.error_code) == (False, "PARSE_ERROR")
    assert evaluated == ["hi"]


async def test_the_deterministic_model_answers_in_xml_when_asked(agent: AgentRuntime) -> None:
    m = await model(agent)
    results = await agent.process_message("what's the weather like?")
    assert [r.action for r in results] == ["TEXT_LARGE", "WEATHER"]
    (params,) = asked(m)
    answer = prompts_module.parse_key_value_xml(await agent.use_model("TEXT_LARGE", params))
    assert answer is not None and answer["actions"] == ["WEATHER"]


# -- should respond -----------------------------------------------------------------------
@pytest.mark.parametrize("word", ["IGNORE", "STOP"])
async def test_should_respond_can_end_the_turn(agent: AgentRuntime, word: str) -> None:
    m = await model(agent, verdict(word), xml("never said", "REPLY"))
    await agent.set_setting("CHECK_SHOULD_RESPOND", "true")
    (gate,) = await agent.process_message("chatter")
    assert (gate.action, gate.success, gate.text) == ("TEXT_SMALL", True, None)
    assert gate.data == {"stage": "should_respond", "should_respond": word}
    assert agent.memories_frame()["text"].tolist() == ["chatter"]
    assert [p["stage"] for p in asked(m)] == ["should_respond"]
    assert evaluated == []


async def test_a_group_room_asks_first_and_respond_goes_on(agent: AgentRuntime) -> None:
    m = await model(agent, verdict("RESPOND"), xml("Sure.", "REPLY"))
    agent.mark_group("lobby")
    results = await agent.process_message("Ada, hello", room_id="lobby")
    assert [r.action for r in results] == ["TEXT_LARGE"]
    assert [p["stage"] for p in asked(m)] == ["should_respond", "message_handler"]
    assert "Ada" in asked(m)[0]["prompt"]
    await agent.process_message("direct", room_id="dm")  # not a group: no should-respond step
    assert [p["stage"] for p in asked(m)][-1] == "message_handler"
    assert len(asked(m)) == 3


async def test_a_group_message_by_channel_type_and_a_broken_gate_goes_on(
    agent: AgentRuntime,
) -> None:
    await model(agent, "no verdict here", xml("Answering anyway.", "REPLY"))
    results = await agent.process_message({"content": {"text": "hi", "channel_type": "GROUP"}})
    assert [r.action for r in results] == ["TEXT_LARGE"]
    assert agent.errors_frame()["code"].tolist() == ["PARSE_ERROR"]
    assert agent.metrics_frame()["action"].tolist() == ["TEXT_SMALL", "TEXT_LARGE"]


# -- each stage blamed for its own failure ------------------------------------------------
async def test_a_failing_state_is_a_state_error(
    agent: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = await model(agent, xml("x", "REPLY"))

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk gone")

    monkeypatch.setattr(agent.loop.messages, "get_memories", broken)
    (step,) = await agent.process_message("hi")
    assert step.error_code == "STATE_ERROR" and not asked(m)
    message = agent.errors_frame()["message"].iloc[-1]
    assert message == "composing the state failed before the model was asked: disk gone"


async def test_a_failing_prompt_is_a_prompt_error(
    agent: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = await model(agent, xml("x", "REPLY"))

    def broken(*args: Any) -> str:
        raise KeyError("template")

    monkeypatch.setattr(prompts_module, "compose_prompt", broken)
    (step,) = await agent.process_message("hi")
    assert (step.error_code, step.text) == (
        "PROMPT_ERROR",
        "Sorry, I could not write my model's prompt (PROMPT_ERROR).",
    )
    assert not asked(m)


async def test_an_unprintable_provider_value_does_not_blame_the_model(
    agent: AgentRuntime,
) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    await agent.register_provider(Provider(name="odd", get=lambda *a: Broken()))
    await model(agent, xml("fine", "REPLY"))
    (step,) = await agent.process_message("hi")
    assert step.success
    assert "<Broken: unprintable (RuntimeError)>" in await agent.render_prompt("hi")


async def test_a_failing_evaluator_is_an_evaluator_error(agent: AgentRuntime) -> None:
    @evaluator(always_run=True)
    def grumpy(*args: Any) -> None:
        raise ValueError("bad mood")

    await agent.register_evaluator(grumpy)
    await model(agent, xml("ok", "REPLY"))
    (step,) = await agent.process_message("hi")
    assert step.success
    assert agent.errors_frame()["code"].tolist() == ["EVALUATOR_ERROR"]


async def test_a_character_template_overrides_the_default(agent: AgentRuntime) -> None:
    rt = AgentRuntime(
        character=Character(
            name="Bo", templates={"messageHandlerTemplate": "Bo hears {{recentMessages}}"}
        ),
        use_env=False,
    )
    try:
        assert await rt.render_prompt("ping") == "Bo hears user: ping"
    finally:
        await rt.aclose()


async def test_the_prompt_masks_secrets(agent: AgentRuntime) -> None:
    await agent.set_setting("WX_API_KEY", "wx-key-123456")
    await agent.register_provider(
        Provider(name="leak", get=lambda rt, m, s: f"key={rt.get_setting('WX_API_KEY')}")
    )
    prompt = await agent.render_prompt("hi")
    assert "key=***" in prompt and "wx-key-123456" not in prompt
