"""A model plugin for any OpenAI-compatible HTTP endpoint: OpenAI, llama.cpp, Ollama, vLLM...

It serves ``TEXT_SMALL`` and ``TEXT_LARGE`` through ``POST {base}/chat/completions`` and
``TEXT_EMBEDDING`` through ``POST {base}/embeddings``, with a timeout, retries of transient
failures (429, 5xx, timeouts, refused connections; :func:`eliza_nb.resilience.with_retry`), an
optional rate limit (:class:`~eliza_nb.resilience.RateLimiter`) and a cache of embeddings
(:class:`~eliza_nb.resilience.ResponseCache`).

Settings (read on every request, so ``set_setting`` takes effect at once):

================================  ==========================================================
``OPENAI_BASE_URL``               ``https://api.openai.com/v1``; a local server:
                                  ``http://localhost:8080/v1`` (llama.cpp),
                                  ``http://localhost:11434/v1`` (Ollama)
``OPENAI_API_KEY``                sent as ``Authorization: Bearer``; local servers need none
``OPENAI_SMALL_MODEL``            else ``SMALL_MODEL``, else ``gpt-4o-mini``
``OPENAI_LARGE_MODEL``            else ``LARGE_MODEL``, else ``gpt-4o``
``OPENAI_EMBEDDING_MODEL``        else ``EMBEDDING_MODEL``, else ``text-embedding-3-small``
``OPENAI_TIMEOUT``                seconds per request (60)
``OPENAI_RETRIES``                attempts in all, the first included (3)
``OPENAI_RETRY_DELAY``            first backoff delay in seconds, doubling (0.5)
``OPENAI_RATE_LIMIT``             at most this many requests per minute (no limit)
``OPENAI_HTTP_CLIENT``            ``httpx`` (default when installed) or ``urllib``
================================  ==========================================================

Failures raise :class:`~eliza_nb.errors.ApiError` with the HTTP ``status`` and a code:
``API_UNAUTHORIZED``, ``API_RATE_LIMITED``, ``API_SERVER_ERROR``, ``API_CLIENT_ERROR``,
``TIMEOUT``, ``API_CONNECTION_ERROR``, or ``API_ERROR`` for a body that is not the protocol's
JSON. The server's own error message is kept, secrets masked.

Example:
    >>> from eliza_nb import AgentRuntime
    >>> from eliza_nb.plugins.openai_compat import plugin
    >>> rt = AgentRuntime(settings={"OPENAI_BASE_URL": "http://localhost:8080/v1"})
    >>> rt.run_sync(rt.register_plugin(plugin))
    >>> # text = rt.run_sync(rt.use_model("TEXT_SMALL", prompt="Say hi"))
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from eliza_nb.errors import ApiError, Code, ConfigurationError
from eliza_nb.models import ModelType
from eliza_nb.plugin import Plugin, PluginConfig, Service
from eliza_nb.plugins._http import (
    API_CLIENT_ERROR,
    API_CONNECTION_ERROR,
    API_RATE_LIMITED,
    API_SERVER_ERROR,
    API_UNAUTHORIZED,
    http_request,
)
from eliza_nb.resilience import RateLimiter, ResponseCache, with_retry
from eliza_nb.suites import TestCase, TestSuite

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["OpenAICompatService", "OpenAICompatSettings", "plugin"]

SERVICE_TYPE = "openai_compat"
_STATUS_CODES = {401: API_UNAUTHORIZED, 403: API_UNAUTHORIZED, 429: API_RATE_LIMITED}
_KEYS = [
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_SMALL_MODEL",
    "OPENAI_LARGE_MODEL",
    "OPENAI_EMBEDDING_MODEL",
    "OPENAI_TIMEOUT",
    "OPENAI_RETRIES",
    "OPENAI_RETRY_DELAY",
    "OPENAI_RATE_LIMIT",
    "OPENAI_HTTP_CLIENT",
]

try:  # httpx is preferred when installed; the standard library serves otherwise
    import httpx
except ImportError:  # pragma: no cover - depends on the environment
    httpx = None  # type: ignore[assignment]


def _number(runtime: AgentRuntime, key: str, default: float, least: float) -> float:
    raw = runtime.get_setting(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = least - 1
    if isinstance(raw, bool) or value < least:
        raise ConfigurationError(
            f"Setting {key}={raw!r} must be a number >= {least:g}.", details={"key": key}
        )
    return value


def _model(runtime: AgentRuntime, size: str, default: str) -> str:
    return str(
        runtime.get_setting(f"OPENAI_{size}_MODEL")
        or runtime.get_setting(f"{size}_MODEL")
        or default
    )


@dataclass(frozen=True, slots=True)
class OpenAICompatSettings:
    """The plugin's settings, resolved from a runtime (see the module docstring)."""

    base_url: str
    api_key: str | None
    small_model: str
    large_model: str
    embedding_model: str
    timeout: float
    attempts: int
    retry_delay: float
    rate_limit: float | None
    http_client: str

    @classmethod
    def from_runtime(cls, runtime: AgentRuntime) -> OpenAICompatSettings:
        """Resolve every setting.

        Raises:
            ConfigurationError: a number is not positive, or the base URL is not http(s).
        """
        base = str(runtime.get_setting("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        parsed = urlparse(base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigurationError(
                f"OPENAI_BASE_URL={base!r} must be an http(s) URL such as http://localhost:8080/v1",
                details={"key": "OPENAI_BASE_URL"},
            )
        client = str(
            runtime.get_setting("OPENAI_HTTP_CLIENT")
            or ("httpx" if httpx is not None else "urllib")
        ).lower()
        if client not in ("httpx", "urllib") or (client == "httpx" and httpx is None):
            raise ConfigurationError(
                f"OPENAI_HTTP_CLIENT={client!r}: use 'urllib'"
                + (" or 'httpx'" if httpx is not None else ""),
                details={"key": "OPENAI_HTTP_CLIENT"},
            )
        rate = _number(runtime, "OPENAI_RATE_LIMIT", 0.0, 0.0)
        return cls(
            base_url=base.rstrip("/"),
            api_key=runtime.get_setting("OPENAI_API_KEY") or None,
            small_model=_model(runtime, "SMALL", "gpt-4o-mini"),
            large_model=_model(runtime, "LARGE", "gpt-4o"),
            embedding_model=_model(runtime, "EMBEDDING", "text-embedding-3-small"),
            timeout=_number(runtime, "OPENAI_TIMEOUT", 60.0, 0.001),
            attempts=int(_number(runtime, "OPENAI_RETRIES", 3, 1)),
            retry_delay=_number(runtime, "OPENAI_RETRY_DELAY", 0.5, 0.0),
            rate_limit=rate or None,
            http_client=client,
        )


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    retry_after: float | None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: let the backoff decide
        return None


def _post_urllib(url: str, body: bytes, headers: dict[str, str], timeout: float) -> _Reply:
    raw = http_request(
        "POST",
        url,
        headers,
        timeout,
        body,
        timeout_error=_timeout,
        unreachable_error=_unreachable,
    )
    return _Reply(raw.status, raw.body, _retry_after(raw.headers.get("Retry-After")))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a context reads the CA bundle (~80 ms): once per process, not once per request.
    return httpx.create_ssl_context()


async def _post_httpx(url: str, body: bytes, headers: dict[str, str], timeout: float) -> _Reply:
    # A client per request: clients hold connections bound to one event loop, and a runtime may
    # be driven from several (the kernel's, its own); the shared SSL context keeps this cheap.
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=_ssl_context()) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise _timeout(url, timeout) from None
    except httpx.TransportError as exc:
        raise _unreachable(url, exc) from None
    return _Reply(
        response.status_code, response.content, _retry_after(response.headers.get("Retry-After"))
    )


def _timeout(url: str, timeout: float) -> ApiError:
    return ApiError(
        f"POST {url} gave no answer within {timeout:g} s; raise OPENAI_TIMEOUT for a slow model.",
        code=Code.TIMEOUT,
        details={"url": url},
    )


def _unreachable(url: str, reason: object) -> ApiError:
    return ApiError(
        f"POST {url} failed: cannot reach the server ({reason}). Is it running, "
        "and is OPENAI_BASE_URL right?",
        code=API_CONNECTION_ERROR,
        details={"url": url},
    )


def _server_message(body: bytes) -> str:
    """The error message of an error body: OpenAI's ``{"error": {"message"}}`` or Ollama's."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        err = err.get("message", err)
    return str(err)[:200]


def _check(url: str, reply: _Reply) -> Any:
    """The JSON body of a 2xx reply; an ``ApiError`` for anything else."""
    if not 200 <= reply.status < 300:
        code = _STATUS_CODES.get(reply.status) or (
            API_SERVER_ERROR if reply.status >= 500 else API_CLIENT_ERROR
        )
        details: dict[str, Any] = {"url": url}
        if reply.retry_after is not None:
            details["retry_after"] = reply.retry_after
        raise ApiError(
            f"POST {url} answered {reply.status}: {_server_message(reply.body)}",
            status=reply.status,
            code=code,
            details=details,
        )
    try:
        return json.loads(reply.body)
    except ValueError:
        snippet = reply.body[:80].decode("utf-8", "replace")
        raise ApiError(
            f"POST {url}: the reply is not JSON: {snippet!r}",
            status=reply.status,
            details={"url": url},
        ) from None


def _malformed(url: str, what: str, data: Any) -> ApiError:
    return ApiError(
        f"POST {url}: the reply has no {what}: {str(data)[:120]!r}", details={"url": url}
    )


class OpenAICompatService(Service):
    """Talks to the endpoint: ``runtime.get_service("openai_compat")``."""

    service_type = SERVICE_TYPE

    def __init__(self) -> None:
        self.runtime: AgentRuntime | None = None
        self._limiter: RateLimiter | None = None
        self._cache: ResponseCache[list[float]] = ResponseCache(SERVICE_TYPE, maxsize=1024)

    async def initialize(self, runtime: AgentRuntime) -> None:
        """Check the settings once, so a bad one fails registration."""
        self.runtime = runtime
        OpenAICompatSettings.from_runtime(runtime)

    def _settings(self) -> tuple[AgentRuntime, OpenAICompatSettings]:
        if self.runtime is None:
            raise ConfigurationError("openai_compat service used before initialize()")
        return self.runtime, OpenAICompatSettings.from_runtime(self.runtime)

    async def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST JSON to ``{OPENAI_BASE_URL}{path}`` with rate limit and retries; the reply's JSON.

        Raises:
            ApiError: see the module docstring (secrets masked).
        """
        runtime, cfg = self._settings()
        url = f"{cfg.base_url}{path}"
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "eliza_nb-openai-compat",
        }
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        limiter = self._rate_limiter(cfg.rate_limit)

        async def attempt() -> Any:
            if limiter is not None:
                await limiter.acquire()
            if cfg.http_client == "httpx":
                reply = await _post_httpx(url, body, headers, cfg.timeout)
            else:
                reply = await asyncio.to_thread(_post_urllib, url, body, headers, cfg.timeout)
            return _check(url, reply)

        try:
            return await with_retry(
                attempt, runtime=runtime, attempts=cfg.attempts, initial_delay=cfg.retry_delay
            )
        except ApiError as exc:
            exc.message = runtime.settings.masker.mask(exc.message)
            raise

    def _rate_limiter(self, per_minute: float | None) -> RateLimiter | None:
        if per_minute is None:
            self._limiter = None
        elif self._limiter is None or self._limiter.max_rate != per_minute:
            self._limiter = RateLimiter(per_minute, 60.0, name=SERVICE_TYPE)
        return self._limiter

    async def generate_text(self, large: bool, params: Mapping[str, Any]) -> str:
        """A chat completion for ``params`` (``prompt``, ``system``, ``messages``, ...)."""
        _, cfg = self._settings()
        messages = list(params.get("messages") or [])
        if not messages:
            if params.get("system"):
                messages.append({"role": "system", "content": str(params["system"])})
            messages.append({"role": "user", "content": str(params.get("prompt", ""))})
        payload: dict[str, Any] = {
            "model": cfg.large_model if large else cfg.small_model,
            "messages": messages,
        }
        for ours, theirs in (
            ("temperature", "temperature"),
            ("max_tokens", "max_tokens"),
            ("stop_sequences", "stop"),
        ):
            if params.get(ours) is not None:
                payload[theirs] = params[ours]
        data = await self.post("/chat/completions", payload)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise _malformed(
                f"{cfg.base_url}/chat/completions", "choices[0].message.content", data
            ) from None
        return "" if content is None else str(content)

    async def embed(self, text: str) -> list[float]:
        """The embedding of ``text`` (cached per model and text)."""
        _, cfg = self._settings()

        async def fetch() -> list[float]:
            data = await self.post("/embeddings", {"model": cfg.embedding_model, "input": text})
            try:
                vector = data["data"][0]["embedding"]
                return [float(x) for x in vector]
            except (KeyError, IndexError, TypeError, ValueError):
                raise _malformed(
                    f"{cfg.base_url}/embeddings", "data[0].embedding numbers", data
                ) from None

        return await self._cache.get_or_fetch((cfg.embedding_model, text), fetch)


def _service(runtime: AgentRuntime) -> OpenAICompatService:
    svc = runtime.get_service(SERVICE_TYPE)
    if not isinstance(svc, OpenAICompatService):
        raise ConfigurationError("The openai-compat plugin is not registered in this runtime.")
    return svc


async def _text_small(runtime: AgentRuntime, params: dict[str, Any]) -> str:
    return await _service(runtime).generate_text(False, params)


async def _text_large(runtime: AgentRuntime, params: dict[str, Any]) -> str:
    return await _service(runtime).generate_text(True, params)


async def _embedding(runtime: AgentRuntime, params: dict[str, Any]) -> list[float]:
    return await _service(runtime).embed(str(params.get("text") or ""))


def _settings_resolve(runtime: AgentRuntime) -> None:
    cfg = OpenAICompatSettings.from_runtime(runtime)
    assert cfg.base_url.startswith(("http://", "https://")), cfg.base_url


def _service_running(runtime: AgentRuntime) -> None:
    assert isinstance(runtime.get_service(SERVICE_TYPE), OpenAICompatService)


plugin = Plugin(
    name="openai-compat",
    description="TEXT_SMALL, TEXT_LARGE and TEXT_EMBEDDING from any OpenAI-compatible endpoint",
    version="0.1.0",
    config=PluginConfig(optional=_KEYS, secrets=["OPENAI_API_KEY"]),
    services=[OpenAICompatService],
    models={
        ModelType.TEXT_SMALL: _text_small,
        ModelType.TEXT_LARGE: _text_large,
        ModelType.TEXT_EMBEDDING: _embedding,
    },
    tests=[
        TestSuite(
            "configuration",
            [
                TestCase("settings resolve", _settings_resolve),
                TestCase("service running", _service_running),
            ],
        )
    ],
)
"""The plugin to register: ``await runtime.register_plugin(plugin)``."""
