"""The OpenAI-compatible model plugin against a real local HTTP server speaking the protocol."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eliza_nb import AgentRuntime, ApiError, ModelType, Plugin, PluginError, action
from eliza_nb.plugins.openai_compat import OpenAICompatService, plugin

HANG = object()


@dataclass
class FakeOpenAI:
    """What the server will answer (a queue, then the protocol's default) and what it got."""

    url: str = ""
    replies: dict[str, deque[Any]] = field(
        default_factory=lambda: {"chat/completions": deque(), "embeddings": deque()}
    )
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def reply(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        endpoint: str = "chat/completions",
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.replies[endpoint].append((status, raw, headers or {}))

    def chat(self, content: Any) -> None:
        self.reply(
            200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        )

    def default(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        if path.endswith("/chat/completions"):
            last = body["messages"][-1]["content"]
            return (
                200,
                json.dumps({"choices": [{"message": {"content": f"echo: {last}"}}]}).encode(),
                {},
            )
        if path.endswith("/embeddings"):
            text = body["input"]
            vector = [float(len(text)), 1.0, float(text.count("a"))]
            return 200, json.dumps({"data": [{"embedding": vector, "index": 0}]}).encode(), {}
        return 404, b'{"error": {"message": "unknown path"}}', {}


def make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            queue = fake.replies[self.path.split("/v1/", 1)[-1]]
            item = queue.popleft() if queue else fake.default(self.path, body)
            if item is HANG:
                fake.release.wait()
                return
            status, raw, headers = item
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture(scope="module")
def _httpd() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def server(_httpd: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The module's server, with an empty script and request log for each test."""
    for queue in _httpd.replies.values():
        queue.clear()
    _httpd.requests.clear()
    yield _httpd
    _httpd.release.set()  # free a handler a timeout test left hanging
    _httpd.release = threading.Event()


@pytest.fixture(params=["httpx", "urllib"])
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rt(server: FakeOpenAI, client: str) -> AsyncIterator[AgentRuntime]:
    runtime = AgentRuntime(
        settings={
            "OPENAI_BASE_URL": server.url,
            "OPENAI_API_KEY": "sk-test-abcdef123456",
            "SMALL_MODEL": "tiny",
            "LARGE_MODEL": "generic-large",
            "OPENAI_LARGE_MODEL": "huge",
            "EMBEDDING_MODEL": "embedder",
            "OPENAI_RETRY_DELAY": 0,
            "OPENAI_RETRIES": 3,
            "OPENAI_HTTP_CLIENT": client,
        },
        use_env=False,
    )
    await runtime.register_plugin(plugin)
    yield runtime
    await runtime.aclose()


# -- the protocol -------------------------------------------------------------------------
async def test_text_models_post_chat_completions(rt: AgentRuntime, server: FakeOpenAI) -> None:
    small = await rt.use_model(
        ModelType.TEXT_SMALL,
        prompt="hi",
        system="be brief",
        temperature=0.2,
        max_tokens=16,
        stop_sequences=["\n"],
    )
    large = await rt.use_model(ModelType.TEXT_LARGE, prompt="hello")
    assert (small, large) == ("echo: hi", "echo: hello")
    first, second = server.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == "Bearer sk-test-abcdef123456"
    assert first["body"] == {
        "model": "tiny",
        "temperature": 0.2,
        "max_tokens": 16,
        "stop": ["\n"],
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert second["body"] == {"model": "huge", "messages": [{"role": "user", "content": "hello"}]}


async def test_chat_messages_may_be_given_whole(rt: AgentRuntime, server: FakeOpenAI) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert await rt.use_model("TEXT_SMALL", messages=messages) == "echo: b"
    assert server.requests[0]["body"]["messages"] == messages


async def test_null_content_is_empty_text(rt: AgentRuntime, server: FakeOpenAI) -> None:
    server.chat(None)
    assert await rt.use_model("TEXT_SMALL", prompt="x") == ""


async def test_embeddings_are_posted_and_cached(rt: AgentRuntime, server: FakeOpenAI) -> None:
    vector = await rt.use_model(ModelType.TEXT_EMBEDDING, text="banana")
    assert vector == [6.0, 1.0, 3.0]
    assert await rt.use_model(ModelType.TEXT_EMBEDDING, text="banana") == vector
    assert [(r["path"], r["body"]) for r in server.requests] == [
        ("/v1/embeddings", {"model": "embedder", "input": "banana"})
    ]
    memory = await rt.messages.create_memory("a cat", room_id="r")
    assert memory.embedding == [5.0, 1.0, 2.0]


async def test_no_key_sends_no_authorization(server: FakeOpenAI, client: str) -> None:
    runtime = AgentRuntime(
        settings={"OPENAI_BASE_URL": server.url, "OPENAI_HTTP_CLIENT": client}, use_env=False
    )
    await runtime.register_plugin(plugin)
    assert await runtime.use_model("TEXT_SMALL", prompt="local") == "echo: local"
    assert "Authorization" not in server.requests[0]["headers"]
    assert server.requests[0]["body"]["model"] == "gpt-4o-mini"
    await runtime.aclose()


# -- error replies ------------------------------------------------------------------------
async def test_an_error_reply_keeps_the_servers_message(
    rt: AgentRuntime, server: FakeOpenAI
) -> None:
    server.reply(
        401,
        {
            "error": {
                "message": "Incorrect API key provided: sk-test-abcdef123456",
                "type": "invalid_request_error",
            }
        },
    )
    with pytest.raises(ApiError) as info:
        await rt.use_model("TEXT_SMALL", prompt="x")
    err = info.value
    assert (err.status, err.code) == (401, "API_UNAUTHORIZED")
    assert "answered 401: Incorrect API key provided: ***" in str(err)
    assert "sk-test-abcdef123456" not in str(err)
    assert len(server.requests) == 1  # a client error is not retried


async def test_an_ollama_style_error_is_read(rt: AgentRuntime, server: FakeOpenAI) -> None:
    server.reply(404, {"error": "model 'tiny' not found"})
    with pytest.raises(ApiError, match="model 'tiny' not found") as info:
        await rt.use_model("TEXT_SMALL", prompt="x")
    assert info.value.code == "API_CLIENT_ERROR"


async def test_429_and_500_are_retried(rt: AgentRuntime, server: FakeOpenAI) -> None:
    server.reply(429, {"error": {"message": "slow down"}})
    server.reply(500, b"internal error")
    server.chat("finally")
    assert await rt.use_model("TEXT_SMALL", prompt="x") == "finally"
    assert len(server.requests) == 3


async def test_retries_run_out(rt: AgentRuntime, server: FakeOpenAI) -> None:
    for _ in range(3):
        server.reply(503, {"error": {"message": "overloaded"}})
    with pytest.raises(ApiError, match="answered 503: overloaded") as info:
        await rt.use_model("TEXT_LARGE", prompt="x")
    assert (info.value.code, info.value.details["attempts"]) == ("API_SERVER_ERROR", 3)
    assert len(server.requests) == 3


async def test_retry_after_is_passed_on(rt: AgentRuntime, server: FakeOpenAI) -> None:
    await rt.set_setting("OPENAI_RETRIES", 1)
    server.reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "7"})
    with pytest.raises(ApiError) as info:
        await rt.use_model("TEXT_SMALL", prompt="x")
    assert (info.value.code, info.value.details["retry_after"]) == ("API_RATE_LIMITED", 7.0)


@pytest.mark.parametrize(
    ("model", "body", "match"),
    [
        ("TEXT_SMALL", b"<html>gateway</html>", "the reply is not JSON"),
        ("TEXT_SMALL", b'{"choices": []}', r"no choices\[0\].message.content"),
        ("TEXT_LARGE", b'{"object": "chat.completion"}', r"no choices\[0\].message.content"),
        ("TEXT_EMBEDDING", b'{"data": [{"embedding": "abc"}]}', r"no data\[0\].embedding"),
        ("TEXT_EMBEDDING", b'{"data": []}', r"no data\[0\].embedding"),
    ],
)
async def test_malformed_bodies_are_api_errors(
    rt: AgentRuntime, server: FakeOpenAI, model: str, body: bytes, match: str
) -> None:
    server.reply(
        200, body, endpoint="embeddings" if model == "TEXT_EMBEDDING" else "chat/completions"
    )
    with pytest.raises(ApiError, match=match) as info:
        await rt.use_model(model, prompt="x", text="x")
    assert info.value.code == "API_ERROR"
    assert len(server.requests) == 1  # not retried: asking again gives the same body


async def test_a_server_that_hangs_times_out(rt: AgentRuntime, server: FakeOpenAI) -> None:
    await rt.set_setting("OPENAI_TIMEOUT", 0.05)
    await rt.set_setting("OPENAI_RETRIES", 1)
    server.replies["chat/completions"].append(HANG)
    with pytest.raises(ApiError, match=r"no answer within 0\.05 s") as info:
        await rt.use_model("TEXT_SMALL", prompt="x")
    assert info.value.code == "TIMEOUT"


async def test_a_closed_port_is_a_connection_error(client: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    runtime = AgentRuntime(
        settings={
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_RETRIES": 1,
            "OPENAI_HTTP_CLIENT": client,
        },
        use_env=False,
    )
    await runtime.register_plugin(plugin)
    with pytest.raises(ApiError, match="cannot reach the server") as info:
        await runtime.use_model("TEXT_SMALL", prompt="x")
    assert info.value.code == "API_CONNECTION_ERROR"
    await runtime.aclose()


# -- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"OPENAI_BASE_URL": "localhost:8080"}, "must be an http"),
        ({"OPENAI_TIMEOUT": "soon"}, "OPENAI_TIMEOUT='soon' must be a number"),
        ({"OPENAI_RETRIES": 0}, "OPENAI_RETRIES=0 must be a number >= 1"),
        ({"OPENAI_HTTP_CLIENT": "curl"}, "OPENAI_HTTP_CLIENT='curl'"),
    ],
)
async def test_bad_settings_fail_registration(settings: dict[str, Any], match: str) -> None:
    runtime = AgentRuntime(settings=settings, use_env=False)
    with pytest.raises(PluginError, match=match):
        await runtime.register_plugin(plugin)
    assert runtime.models.types() == []
    await runtime.aclose()


async def test_the_rate_limit_follows_its_setting(rt: AgentRuntime, server: FakeOpenAI) -> None:
    service = rt.get_service(OpenAICompatService)
    await rt.set_setting("OPENAI_RATE_LIMIT", 600)
    assert await rt.use_model("TEXT_SMALL", prompt="a") == "echo: a"
    assert service._limiter is not None and service._limiter.max_rate == 600
    await rt.set_setting("OPENAI_RATE_LIMIT", "")
    assert await rt.use_model("TEXT_SMALL", prompt="b") == "echo: b"
    assert service._limiter is None


async def test_the_plugin_passes_its_own_suite(rt: AgentRuntime) -> None:
    frame = await rt.run_plugin_tests("openai-compat")
    assert frame["passed"].all() and len(frame) == 2


# -- the agent loop over HTTP ---------------------------------------------------------------
@action(name="OPEN_POD_BAY_DOORS", description="Open the doors")
def open_doors(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "Doors open."


async def test_the_agent_loop_over_http(rt: AgentRuntime, server: FakeOpenAI) -> None:
    await rt.register_plugin(Plugin(name="ship", actions=[open_doors]))
    server.chat(
        '```json\n{"thought": "asked", "text": "Opening.", "actions": ["OPEN_POD_BAY_DOORS"]}\n```'
    )
    server.chat("I'm afraid I can't do that.")
    server.reply(500, {"error": {"message": "GPU on fire"}})
    server.reply(500, {"error": {"message": "GPU on fire"}})
    server.reply(500, {"error": {"message": "GPU on fire"}})
    first = await rt.process_message("open the doors")
    assert [(r.action, r.success) for r in first] == [
        ("TEXT_LARGE", True),
        ("OPEN_POD_BAY_DOORS", True),
    ]
    prompt = next(r for r in server.requests if r["path"].endswith("chat/completions"))
    assert "- OPEN_POD_BAY_DOORS: Open the doors" in prompt["body"]["messages"][-1]["content"]
    second = await rt.process_message("open them now")
    assert second[0].error_code == "PARSE_ERROR"
    third = await rt.process_message("please")
    assert third[0].error_code == "API_SERVER_ERROR"
    assert "GPU on fire" in third[0].text
