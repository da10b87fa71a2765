"""The examples of the elizaOS plugin guide, written with eliza_nb, run as tests (offline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from eliza_nb import (
    ActionResult,
    AgentRuntime,
    ApiError,
    ConfigurationError,
    Memory,
    Plugin,
    PluginConfig,
    State,
    action,
    provider,
)
from eliza_nb.testing import create_test_runtime

# -- 1. a plugin with MY_ACTION that validates on REQUIRED_API_KEY -------------------------------


@action(
    name="MY_ACTION",
    similes=["SIMILAR_ACTION"],
    description="Detailed description of when and how to use this action",
    examples=[
        [
            {"user": "{{user1}}", "content": {"text": "Please do my action"}},
            {"user": "{{agentName}}", "content": {"text": "Done!", "action": "MY_ACTION"}},
        ]
    ],
)
async def my_action(
    runtime: AgentRuntime,
    message: Memory,
    state: State | None,
    options: dict[str, Any],
    callback: Any,
) -> dict[str, Any]:
    await callback({"text": "Action completed", "action": "MY_ACTION"})
    return {"success": True, "text": "Action completed", "data": {"input": message.content.text}}


@my_action.validator
async def has_required_key(runtime: AgentRuntime, message: Memory, state: State | None) -> bool:
    return bool(runtime.get_setting("REQUIRED_API_KEY"))


my_plugin = Plugin(name="my-plugin", description="My custom plugin", actions=[my_action])


async def test_my_action_refuses_without_the_key() -> None:
    rt = await create_test_runtime(plugins=[my_plugin])
    try:
        result = await rt.execute_action("MY_ACTION", "Please do my action")
        assert not result.success
        assert result.error_code == "VALIDATION_FAILED"
        assert result.responses == []
    finally:
        await rt.aclose()


async def test_my_action_runs_with_the_key() -> None:
    rt = await create_test_runtime(settings={"REQUIRED_API_KEY": "k-123"}, plugins=[my_plugin])
    try:
        result = await rt.execute_action("similar_action", "Please do my action")
        assert result.success
        assert result.text == "Action completed"
        assert result.data == {"input": "Please do my action"}
        assert [(c.text, c.action) for c in result.responses] == [("Action completed", "MY_ACTION")]
        assert my_action.examples[0][1].content.action == "MY_ACTION"
    finally:
        await rt.aclose()


async def test_my_action_through_process_message() -> None:
    rt = await create_test_runtime(settings={"REQUIRED_API_KEY": "k-123"}, plugins=[my_plugin])
    try:
        (result,) = await rt.process_message("could you run my action?")
        assert result.action == "MY_ACTION" and result.success
        await rt.set_setting("REQUIRED_API_KEY", "")
        (refused,) = await rt.process_message("my action again")
        assert refused.error_code == "VALIDATION_FAILED"
    finally:
        await rt.aclose()


# -- 2. apiPlugin with FETCH_DATA (a local stub instead of the network) --------------------------


@dataclass
class StubApi:
    """Stands in for ``fetch``: records requests, answers from a table."""

    status: int = 200
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def get(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        self.requests.append((url, headers))
        if self.status != 200:
            raise ApiError(f"GET {url} failed with {headers['Authorization']}", status=self.status)
        return {"items": [1, 2, 3]}


def make_api_plugin(api: StubApi) -> Plugin:
    @action(name="FETCH_DATA", description="Fetch data from the API", similes=["GET_DATA"])
    async def fetch_data(
        runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
    ) -> dict[str, Any]:
        url = f"{runtime.get_setting('API_URL')}/data"
        headers = {"Authorization": f"Bearer {runtime.get_setting('API_KEY')}"}
        data = await api.get(url, headers)
        await callback({"text": f"Fetched {len(data['items'])} items"})
        return {"success": True, "data": data}

    return Plugin(
        name="api-plugin",
        description="Fetches data from an API",
        actions=[fetch_data],
        config=PluginConfig(required=["API_KEY", "API_URL"]),
    )


async def test_api_plugin_needs_both_settings() -> None:
    with pytest.raises(ConfigurationError) as info:
        await create_test_runtime(plugins=[make_api_plugin(StubApi())])
    assert "Missing required settings: API_KEY, API_URL" in info.value.message


async def test_api_plugin_fetches() -> None:
    api = StubApi()
    settings = {"API_KEY": "sk-api-secret-1", "API_URL": "https://api.example.test"}
    rt = await create_test_runtime(settings=settings, plugins=[make_api_plugin(api)])
    try:
        result = await rt.execute_action("FETCH_DATA")
        assert result.success
        assert result.data == {"items": [1, 2, 3]}
        assert result.responses[0].text == "Fetched 3 items"
        assert api.requests == [
            ("https://api.example.test/data", {"Authorization": "Bearer sk-api-secret-1"})
        ]
    finally:
        await rt.aclose()


async def test_api_plugin_failure_is_an_api_error_with_the_key_masked() -> None:
    api = StubApi(status=503)
    settings = {"API_KEY": "sk-api-secret-1", "API_URL": "https://api.example.test"}
    rt = await create_test_runtime(settings=settings, plugins=[make_api_plugin(api)])
    try:
        result: ActionResult = await rt.execute_action("get_data")
        assert not result.success
        assert result.error is not None
        assert result.error.code == "API_ERROR"
        assert "sk-api-secret-1" not in result.error.message
        assert "Bearer ***" in result.error.message
        assert "sk-api-secret-1" not in rt.errors_frame().to_string()
        api.status = 200
        assert (await rt.execute_action("FETCH_DATA")).success, "the runtime stays usable"
    finally:
        await rt.aclose()


# -- 3. dataPlugin with one provider feeding the state -------------------------------------------


@provider(name="DATA_PROVIDER", description="Provides the latest figures")
async def data_provider(runtime: AgentRuntime, message: Memory, state: Any) -> dict[str, Any]:
    return {"text": "Sales are up 12%", "data": {"sales_growth": 0.12}}


@action(name="REPORT", description="Report the figures the provider supplied")
def report(
    runtime: AgentRuntime, message: Memory, state: State, options: Any, callback: Any
) -> str:
    return state.data["providers"]["DATA_PROVIDER"].text


data_plugin = Plugin(name="data-plugin", providers=[data_provider], actions=[report])


async def test_data_plugin_feeds_the_state() -> None:
    rt = await create_test_runtime(plugins=[data_plugin])
    try:
        state = await rt.compose_state("how are sales?")
        assert state.data["providers"]["DATA_PROVIDER"].data == {"sales_growth": 0.12}
        assert "Sales are up 12%" in state.text
        assert state.actions == ["REPORT"]
        (result,) = await rt.process_message("please report")
        assert result.text == "Sales are up 12%"
        frame = rt.components_frame()
        assert frame[["kind", "name"]].values.tolist() == [
            ["action", "REPORT"],
            ["provider", "DATA_PROVIDER"],
        ]
    finally:
        await rt.aclose()


def test_seed_plugins_in_plain_sync_code() -> None:
    rt = AgentRuntime(settings={"REQUIRED_API_KEY": "k-1"}, use_env=False)
    try:
        rt.run_sync(rt.register_plugins([my_plugin, data_plugin]))
        assert rt.run("MY_ACTION", "go").success
        assert sorted(rt.registry.plugins) == ["data-plugin", "my-plugin"]
    finally:
        rt.close()
