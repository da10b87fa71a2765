"""The http_api example plugin against a real HTTP server on 127.0.0.1 (http.server in a thread).

The server plays scripted replies per path, records every request, and can stall a request
(until the test ends) to exercise client timeouts.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import EntryPoint
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel

from eliza_nb import AgentRuntime, ConfigurationError, Plugin, PluginError
from eliza_nb.errors import ApiError
from eliza_nb.plugins import _http, http_api
from eliza_nb.plugins._http import RawResponse, check_status
from eliza_nb.resilience import TRANSIENT_CODES, ResponseCache
from eliza_nb.testing import create_test_runtime

STALL = "stall"
Reply = tuple[int, dict[str, str], bytes] | str


def reply(status: int = 200, body: Any = None, raw: bytes | None = None, **headers: str) -> Reply:
    payload = raw if raw is not None else json.dumps(body).encode()
    return status, {"Content-Type": "application/json", **headers}, payload


class ScriptedApi:
    """Replies per path (the last one repeats) and a log of (path with query, headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        self.url = ""

    def on(self, path: str, *replies: Reply) -> None:
        self.routes["/api" + path] = list(replies)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if urlsplit(p).path == "/api" + path)

    def next_reply(self, path: str) -> Reply:
        replies = self.routes.get(path) or [reply(404, {"error": "no such route"})]
        return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        script = self.server.script
        script.requests.append((self.path, dict(self.headers.items())))
        answer = script.next_reply(urlsplit(self.path).path)
        if answer == STALL:
            script.release.wait(30)  # holds the answer back until the test is over
            return
        assert not isinstance(answer, str)
        status, headers, body = answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output quiet


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: ScriptedApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    """One server for the module (shutting one down waits half a second)."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.script = ScriptedApi()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def api(server: _Server) -> Iterator[ScriptedApi]:
    """A fresh script (routes, request log) for each test; stalled requests end with it."""
    server.script = script = ScriptedApi()
    script.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    yield script
    script.release.set()


MakeRuntime = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
async def make_runtime(api: ScriptedApi) -> AsyncIterator[MakeRuntime]:
    """Runtimes with the plugin registered against the scripted API; no backoff waits."""
    made: list[AgentRuntime] = []

    async def make(*plugins: Plugin, **settings: Any) -> AgentRuntime:
        base = {
            "API_URL": api.url,
            "API_RETRY_DELAY": 0,
            "API_RETRY_MAX_DELAY": 0,
            "RETRY_ATTEMPTS": 3,
            "API_TIMEOUT": 5,
        }
        runtime = await create_test_runtime(
            settings={**base, **settings}, plugins=plugins or [http_api.plugin]
        )
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.aclose()


@pytest.fixture
async def rt(make_runtime: MakeRuntime) -> AgentRuntime:
    return await make_runtime()


async def fetch(rt: AgentRuntime, text: str = "", **options: Any) -> Any:
    return await rt.execute_action("FETCH_DATA", text, options=options)


def code_of(result: Any) -> str:
    assert not result.success, result
    assert result.error is not None
    return str(result.error.code)


ADA = {"id": 1, "name": "Ada"}


def test_module_exposes_a_plugin_found_by_entry_point() -> None:
    entry = EntryPoint("http_api", "eliza_nb.plugins.http_api:plugin", "eliza_nb.plugins")
    loaded = entry.load()
    assert loaded is http_api.plugin
    assert loaded.config.required == ["API_URL"]
    assert [a.name for a in loaded.actions] == ["FETCH_DATA"]


# -- success ----------------------------------------------------------------------------
async def test_fetch_returns_the_json(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/users/1", reply(200, ADA))
    result = await fetch(rt, "/users/1")
    assert result.success, result.error
    assert result.data == {"url": f"{api.url}/users/1", "status": 200, "cached": False, "data": ADA}
    assert result.text == f"Fetched {api.url}/users/1: an object with 2 key(s)."
    assert result.responses[0].url == f"{api.url}/users/1"


async def test_a_routed_message_fetches(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/users/1", reply(200, ADA))
    [result] = await rt.process_message("fetch data /users/1")
    assert result.action == "FETCH_DATA"
    assert result.data["data"] == ADA


async def test_several_words_fetch_the_base_url(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("", reply(200, [1, 2, 3]))
    result = await fetch(rt, "fetch data from the api please")
    assert result.data["url"] == api.url
    assert result.text.endswith("a list of 3 item(s).")


async def test_query_parameters(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/search", reply(200, []))
    result = await fetch(rt, path="search", params={"q": "cats and dogs", "page": 2})
    assert result.success
    assert api.requests[-1][0] == "/api/search?page=2&q=cats+and+dogs"


# -- cache ------------------------------------------------------------------------------
async def test_answers_are_cached_until_refreshed(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/users/1", reply(200, ADA), reply(200, {"id": 1, "name": "Ada L."}))
    first = await fetch(rt, "/users/1")
    second = await fetch(rt, "/users/1")
    assert second.data["cached"] is True
    assert second.data["data"] == first.data["data"] == ADA
    assert second.text.endswith("(cached).")
    assert api.hits("/users/1") == 1
    fresh = await fetch(rt, "/users/1", refresh="true")
    assert fresh.data["data"]["name"] == "Ada L."
    assert api.hits("/users/1") == 2


async def test_cache_entries_expire(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/users/1", reply(200, ADA))
    now = [0.0]
    client = rt.get_service("http_api").client
    client.cache = ResponseCache("http_api", ttl=30, timer=lambda: now[0])
    await fetch(rt, "/users/1")
    now[0] = 29
    assert (await fetch(rt, "/users/1")).data["cached"] is True
    now[0] = 31
    assert (await fetch(rt, "/users/1")).data["cached"] is False
    assert api.hits("/users/1") == 2


async def test_cache_ttl_setting(make_runtime: MakeRuntime) -> None:
    rt = await make_runtime(API_CACHE_TTL="42")
    assert rt.get_service("http_api").client.cache.ttl == 42.0


# -- authentication ---------------------------------------------------------------------
async def test_api_key_is_sent_as_bearer(make_runtime: MakeRuntime, api: ScriptedApi) -> None:
    api.on("/me", reply(200, ADA))
    rt = await make_runtime(API_KEY="sk-test-123456")
    await fetch(rt, "/me")
    assert api.requests[-1][1]["Authorization"] == "Bearer sk-test-123456"


async def test_custom_auth_header(make_runtime: MakeRuntime, api: ScriptedApi) -> None:
    api.on("/me", reply(200, ADA))
    rt = await make_runtime(API_KEY="sk-test-123456", API_AUTH_HEADER="X-Api-Key")
    await fetch(rt, "/me")
    assert api.requests[-1][1]["X-Api-Key"] == "sk-test-123456"
    assert "Authorization" not in api.requests[-1][1]


async def test_unauthorized_is_not_retried_and_leaks_no_key(
    make_runtime: MakeRuntime, api: ScriptedApi
) -> None:
    api.on("/me", reply(401, {"error": "bad key sk-test-123456"}))
    rt = await make_runtime(API_KEY="sk-test-123456")
    result = await fetch(rt, "/me")
    assert code_of(result) == "API_UNAUTHORIZED"
    assert "Check API_KEY" in result.error.message
    assert api.hits("/me") == 1
    shown = repr(result) + rt.errors_frame().to_string() + json.dumps(rt.snapshot(), default=str)
    assert "sk-test-123456" not in shown


# -- failures ---------------------------------------------------------------------------
async def test_not_found_is_not_retried(rt: AgentRuntime, api: ScriptedApi) -> None:
    result = await fetch(rt, "/missing")
    assert code_of(result) == "API_NOT_FOUND"
    assert api.hits("/missing") == 1


async def test_other_client_errors(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/bad", reply(400, {"error": "bad request"}))
    assert code_of(await fetch(rt, "/bad")) == "API_CLIENT_ERROR"
    assert api.hits("/bad") == 1


async def test_server_errors_are_retried_until_success(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/flaky", reply(500, {}), reply(503, {}), reply(200, ADA))
    result = await fetch(rt, "/flaky")
    assert result.success, result.error
    assert api.hits("/flaky") == 3


async def test_server_errors_give_up_after_retry_attempts(
    rt: AgentRuntime, api: ScriptedApi
) -> None:
    api.on("/down", reply(502, {"error": "bad gateway"}))
    result = await fetch(rt, "/down")
    assert code_of(result) == "API_SERVER_ERROR"
    assert "answered 502" in result.error.message
    assert api.hits("/down") == 3
    errors = rt.errors_frame()
    assert errors["code"].tolist() == ["API_SERVER_ERROR"]
    assert rt.metrics_frame()["error_code"].tolist() == ["API_SERVER_ERROR"]


async def test_429_is_retried(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/busy", reply(429, {}, **{"Retry-After": "0"}), reply(200, ADA))
    result = await fetch(rt, "/busy")
    assert result.success, result.error
    assert api.hits("/busy") == 2


async def test_429_gives_up_as_rate_limited(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/busy", reply(429, {"error": "slow down"}))
    assert code_of(await fetch(rt, "/busy")) == "API_RATE_LIMITED"
    assert api.hits("/busy") == 3


async def test_timeouts(make_runtime: MakeRuntime, api: ScriptedApi) -> None:
    api.on("/slow", STALL)
    rt = await make_runtime(API_TIMEOUT=0.2, RETRY_ATTEMPTS=2)
    result = await fetch(rt, "/slow")
    assert code_of(result) == "API_TIMEOUT"
    assert "no answer within 0.2 s" in result.error.message
    assert api.hits("/slow") == 2


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00", b"<html>oops</html>"])
async def test_malformed_json_is_not_retried(
    rt: AgentRuntime, api: ScriptedApi, body: bytes
) -> None:
    api.on("/broken", reply(200, raw=body))
    result = await fetch(rt, "/broken")
    assert code_of(result) == "API_INVALID_JSON"
    assert api.hits("/broken") == 1


async def test_scalar_json_is_not_a_valid_answer(rt: AgentRuntime, api: ScriptedApi) -> None:
    api.on("/scalar", reply(200, 42))
    result = await fetch(rt, "/scalar")
    assert code_of(result) == "API_INVALID_RESPONSE"
    assert "JSON object or array" in result.error.message


async def test_unreachable_server(make_runtime: MakeRuntime) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rt = await make_runtime(API_URL=f"http://127.0.0.1:{port}", RETRY_ATTEMPTS=2)
    result = await fetch(rt)
    assert code_of(result) == "API_CONNECTION_ERROR"
    assert "cannot reach the server" in result.error.message


# -- response models --------------------------------------------------------------------
class User(BaseModel):
    id: int
    name: str


async def test_response_model_validates_answers(
    make_runtime: MakeRuntime, api: ScriptedApi
) -> None:
    users = http_api.create_plugin(
        name="users", action_name="FETCH_USER", similes=[], response_model=User
    )
    rt = await make_runtime(http_api.plugin, users)
    api.on("/users/1", reply(200, ADA))
    api.on("/users/2", reply(200, {"id": "two", "name": "Bob"}))
    ok = await rt.execute_action("FETCH_USER", "/users/1")
    assert ok.data["data"] == ADA
    bad = await rt.execute_action("FETCH_USER", "/users/2")
    assert code_of(bad) == "API_INVALID_RESPONSE"
    assert "not a valid User: id:" in bad.error.message
    assert api.hits("/users/2") == 1
    assert {s.service_type for p in (http_api.plugin, users) for s in p.services} == {
        "http_api",
        "users",
    }


async def test_list_response_model(make_runtime: MakeRuntime, api: ScriptedApi) -> None:
    listing = http_api.create_plugin(
        name="listing", action_name="LIST_USERS", similes=[], response_model=list[User]
    )
    rt = await make_runtime(listing)
    api.on("/users", reply(200, [ADA, {"id": 2, "name": "Bob"}]))
    result = await rt.execute_action("LIST_USERS", "/users")
    assert [u["name"] for u in result.data["data"]] == ["Ada", "Bob"]


# -- rate limit -------------------------------------------------------------------------
async def test_rate_limit_holds_back_extra_requests(
    make_runtime: MakeRuntime, api: ScriptedApi
) -> None:
    api.on("/a", reply(200, ADA))
    api.on("/b", reply(200, ADA))
    api.on("/c", reply(200, ADA))
    rt = await make_runtime(API_RATE_LIMIT=2, API_RATE_PERIOD=3600)
    assert (await fetch(rt, "/a")).success
    assert (await fetch(rt, "/b")).success
    third = asyncio.create_task(fetch(rt, "/c"))
    for _ in range(20):
        await asyncio.sleep(0)  # yield: the request stays queued at the limiter
    assert not third.done()
    assert api.hits("/c") == 0
    third.cancel()
    with pytest.raises(asyncio.CancelledError):
        await third


# -- configuration and input ------------------------------------------------------------
async def test_api_url_is_required() -> None:
    with pytest.raises(ConfigurationError, match="Missing required settings: API_URL"):
        await create_test_runtime(plugins=[http_api.plugin])


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com/api", "http://"])
async def test_bad_api_url_fails_registration(make_runtime: MakeRuntime, url: str) -> None:
    with pytest.raises(PluginError, match="API_URL"):
        await make_runtime(API_URL=url)


async def test_bad_numeric_setting(make_runtime: MakeRuntime, api: ScriptedApi) -> None:
    rt = await make_runtime(API_TIMEOUT="soon")
    result = await fetch(rt, "/users/1")
    assert code_of(result) == "CONFIGURATION_ERROR"
    assert "API_TIMEOUT" in result.error.message


@pytest.mark.parametrize(
    "options",
    [
        {"path": "http://evil.example/x"},
        {"path": "//evil.example"},
        {"params": ["a"]},
        {"params": {"q": {"nested": 1}}},
        {"path": 3},
    ],
)
async def test_bad_input_is_a_validation_error(
    rt: AgentRuntime, api: ScriptedApi, options: dict[str, Any]
) -> None:
    assert code_of(await fetch(rt, **options)) == "VALIDATION_ERROR"
    assert api.requests == []


# -- status mapping (unit) ---------------------------------------------------------------
def _raw(status: int, **headers: str) -> RawResponse:
    message = Message()
    for key, value in headers.items():
        message[key] = value
    return RawResponse(status, "reason", message, b"")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("-5", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
def test_retry_after_header(value: str, expected: float | None) -> None:
    with pytest.raises(ApiError) as info:
        check_status("http://x", _raw(429, **{"Retry-After": value}))
    assert info.value.details["retry_after"] == expected
    assert info.value.status == 429


@pytest.mark.parametrize("status", [200, 204, 299])
def test_success_statuses_pass(status: int) -> None:
    check_status("http://x", _raw(status))  # returns without an ApiError: the body is used


@pytest.mark.parametrize("status", [199, 300, 304])
def test_statuses_outside_2xx_are_client_errors(status: int) -> None:
    with pytest.raises(ApiError) as info:
        check_status("http://x", _raw(status))
    assert (info.value.code, info.value.status) == ("API_CLIENT_ERROR", status)


def test_the_retried_codes_are_the_transient_ones() -> None:
    """The module docstring's "retried" column agrees with resilience.TRANSIENT_CODES."""
    retried = {"API_TIMEOUT", "API_CONNECTION_ERROR", "API_RATE_LIMITED", "API_SERVER_ERROR"}
    final = {
        "API_UNAUTHORIZED",
        "API_NOT_FOUND",
        "API_CLIENT_ERROR",
        "API_INVALID_JSON",
        "API_INVALID_RESPONSE",
    }
    assert retried <= TRANSIENT_CODES
    assert not final & TRANSIENT_CODES
    constants = (_http.API_TIMEOUT, _http.API_CONNECTION_ERROR, _http.API_RATE_LIMITED)
    assert {*constants, _http.API_SERVER_ERROR} == retried
