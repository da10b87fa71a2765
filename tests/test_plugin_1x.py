"""An elizaOS 1.x-style plugin, written the way the elizaOS plugin-starter shows it.

The TypeScript starter has ``init`` (validate the config), a ``Service``, ``models`` for
TEXT_SMALL/TEXT_LARGE, ``events`` for MESSAGE_RECEIVED, a HELLO_WORLD action, a provider and a
test suite run against a live runtime. This is the same plugin in eliza_nb's Python shape; it
registers and passes its own suite, here and (through ``test_starter_plugin`` below) as pytest
items collected by the eliza_nb pytest plugin.
"""

from __future__ import annotations

from typing import Any

import pytest

from eliza_nb import (
    AgentRuntime,
    Content,
    EventType,
    ModelType,
    Plugin,
    PluginConfig,
    PluginError,
    Service,
    TestCase,
    TestSuite,
    action,
    provider,
)
from eliza_nb.testing import DeterministicModel, create_test_runtime

RICK = "Never gonna give you up, never gonna let you down, never gonna run around and desert you..."


class StarterService(Service):
    """Keeps count of the greetings (the starter's long-lived service)."""

    service_type = "starter"
    capability_description = (
        "This is a starter service which is attached to the agent through the starter plugin."
    )

    async def initialize(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime
        self.greetings = 0
        self.running = True

    async def stop(self) -> None:
        self.running = False


async def init(config: dict[str, Any], runtime: AgentRuntime) -> None:
    """Validate the configuration, as the starter does with zod."""
    value = config.get("EXAMPLE_PLUGIN_VARIABLE")
    if not isinstance(value, str) or len(value) < 1:
        raise ValueError("Invalid plugin configuration: EXAMPLE_PLUGIN_VARIABLE is not provided")


@action(
    name="HELLO_WORLD",
    similes=["GREET", "SAY_HELLO"],
    description="Responds with a simple hello world message",
    examples=[
        [
            {"user": "{{name1}}", "content": {"text": "Can you say hello?"}},
            {"user": "{{name2}}", "content": {"text": "hello world!", "action": "HELLO_WORLD"}},
        ]
    ],
)
async def hello_world(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    runtime.get_service("starter").greetings += 1
    await callback(
        Content(text="hello world!", actions=["HELLO_WORLD"], source=message.content.source)
    )
    return {"text": "hello world!", "success": True, "data": {"actions": ["HELLO_WORLD"]}}


@provider(name="HELLO_WORLD_PROVIDER", description="A simple example provider")
def hello_world_provider(runtime: Any, message: Any, state: Any) -> dict[str, Any]:
    return {"text": "I am a provider", "values": {}, "data": {}}


async def text_small(runtime: Any, params: dict[str, Any]) -> str:
    return RICK


async def text_large(runtime: Any, params: dict[str, Any]) -> str:
    return RICK


received: list[str] = []


async def on_message_received(params: dict[str, Any]) -> None:
    received.append(params["text"])


# -- the plugin's own test suite (elizaOS: class StarterTestSuite implements TestSuite) -------
async def example_test(runtime: AgentRuntime) -> None:
    # The starter checks its agent's name; a test runtime has no character, so the default.
    assert runtime.character is None and runtime.agent_id == "agent"
    # The plugin's config default is a setting once it is registered (init saw it too).
    assert runtime.get_setting("EXAMPLE_PLUGIN_VARIABLE") == "example"


def should_have_hello_world_action(runtime: AgentRuntime) -> None:
    if "HELLO_WORLD" not in runtime.registry.action_names():
        raise AssertionError("Hello world action not found in runtime actions")


async def should_return_hello_world(runtime: AgentRuntime) -> None:
    result = await runtime.execute_action("HELLO_WORLD", "Can you say hello?")
    assert result.success and result.responses[0].text == "hello world!", result


def should_run_the_starter_service(runtime: AgentRuntime) -> None:
    service = runtime.get_service("starter")
    assert isinstance(service, StarterService) and service.running


async def should_serve_text_models(runtime: AgentRuntime) -> None:
    assert runtime.models.resolve(ModelType.TEXT_SMALL) is not None
    answer = await runtime.use_model(ModelType.TEXT_SMALL, prompt="What is the meaning of life?")
    assert isinstance(answer, str) and answer


async def should_hear_messages(runtime: AgentRuntime) -> None:
    before = len(received)
    await runtime.emit(EventType.MESSAGE_RECEIVED, {"text": "ping"})
    assert received[before:] == ["ping"]


starter_suite = TestSuite(
    "plugin_starter_test_suite",
    [
        TestCase("example_test", example_test),
        TestCase("should_have_hello_world_action", should_have_hello_world_action),
        TestCase("should_return_hello_world", should_return_hello_world),
        TestCase("should_run_the_starter_service", should_run_the_starter_service),
        TestCase("should_serve_text_models", should_serve_text_models),
        TestCase("should_hear_messages", should_hear_messages),
    ],
)

starter_plugin = Plugin(
    name="plugin-starter",
    description="Plugin starter for elizaOS",
    config=PluginConfig(
        optional=["EXAMPLE_PLUGIN_VARIABLE"], defaults={"EXAMPLE_PLUGIN_VARIABLE": "example"}
    ),
    init=init,
    models={ModelType.TEXT_SMALL: text_small, ModelType.TEXT_LARGE: text_large},
    events={EventType.MESSAGE_RECEIVED: [on_message_received]},
    services=[StarterService],
    actions=[hello_world],
    providers=[hello_world_provider],
    tests=[starter_suite],
)

# Collected by the eliza_nb pytest plugin: one item per test case of the suite.
test_starter_plugin = starter_plugin


@pytest.fixture(autouse=True)
def _clear_received() -> None:
    received.clear()


async def test_the_plugin_registers_and_passes_its_own_suite() -> None:
    rt = await create_test_runtime(plugins=[starter_plugin])
    frame = await rt.run_plugin_tests("plugin-starter")
    assert frame["error"].isna().all(), frame[["test", "error"]]
    assert frame["test"].tolist() == [case.name for case in starter_suite.tests]
    assert frame["passed"].all()
    await rt.aclose()


async def test_init_rejects_an_empty_variable() -> None:
    with pytest.raises(PluginError, match="EXAMPLE_PLUGIN_VARIABLE is not provided"):
        await create_test_runtime(
            settings={"EXAMPLE_PLUGIN_VARIABLE": ""}, plugins=[starter_plugin]
        )


async def test_its_events_hear_messages_and_its_model_drives_the_loop() -> None:
    rt = await create_test_runtime(plugins=[starter_plugin])
    results = await rt.process_message("hello?")
    assert received == ["hello?"]
    # the starter's model answers a song, not a decision: a recorded PARSE_ERROR and a reply
    assert (results[0].action, results[0].error_code) == ("TEXT_LARGE", "PARSE_ERROR")
    assert rt.memories_frame()["text"].tolist()[-1].endswith("(PARSE_ERROR).")
    await rt.aclose()


async def test_a_higher_priority_model_takes_over_the_loop() -> None:
    rt = await create_test_runtime(plugins=[starter_plugin, DeterministicModel(priority=10).plugin])
    results = await rt.process_message("please say hello")
    assert [(r.action, r.success) for r in results] == [("TEXT_LARGE", True), ("HELLO_WORLD", True)]
    assert rt.get_service("starter").greetings == 1
    await rt.aclose()


async def test_unregistering_stops_the_service_and_drops_models_and_events() -> None:
    rt = await create_test_runtime(plugins=[starter_plugin])
    service = rt.get_service("starter")
    await rt.unregister_plugin("plugin-starter")
    assert service.running is False
    assert rt.models.types() == [] and rt.events.listeners(EventType.MESSAGE_RECEIVED) == []
    await rt.aclose()
