"""Cassettes against real servers on 127.0.0.1: record, stop the server, replay offline.

An OpenAI-compatible server (the pattern of ``test_openai_compat.py``) for the model calls of
the ``openai-compat`` plugin, and a JSON API for the ``http_api`` plugin, whose requests go
through the transport hook of ``eliza_nb.plugins._http``. Each server is stopped before the
replay, so a request that reached the network would fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, ElizaError
from eliza_nb.errors import ApiError, Code
from eliza_nb.plugins import _http, http_api
from eliza_nb.plugins.openai_compat import plugin as openai_plugin
from eliza_nb.testing import Cassette, create_test_runtime

API_KEY = "sk-test-abcdef123456"
Route = tuple[int, dict[str, str], bytes]


@dataclass
class LocalServer:
    """A server on 127.0.0.1: the OpenAI protocol's echo under /v1, scripted routes elsewhere."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    stop: Callable[[], None] = lambda: None

    def answer(self, method: str, path: str, body: bytes) -> Route:
        self.requests.append({"method": method, "path": path, "body": body})
        if path in self.routes:
            return self.routes[path]
        data = json.loads(body or b"{}")
        if path.endswith("/chat/completions"):
            reply = {
                "choices": [{"message": {"content": f"echo: {data['messages'][-1]['content']}"}}]
            }
            return 200, {}, json.dumps(reply).encode()
        if path.endswith("/embeddings"):
            vector = [float(len(data["input"])), 0.5, -1.0]
            return 200, {}, json.dumps({"data": [{"embedding": vector}]}).encode()
        return 404, {}, b'{"error": "no such route"}'


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, raw = server.answer(self.command, self.path, body)
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh server per test; ``server.stop()`` takes it down (a second call does nothing)."""
    local = LocalServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(local))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    local.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            httpd.shutdown()
            httpd.server_close()
            thread.join()

    local.stop = stop
    yield local
    stop()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "http.json"


@pytest.fixture(autouse=True)
def _hook_is_free_after_each_test() -> Iterator[None]:
    assert _http._transport is None
    yield
    leftover = Cassette.active()
    if leftover is not None:
        leftover.close()
    assert leftover is None and _http._transport is None


async def openai_runtime(url: str, client: str) -> AgentRuntime:
    settings = {
        "OPENAI_BASE_URL": f"{url}/v1",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_HTTP_CLIENT": client,
        "OPENAI_RETRIES": 1,
    }
    return await create_test_runtime(settings=settings, plugins=[openai_plugin])


# -- the OpenAI-compatible model plugin -----------------------------------------------------
@pytest.mark.parametrize("client", ["httpx", "urllib"])
async def test_openai_calls_replay_with_the_server_stopped_and_no_plugin(
    server: LocalServer, path: Path, client: str
) -> None:
    rt = await openai_runtime(server.url, client)
    with rt.use_cassette(path, mode="record"):
        small = await rt.use_model("TEXT_SMALL", prompt="hi", system="be brief")
        vector = await rt.use_model("TEXT_EMBEDDING", text="banana")
        turn = await rt.process_message("hello")
    await rt.aclose()
    server.stop()
    sent = len(server.requests)
    assert small == "echo: hi" and vector == [6.0, 0.5, -1.0] and sent >= 4

    offline = await create_test_runtime(settings={"OPENAI_API_KEY": API_KEY})
    with offline.use_cassette(path):
        assert await offline.use_model("TEXT_SMALL", prompt="hi", system="be brief") == small
        assert await offline.use_model("TEXT_EMBEDDING", text="banana") == vector
        replayed = await offline.process_message("hello")
        with pytest.raises(ElizaError) as excinfo:
            await offline.use_model("TEXT_SMALL", prompt="hi!", system="be brief")
    assert [(r.action, r.text) for r in replayed] == [(r.action, r.text) for r in turn]
    assert turn[0].action == "TEXT_LARGE"  # the agent loop ran, on the recorded answers
    assert excinfo.value.code == Code.CASSETTE_MISS
    assert "-hi\n+hi!" in excinfo.value.message
    assert len(server.requests) == sent  # the replay sent nothing
    text = path.read_text()
    assert API_KEY not in text and "Authorization" not in text
    # The model's own HTTP requests (urllib goes through the hook) are not recorded twice.
    assert {e["kind"] for e in json.loads(text)["entries"]} == {"model"}
    await offline.aclose()


# -- the http_api plugin (the transport hook) -----------------------------------------------
async def api_runtime(url: str) -> AgentRuntime:
    settings = {"API_URL": f"{url}/api", "API_KEY": API_KEY, "API_RETRY_DELAY": 0}
    return await create_test_runtime(settings=settings, plugins=[http_api.plugin])


async def test_http_api_fetches_replay_with_the_server_stopped(
    server: LocalServer, path: Path
) -> None:
    ada = json.dumps({"id": 1, "name": "Ada"}).encode()
    server.routes["/api/users/1"] = (200, {"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}, ada)
    rt = await api_runtime(server.url)
    with rt.use_cassette(path, mode="record"):
        live = await rt.execute_action("FETCH_DATA", "/users/1")
        missing = await rt.execute_action("FETCH_DATA", "/users/2")
    await rt.aclose()
    server.stop()
    assert live.data["data"] == {"id": 1, "name": "Ada"}
    assert missing.error_code == _http.API_NOT_FOUND

    offline = await api_runtime(server.url)  # the same API_URL, nobody listening there
    with offline.use_cassette(path):
        again = await offline.execute_action("FETCH_DATA", "/users/1")
        not_found = await offline.execute_action("FETCH_DATA", "/users/2")
        other = await offline.execute_action("FETCH_DATA", "/users/3")
    await offline.aclose()
    assert again.success and again.data == live.data
    assert not_found.error_code == _http.API_NOT_FOUND  # a recorded 404 is an answer too
    assert other.error_code == Code.CASSETTE_MISS
    assert other.error is not None
    assert f"No recording of this GET {server.url}/api/users/3 call" in other.error.message
    assert "differs in url:" in other.error.message
    text = path.read_text()
    assert API_KEY not in text and "Authorization" not in text and "Date" not in text


def test_a_request_matches_by_method_url_and_canonical_json_body(
    server: LocalServer, path: Path, runtime: AgentRuntime
) -> None:
    def post(body: bytes, auth: str) -> _http.RawResponse:
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        return _http.http_request("POST", f"{server.url}/v1/chat/completions", headers, 5, body)

    first = b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}'
    with runtime.use_cassette(path, mode="record"):
        recorded = post(first, "Bearer one")
    server.stop()
    reordered = b'{"messages": [{"content": "x", "role": "user"}], "model": "m"}'
    with runtime.use_cassette(path):
        replayed = post(reordered, "Bearer two")  # headers never matter
        with pytest.raises(ElizaError) as excinfo:
            post(b'{"model": "n", "messages": []}', "Bearer one")
    assert (replayed.status, json.loads(replayed.body)) == (200, json.loads(recorded.body))
    assert replayed.headers["Content-Type"] == "application/json"
    assert excinfo.value.code == Code.CASSETTE_MISS
    assert "differs in body:" in excinfo.value.message
    assert '-  "model": "m"' in excinfo.value.message


@pytest.mark.parametrize("body", [b"plain text", b"\xff\xfe binary", b""])
def test_bodies_that_are_not_json_round_trip(
    server: LocalServer, path: Path, runtime: AgentRuntime, body: bytes
) -> None:
    server.routes["/raw"] = (200, {"Content-Type": "application/octet-stream"}, body)
    with runtime.use_cassette(path, mode="record"):
        recorded = _http.http_request("PUT", f"{server.url}/raw", {}, 5, body)
    server.stop()
    with runtime.use_cassette(path):
        replayed = _http.http_request("PUT", f"{server.url}/raw", {}, 5, body)
    assert replayed.body == recorded.body == body
    assert server.requests[0]["body"] == body


def test_replay_sends_nothing_and_the_hook_is_removed_on_close(
    server: LocalServer, path: Path, runtime: AgentRuntime
) -> None:
    path.write_text('{"version": 1, "entries": []}')
    with runtime.use_cassette(path) as cassette:
        assert _http._transport is not None and Cassette.active(runtime) is cassette
        with pytest.raises(ElizaError) as excinfo:
            _http.http_get(f"{server.url}/api/x", {}, 5)
    assert "The cassette holds no http call to compare it with." in excinfo.value.message
    assert server.requests == []
    assert _http.http_get(f"{server.url}/api/x", {}, 5).status == 404  # sent again


def test_a_request_that_fails_is_not_recorded(
    server: LocalServer, path: Path, runtime: AgentRuntime
) -> None:
    server.stop()
    with runtime.use_cassette(path, mode="record") as cassette, pytest.raises(ApiError) as excinfo:
        _http.http_get(f"{server.url}/gone", {}, 5)
    assert excinfo.value.code == _http.API_CONNECTION_ERROR
    assert len(cassette) == 0


def test_a_body_that_is_not_base64_is_a_cassette_error(path: Path, runtime: AgentRuntime) -> None:
    entry = {
        "kind": "http",
        "request": {"method": "GET", "url": "http://127.0.0.1:9/x", "body": None},
        "response": {"status": 200, "reason": "OK", "headers": {}, "body": {"base64": "@@"}},
    }
    path.write_text(json.dumps({"version": 1, "entries": [entry]}))
    with runtime.use_cassette(path), pytest.raises(ElizaError) as excinfo:
        _http.http_get("http://127.0.0.1:9/x", {}, 5)
    assert excinfo.value.code == Code.CASSETTE_ERROR
    assert excinfo.value.message == f"Cassette {path} has an HTTP body that is not base64."


def test_a_secret_in_the_url_body_or_answer_never_reaches_the_file(
    server: LocalServer, path: Path
) -> None:
    rt = AgentRuntime(settings={"API_KEY": API_KEY}, use_env=False)
    echo = json.dumps({"token": API_KEY}).encode()
    server.routes[f"/q?key={API_KEY}"] = (200, {"X-Echo": API_KEY}, echo)
    url, body = f"{server.url}/q?key={API_KEY}", json.dumps({"key": API_KEY}).encode()
    with rt.use_cassette(path, mode="record"):
        recorded = _http.http_request("POST", url, {}, 5, body)
    server.stop()
    with rt.use_cassette(path):  # the same secret masks the same way: it matches
        replayed = _http.http_request("POST", url, {}, 5, body)
    rt.close()
    assert json.loads(recorded.body) == {"token": API_KEY}
    assert json.loads(replayed.body) == {"token": "***"} and replayed.headers["X-Echo"] == "***"
    assert API_KEY not in path.read_text()
