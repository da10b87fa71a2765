"""HTTP API: fetch JSON from a configurable API, with retries, a cache and a rate limit.

The template for any plugin that talks to a remote service. ``FETCH_DATA`` sends a GET to
``API_URL`` (plus a path and query parameters) and returns the JSON answer, validated with
pydantic. Transient failures (timeouts, refused connections, 429, 5xx) are retried with
exponential backoff (:func:`eliza_nb.resilience.with_retry`, honouring ``Retry-After``);
answers are cached (:class:`~eliza_nb.resilience.ResponseCache`) and requests are spaced out
(:class:`~eliza_nb.resilience.RateLimiter`). HTTP runs on the standard library in a worker
thread, so the plugin needs no extra dependency.

Settings:
    ``API_URL`` (required): base URL, ``http://`` or ``https://``.
    ``API_KEY``: sent as ``Authorization: Bearer <key>`` (or in ``API_AUTH_HEADER``); masked.
    ``API_AUTH_HEADER``: header for the key instead of ``Authorization`` (sent without Bearer).
    ``API_TIMEOUT``: seconds per attempt (10). ``RETRY_ATTEMPTS``: attempts per request
    (the ``ELIZA_ENV`` preset's). ``API_RETRY_DELAY`` / ``API_RETRY_MAX_DELAY``: first backoff
    delay and its cap (0.5 / 10 s). ``API_CACHE_TTL``: seconds answers are kept (the preset's).
    ``API_RATE_LIMIT`` requests per ``API_RATE_PERIOD`` seconds (10 per 1).

Action ``FETCH_DATA`` (similes ``GET_DATA``, ``CALL_API``): options ``path`` (or a single
word of message text such as ``/users/1``), ``params`` (a dict of query parameters),
``refresh`` (skip the cache). Returns ``data = {"url", "status", "cached", "data"}``.

Error codes (on ``ApiError``, ``details["status"]`` is the HTTP status when there was one):

=========================  ==========================================  =========
code                       when                                        retried
=========================  ==========================================  =========
``API_TIMEOUT``            no answer within ``API_TIMEOUT``            yes
``API_CONNECTION_ERROR``   the server cannot be reached                yes
``API_RATE_LIMITED``       429 Too Many Requests                       yes
``API_SERVER_ERROR``       5xx                                         yes
``API_UNAUTHORIZED``       401 or 403: check ``API_KEY``               no
``API_NOT_FOUND``          404                                         no
``API_CLIENT_ERROR``       any other 4xx                               no
``API_INVALID_JSON``       the body is not JSON                        no
``API_INVALID_RESPONSE``   the JSON does not match the response model  no
=========================  ==========================================  =========

Example:
    >>> from eliza_nb.plugins.http_api import create_plugin
    >>> from pydantic import BaseModel
    >>> class User(BaseModel):
    ...     id: int
    ...     name: str
    >>> users = create_plugin(name="users", action_name="FETCH_USER", response_model=User)
    >>> [a.name for a in users.actions]
    ['FETCH_USER']
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from eliza_nb.errors import ConfigurationError, ValidationError
from eliza_nb.plugin import Action, Plugin, PluginConfig, Service
from eliza_nb.plugins._common import (
    command_pattern,
    float_setting,
    int_setting,
    str_option,
    strip_command,
)
from eliza_nb.plugins._http import check_status, http_get, parse_json
from eliza_nb.resilience import RateLimiter, ResponseCache, with_retry
from eliza_nb.types import ActionExample, Content, Memory

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["FetchResult", "HttpApiClient", "HttpApiService", "create_plugin", "plugin"]

_USER_AGENT = "eliza_nb-http_api/0.1"
_DEFAULT_MODEL: Any = dict[str, Any] | list[Any]
_DESCRIPTION = "Fetch JSON from a configurable HTTP API, with retries, a cache and a rate limit."


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One answer: the URL asked, its HTTP status, the validated data, whether it was cached."""

    url: str
    status: int
    data: Any
    cached: bool = False


# -- the client -------------------------------------------------------------------------
class HttpApiClient:
    """GETs JSON from ``API_URL`` with retries, a TTL cache and a rate limit.

    Settings are read at each request (``API_URL``, ``API_KEY``, ``API_TIMEOUT``, retries), so
    ``runtime.set_setting`` takes effect at once; the cache ttl and the rate are fixed when
    the client is made.

    Raises:
        ConfigurationError: a setting is missing or malformed (bad ``API_URL`` scheme, ...).
    """

    def __init__(
        self, runtime: AgentRuntime, plugin: str = "http_api", response_model: Any = None
    ) -> None:
        self.runtime = runtime
        self.plugin = plugin
        model = _DEFAULT_MODEL if response_model is None else response_model
        self.adapter: TypeAdapter[Any] = TypeAdapter(model)
        self.model_name: str = (
            "JSON object or array"
            if response_model is None
            else model.__name__
            if isinstance(model, type)
            else str(model)
        )
        self.cache: ResponseCache[tuple[int, Any]] = ResponseCache.for_runtime(
            runtime, plugin, ttl_setting="API_CACHE_TTL"
        )
        self.limiter = RateLimiter(
            int_setting(runtime, "API_RATE_LIMIT", 10),
            float_setting(runtime, "API_RATE_PERIOD", 1.0, least=1e-3),
            name=plugin,
        )
        self.base_url()  # fail at registration, not at the first call

    def base_url(self) -> str:
        """``API_URL`` checked: an absolute http(s) URL."""
        url = str(self.runtime.get_setting("API_URL") or "")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"API_URL={url!r} must be an absolute http:// or https:// URL.",
                details={"key": "API_URL"},
            )
        return url

    def url_for(self, path: str = "", params: Mapping[str, Any] | None = None) -> str:
        """The URL for ``path`` (relative to ``API_URL``) and query ``params``.

        Raises:
            ValidationError: ``path`` is an absolute URL, or ``params`` is not a flat dict.
        """
        if "://" in path or path.startswith("//"):
            raise ValidationError(f"path {path!r} must be relative to API_URL", field="path")
        base = self.base_url()
        url = f"{base.rstrip('/')}/{path.lstrip('/')}" if path else base
        if params:
            if not isinstance(params, Mapping) or not all(
                isinstance(v, str | int | float | bool) for v in params.values()
            ):
                raise ValidationError("params must be a dict of text or numbers", field="params")
            joiner = "&" if urllib.parse.urlsplit(url).query else "?"
            url += joiner + urllib.parse.urlencode(sorted(params.items()))
        return url

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        key = self.runtime.get_setting("API_KEY")
        if key:
            custom = self.runtime.get_setting("API_AUTH_HEADER")
            headers[str(custom or "Authorization")] = str(key) if custom else f"Bearer {key}"
        return headers

    async def fetch(
        self, path: str = "", params: Mapping[str, Any] | None = None, *, refresh: bool = False
    ) -> FetchResult:
        """GET ``path`` and return the validated answer (from the cache when fresh).

        Raises:
            ApiError: with one of the codes in the module docstring, after retries.
            ValidationError: bad ``path`` or ``params``.
        """
        url = self.url_for(path, params)
        hit = None if refresh else self.cache.get(url)
        if hit is not None:
            return FetchResult(url, hit[0], hit[1], cached=True)
        status, data = await with_retry(
            lambda: self._attempt(url),
            runtime=self.runtime,
            initial_delay=float_setting(self.runtime, "API_RETRY_DELAY", 0.5),
            max_delay=float_setting(self.runtime, "API_RETRY_MAX_DELAY", 10.0),
        )
        self.cache.set(url, (status, data))
        return FetchResult(url, status, data)

    async def _attempt(self, url: str) -> tuple[int, Any]:
        timeout = float_setting(self.runtime, "API_TIMEOUT", 10.0, least=1e-3)
        async with self.limiter:
            raw = await asyncio.to_thread(http_get, url, self._headers(), timeout)
        check_status(url, raw)
        return raw.status, parse_json(url, raw, self.adapter, self.model_name)


class HttpApiService(Service):
    """Holds the runtime's :class:`HttpApiClient` (its cache and rate limiter)."""

    service_type = "http_api"
    response_model: Any = None

    def __init__(self) -> None:
        self.client: HttpApiClient | None = None

    async def initialize(self, runtime: AgentRuntime) -> None:
        """Build the client; raises ``ConfigurationError`` for bad settings."""
        self.client = HttpApiClient(runtime, self.service_type, self.response_model)


# -- the action and the plugin ----------------------------------------------------------
def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, dict):
        return f"an object with {len(value)} key(s)"
    return f"a {type(value).__name__}"


def _make_action(service: type[HttpApiService], name: str, similes: Sequence[str]) -> Action:
    pattern = command_pattern([name, *similes])

    async def fetch_data(
        runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
    ) -> dict[str, Any]:
        svc = runtime.get_service(service.service_type)
        if svc is None or svc.client is None:
            raise ConfigurationError(f"{name}: register the {service.service_type!r} plugin first")
        words = strip_command(message.content.text, pattern).split()
        path = str_option(options, "path") or (words[0] if len(words) == 1 else "")
        found = await svc.client.fetch(
            path,
            options.get("params"),
            refresh=str(options.get("refresh", "")).lower() in {"true", "1", "yes"},
        )
        dumped = svc.client.adapter.dump_python(found.data, mode="json")
        text = f"Fetched {found.url}: {_describe(dumped)}{' (cached)' if found.cached else ''}."
        await callback(Content(text=text, action=name, url=found.url))
        data = {"url": found.url, "status": found.status, "cached": found.cached, "data": dumped}
        return {"success": True, "text": text, "data": data}

    return Action(
        name=name,
        handler=fetch_data,
        similes=list(similes),
        description="Fetch JSON from the configured HTTP API (API_URL) and return it.",
        examples=_examples(name),
    )


def _examples(name: str) -> list[list[ActionExample]]:
    """One exchange: a user asks for a path, the agent reports what came back."""
    answer = Content(text="Fetched .../users/1: an object with 3 key(s).", action=name)
    return [
        [
            ActionExample(user="{{user1}}", content=Content(text="fetch data /users/1")),
            ActionExample(user="{{agent}}", content=answer),
        ]
    ]


def create_plugin(
    *,
    name: str = "http_api",
    action_name: str = "FETCH_DATA",
    similes: Sequence[str] = ("GET_DATA", "CALL_API"),
    response_model: Any = None,
    description: str = _DESCRIPTION,
) -> Plugin:
    """A FETCH_DATA-style plugin; ``response_model`` (a pydantic model or any type pydantic
    validates, such as ``list[User]``) checks every answer. Use distinct ``name`` and
    ``action_name`` to register several APIs side by side."""
    service = _service_class(name, response_model)
    return Plugin(
        name=name,
        description=description,
        version="0.1.0",
        actions=[_make_action(service, action_name, similes)],
        services=[service],
        config=_plugin_config(),
    )


def _service_class(name: str, response_model: Any) -> type[HttpApiService]:
    """A subclass of :class:`HttpApiService` of service type ``name``, so APIs sit side by side."""
    service: type[HttpApiService] = type(
        f"{name.title().replace('_', '')}Service",
        (HttpApiService,),
        {"service_type": name, "response_model": response_model, "__doc__": HttpApiService.__doc__},
    )
    return service


def _plugin_config() -> PluginConfig:
    """The settings of the module docstring (a fresh config per plugin)."""
    return PluginConfig(
        required=["API_URL"],
        optional=[
            "API_KEY",
            "API_AUTH_HEADER",
            "API_TIMEOUT",
            "API_CACHE_TTL",
            "API_RATE_LIMIT",
            "API_RATE_PERIOD",
            "API_RETRY_DELAY",
            "API_RETRY_MAX_DELAY",
            "RETRY_ATTEMPTS",
        ],
        defaults={
            "API_TIMEOUT": 10.0,
            "API_RATE_LIMIT": 10,
            "API_RATE_PERIOD": 1.0,
            "API_RETRY_DELAY": 0.5,
            "API_RETRY_MAX_DELAY": 10.0,
        },
        secrets=["API_KEY"],
    )


plugin = create_plugin()
"""The ``http_api`` plugin (action ``FETCH_DATA``); needs the ``API_URL`` setting."""
