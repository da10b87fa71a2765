"""elizaOS's own @elizaos/plugin-bootstrap@1.7.2, from npm, through the Node bridge.

The package is installed once into the shared npm cache (``eliza_nb.npm.cache_dir()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from eliza_nb import AgentRuntime, Character, PluginError
from eliza_nb.npm import find_node, find_npm
from eliza_nb.testing import DeterministicModel

try:
    find_node(), find_npm()
except PluginError as exc:  # pragma: no cover - the Makefile installs Node where it can
    pytest.skip(f"no usable Node and npm: {exc.message}", allow_module_level=True)

BOOTSTRAP = "@elizaos/plugin-bootstrap@1.7.2"
REPLY_XML = "<response><thought>greet back</thought><text>Hello, Grace!</text></response>"


@pytest.fixture
async def rt() -> AsyncIterator[AgentRuntime]:
    character = Character(name="Ada", bio=["A careful assistant."], system="Be brief.")
    runtime = AgentRuntime(character=character, use_env=False)
    yield runtime
    await runtime.aclose()


async def bootstrap(rt: AgentRuntime, *replies: str) -> DeterministicModel:
    model = DeterministicModel(replies=list(replies))
    await rt.register_plugin(model.plugin)
    await rt.register_npm_plugin(BOOTSTRAP)
    return model


async def test_its_parts_are_registered(rt: AgentRuntime) -> None:
    await bootstrap(rt)
    plugin = rt.registry.plugins["bootstrap"]
    assert (len(plugin.actions), len(plugin.providers), len(plugin.evaluators)) == (13, 16, 1)
    assert plugin.version == "1.7.2"


async def test_the_core_providers_compose_state_text(rt: AgentRuntime) -> None:
    await bootstrap(rt)
    await rt.messages.create_memory("an earlier message", room_id="r")
    names = ["TIME", "CHARACTER", "ACTIONS", "RECENT_MESSAGES"]
    state = await rt.compose_state("what time is it?", names, only_include=True, room_id="r")
    assert "The current date and time is" in state.text
    assert "# About Ada\nA careful assistant." in state.text
    assert "Possible response actions:" in state.text and "REPLY" in state.text
    assert "an earlier message" in state.text and "what time is it?" in state.text
    assert set(state.data["providers"]) == set(names)
    assert rt.errors_frame().empty


async def test_reply_answers_through_the_python_model(rt: AgentRuntime) -> None:
    model = await bootstrap(rt, REPLY_XML)
    result = await rt.execute_action("REPLY", "hi, I am Grace")
    assert result.success
    assert [c.text for c in result.responses] == ["Hello, Grace!"]
    assert result.text == "Generated reply: Hello, Grace!"
    assert result.values["lastReply"] == "Hello, Grace!"
    ((_kind, params),) = [c for c in model.calls if c[0] == "TEXT_LARGE"]
    assert "Generate dialog for the character Ada" in params["prompt"]


async def test_ignore_and_none_behave_as_in_elizaos(rt: AgentRuntime) -> None:
    await bootstrap(rt)
    ignored = await rt.execute_action("IGNORE", "go away")
    assert ignored.success and ignored.responses == [] and ignored.text is None
    none = await rt.execute_action("NONE", "ok")
    assert none.success and none.text == "No additional action taken"
    assert none.values == {"success": True, "actionType": "NONE"}


def decision(text: str, actions: str) -> str:
    return (
        f"<response><thought>t</thought><actions>{actions}</actions>"
        f"<providers></providers><text>{text}</text></response>"
    )


async def test_the_agent_loop_with_none_says_the_decision_only(rt: AgentRuntime) -> None:
    await bootstrap(rt, decision("Sure thing.", "REPLY,NONE"), REPLY_XML)
    results = await rt.process_message("hello", room_id="loop")
    assert [r.action for r in results] == ["TEXT_LARGE", "REPLY", "NONE"]
    agent = rt.memories_frame().query("user_id == 'Ada'")["text"].tolist()
    assert agent == ["Hello, Grace!"]  # REPLY spoke; NONE's text is for the chain


async def test_the_agent_loop_with_ignore_says_nothing(rt: AgentRuntime) -> None:
    await bootstrap(rt, decision("", "IGNORE"))
    results = await rt.process_message("spam", room_id="quiet")
    assert [r.action for r in results] == ["TEXT_LARGE", "IGNORE"]
    assert rt.memories_frame()["text"].tolist() == ["spam"]
