"""The prompts' partners: DeterministicModel's XML answers and ``Character.templates``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from eliza_nb import AgentRuntime, Character, Memory, ModelType, Plugin, ValidationError, action
from eliza_nb.prompts import (
    MESSAGE_HANDLER_TEMPLATE,
    compose_prompt,
    parse_key_value_xml,
    parse_should_respond,
    template_for,
)
from eliza_nb.testing import DeterministicModel


@action(similes=["SAY_HELLO"], description="Greets the user")
async def greet(runtime: Any, message: Memory, state: Any, options: Any, callback: Any) -> str:
    return "hello"


@action(description="Looks something up")
async def search(runtime: Any, message: Memory, state: Any, options: Any, callback: Any) -> str:
    return "found"


@pytest.fixture
async def model_runtime() -> AsyncIterator[tuple[AgentRuntime, DeterministicModel]]:
    rt = AgentRuntime(character=Character(name="Ada"), use_env=False)
    model = DeterministicModel()
    await rt.register_plugin(Plugin(name="tools", actions=[greet, search]))
    await rt.register_plugin(model.plugin)
    yield rt, model
    rt.close()


async def ask(rt: AgentRuntime, **params: Any) -> Any:
    return await rt.use_model("TEXT_LARGE", **params)


# -- should_respond ---------------------------------------------------------------------
async def test_the_should_respond_stage_answers_respond_for_the_agent(
    model_runtime: tuple[AgentRuntime, DeterministicModel],
) -> None:
    rt, _ = model_runtime
    answer = await ask(rt, stage="should_respond", prompt="...", message="anyone there?")
    assert answer == (
        "<response><name>Ada</name><reasoning>This test model answers every message."
        "</reasoning><action>RESPOND</action></response>"
    )
    assert parse_should_respond(answer) == "RESPOND"


async def test_the_agent_name_is_escaped_and_defaults_to_agent() -> None:
    rt = AgentRuntime(character=Character(name="R&D <bot>"), use_env=False)
    try:
        await rt.register_plugin(DeterministicModel().plugin)
        answer = await ask(rt, stage="should_respond", prompt="")
        assert "<name>R&amp;D &lt;bot&gt;</name>" in answer
        assert (parse_key_value_xml(answer) or {})["name"] == "R&D <bot>"
    finally:
        rt.close()
    handler = DeterministicModel().plugin.models[ModelType.TEXT_SMALL]
    answer = await handler(object(), {"stage": "should_respond"})  # a runtime without agent_id
    assert "<name>agent</name>" in answer


# -- message_handler --------------------------------------------------------------------
ASKS_GREET, NO_FIT = "The message asks for GREET.", "No action fits; I reply."


@pytest.mark.parametrize(
    ("message", "usable", "chosen", "thought"),
    [
        ("please greet my friend", ["GREET", "SEARCH"], ["GREET"], ASKS_GREET),
        ("say hello to Bob", ["GREET", "SEARCH"], ["GREET"], ASKS_GREET),  # by simile
        ("search, then greet", ["GREET", "SEARCH"], ["SEARCH"], "The message asks for SEARCH."),
        ("please greet my friend", ["SEARCH"], ["REPLY"], NO_FIT),  # GREET is not usable now
        ("what time is it?", ["GREET", "SEARCH"], ["REPLY"], NO_FIT),
    ],
)
async def test_the_message_handler_stage_answers_the_xml_decision(
    model_runtime: tuple[AgentRuntime, DeterministicModel],
    message: str,
    usable: list[str],
    chosen: list[str],
    thought: str,
) -> None:
    rt, _ = model_runtime
    params = {"prompt": "...", "system": "s", "message": message, "actions": usable}
    answer = await ask(rt, **params, providers=["TIME"], stage="message_handler")
    assert parse_key_value_xml(answer) == {
        "thought": thought,
        "actions": chosen,
        "providers": [],
        "text": f"I heard: {message}",
    }
    assert answer.startswith("<response><thought>") and answer.endswith("</text></response>")


async def test_a_prompt_asking_for_response_xml_gets_it_without_a_stage(
    model_runtime: tuple[AgentRuntime, DeterministicModel],
) -> None:
    rt, _ = model_runtime
    prompt = compose_prompt(MESSAGE_HANDLER_TEMPLATE, {"agentName": "Ada"})
    with_actions = parse_key_value_xml(
        await ask(rt, prompt=prompt, message="greet", actions=["GREET"])
    )
    assert with_actions is not None and with_actions["actions"] == ["GREET"]
    # Without a message or actions the prompt itself is the message, and nothing is usable.
    bare = parse_key_value_xml(await ask(rt, prompt=prompt))
    assert bare is not None and bare["actions"] == ["REPLY"]
    assert bare["text"] == f"I heard: {prompt}"


async def test_the_json_decision_is_kept_for_callers_without_a_stage(
    model_runtime: tuple[AgentRuntime, DeterministicModel],
) -> None:
    rt, _ = model_runtime
    answer = await ask(rt, prompt="# Actions\nGREET", message="greet them", actions=["GREET"])
    assert json.loads(answer) == {
        "thought": "The message asks for GREET.",
        "text": "I heard: greet them",
        "actions": ["GREET"],
    }
    assert await ask(rt, prompt="just text") == "I heard: just text"
    assert await ask(rt, prompt="x", stage="summary") == "I heard: x"


async def test_scripted_replies_and_the_responder_still_come_first() -> None:
    model = DeterministicModel(["scripted"], responder=lambda params: f"r:{params['stage']}")
    rt = AgentRuntime(use_env=False)
    try:
        await rt.register_plugin(model.plugin)
        assert await ask(rt, stage="message_handler", prompt="", message="m", actions=[]) == (
            "scripted"
        )
        assert await ask(rt, stage="should_respond", prompt="") == "r:should_respond"
        assert [params["stage"] for _, params in model.calls] == [
            "message_handler",
            "should_respond",
        ]
    finally:
        rt.close()


# What JavaScript's trim() removes, as parse_key_value_xml trims each value.
JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
NO_ROUTING = SimpleNamespace(registry=SimpleNamespace(find_in_text=lambda text: None))


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_any_message_survives_the_xml_answer(message: str) -> None:
    assume("&quot;" not in message and "&apos;" not in message)  # the parser decodes them twice
    handler = DeterministicModel().plugin.models[ModelType.TEXT_LARGE]
    params = {"stage": "message_handler", "message": message, "actions": ["GREET"]}
    answer = asyncio.run(handler(NO_ROUTING, params))
    assert parse_key_value_xml(answer) == {
        "thought": "No action fits; I reply.",
        "actions": ["REPLY"],
        "providers": [],
        "text": f"I heard: {message}".strip(JS_SPACE),
    }


# -- Character.templates ----------------------------------------------------------------
def test_a_character_file_keeps_its_templates(tmp_path: Path) -> None:
    path = tmp_path / "ada.character.json"
    path.write_text(
        json.dumps(
            {
                "name": "Ada",
                "templates": {
                    "messageHandlerTemplate": "Handle it, {{agentName}}.",
                    "shouldRespondTemplate": "Answer, {{agentName}}?",
                },
            }
        ),
        encoding="utf-8",
    )
    ada = Character.from_file(path)
    assert ada.templates["shouldRespondTemplate"] == "Answer, {{agentName}}?"
    assert "templates" not in (ada.model_extra or {})
    assert compose_prompt(template_for(ada, "message_handler"), {"agentName": "Ada"}) == (
        "Handle it, Ada."
    )


def test_a_character_without_templates_has_none(fixtures_dir: Path) -> None:
    c3po = Character.from_file(fixtures_dir / "c3po.character.json")
    assert c3po.templates == {}
    assert Character(name="Ada").templates == {}


@pytest.mark.parametrize(
    ("templates", "where"),
    [
        ({"shouldRespondTemplate": 42}, "templates.shouldRespondTemplate"),
        ({"messageHandlerTemplate": ["a", "b"]}, "templates.messageHandlerTemplate"),
        ("Answer?", "templates"),
    ],
)
def test_a_template_that_is_not_a_string_is_named(templates: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        Character.from_dict({"name": "Ada", "templates": templates}, source="ada.json")
    assert info.value.field == where
    assert str(info.value).startswith(f"[VALIDATION_ERROR] ada.json: field '{where}'")
