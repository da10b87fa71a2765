"""HTTP GET on the standard library for the http_api plugin, and its error mapping.

Blocking on purpose (``urllib``): the plugin runs it in a worker thread, which keeps the
package free of an HTTP client dependency.

Every request goes through :func:`http_request`, and so through one hook: while a
:data:`Transport` is installed (:func:`swap_transport`; a cassette does it for its duration)
each request is handed to it with the function that would send it, to send, record or answer
from a recording. Without one, a request costs one check of a module global. The transport is
process-wide on purpose: requests run in worker threads, and a notebook starts a cassette in
one cell and stops it in another, which a context variable would not survive.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Final

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from eliza_nb._checks import pydantic_problem
from eliza_nb.errors import ApiError

__all__ = [
    "API_CLIENT_ERROR",
    "API_CONNECTION_ERROR",
    "API_INVALID_JSON",
    "API_INVALID_RESPONSE",
    "API_NOT_FOUND",
    "API_RATE_LIMITED",
    "API_SERVER_ERROR",
    "API_TIMEOUT",
    "API_UNAUTHORIZED",
    "HttpCall",
    "RawResponse",
    "Transport",
    "check_status",
    "http_get",
    "http_request",
    "parse_json",
    "swap_transport",
]

# The error codes of the HTTP plugins, named once (the http_api docstring says when each is
# raised). The retried ones are also in resilience.TRANSIENT_CODES; a test keeps them in step.
API_TIMEOUT: Final = "API_TIMEOUT"
API_CONNECTION_ERROR: Final = "API_CONNECTION_ERROR"
API_RATE_LIMITED: Final = "API_RATE_LIMITED"
API_SERVER_ERROR: Final = "API_SERVER_ERROR"
API_UNAUTHORIZED: Final = "API_UNAUTHORIZED"
API_NOT_FOUND: Final = "API_NOT_FOUND"
API_CLIENT_ERROR: Final = "API_CLIENT_ERROR"
API_INVALID_JSON: Final = "API_INVALID_JSON"
API_INVALID_RESPONSE: Final = "API_INVALID_RESPONSE"

_CLIENT_CODES = {
    401: API_UNAUTHORIZED,
    403: API_UNAUTHORIZED,
    404: API_NOT_FOUND,
    429: API_RATE_LIMITED,
}


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What the server sent: status line, headers and the whole body."""

    status: int
    reason: str
    headers: Message
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One request as a :data:`Transport` sees it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


Transport = Callable[[HttpCall, Callable[[], RawResponse]], RawResponse]
"""``transport(call, send)``: answer ``call``, by calling ``send()`` or otherwise."""

_transport: Transport | None = None


def swap_transport(transport: Transport | None) -> Transport | None:
    """Install ``transport`` for every request of :func:`http_request` (None: send directly).

    Returns the transport it replaces, for the caller to put back.
    """
    global _transport
    previous, _transport = _transport, transport
    return previous


def http_get(url: str, headers: Mapping[str, str], timeout: float) -> RawResponse:
    """GET ``url`` (blocking; run it in a thread). Error statuses come back as responses.

    Raises:
        ApiError: ``API_TIMEOUT`` or ``API_CONNECTION_ERROR`` (both retryable).
    """
    return http_request("GET", url, headers, timeout)


def http_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    body: bytes | None = None,
    *,
    timeout_error: Callable[[str, float], ApiError] | None = None,
    unreachable_error: Callable[[str, object], ApiError] | None = None,
) -> RawResponse:
    """One HTTP request with the standard library (blocking; run it in a thread).

    Error statuses come back as responses; a timeout or a connection failure raises the
    ``ApiError`` its factory makes (by default ``API_TIMEOUT`` / ``API_CONNECTION_ERROR``).
    An installed :data:`Transport` (a cassette) may answer instead.
    """
    on_timeout = timeout_error or _timeout
    on_unreachable = unreachable_error or _unreachable
    transport = _transport
    if transport is None:
        return _send(method, url, headers, timeout, body, on_timeout, on_unreachable)
    call = HttpCall(method, url, headers, body, timeout)
    return transport(
        call, lambda: _send(method, url, headers, timeout, body, on_timeout, on_unreachable)
    )


def _send(
    method: str,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    body: bytes | None,
    on_timeout: Callable[[str, float], ApiError],
    on_unreachable: Callable[[str, object], ApiError],
) -> RawResponse:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return RawResponse(response.status, response.reason, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the open response; close it
            return RawResponse(exc.code, str(exc.reason), exc.headers, exc.read())
    except TimeoutError:
        raise on_timeout(url, timeout) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise on_timeout(url, timeout) from None
        raise on_unreachable(url, exc.reason) from None
    except OSError as exc:  # reset or refused while reading
        raise on_unreachable(url, exc) from None


def _timeout(url: str, timeout: float) -> ApiError:
    return ApiError(
        f"GET {url} gave no answer within {timeout:g} s ({API_TIMEOUT}).",
        code=API_TIMEOUT,
        details={"url": url, "retryable": True},
    )


def _unreachable(url: str, reason: object) -> ApiError:
    return ApiError(
        f"GET {url} failed: cannot reach the server ({reason}).",
        code=API_CONNECTION_ERROR,
        details={"url": url, "retryable": True},
    )


def _retry_after(headers: Message) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), if any."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_status(url: str, raw: RawResponse) -> None:
    """Raise the ``ApiError`` of a non-2xx status (429 carries ``retry_after``)."""
    if 200 <= raw.status < 300:
        return
    snippet = raw.body[:200].decode("utf-8", "replace")
    details: dict[str, Any] = {"url": url, "body": snippet}
    if raw.status >= 500:
        code = API_SERVER_ERROR
    else:
        code = _CLIENT_CODES.get(raw.status, API_CLIENT_ERROR)
    if raw.status == 429:
        details["retry_after"] = _retry_after(raw.headers)
    hint = " Check API_KEY." if code == API_UNAUTHORIZED else ""
    raise ApiError(
        f"GET {url} answered {raw.status} {raw.reason}.{hint}",
        status=raw.status,
        code=code,
        details=details,
    )


def parse_json(url: str, raw: RawResponse, adapter: TypeAdapter[Any], model_name: str) -> Any:
    """The body as JSON, validated by ``adapter``.

    Raises:
        ApiError: ``API_INVALID_JSON`` or ``API_INVALID_RESPONSE`` (neither is retried).
    """
    try:
        payload = json.loads(raw.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            f"GET {url} did not answer JSON: {exc}.",
            status=raw.status,
            code=API_INVALID_JSON,
            details={"url": url},
        ) from None
    try:
        return adapter.validate_python(payload)
    except PydanticValidationError as exc:
        where, what = pydantic_problem(exc)
        raise ApiError(
            f"GET {url} answered JSON that is not a valid {model_name}: {where or 'body'}: {what}.",
            status=raw.status,
            code=API_INVALID_RESPONSE,
            details={"url": url},
        ) from None
