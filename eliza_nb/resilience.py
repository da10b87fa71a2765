"""Resilience helpers for plugin authors: retries, a response cache, a rate limiter, presets.

Remote APIs fail in a few predictable ways: they time out, they answer 429 or 5xx, they
throttle. These helpers wrap well-kept libraries so a handler handles all of that in a line:

- :func:`with_retry` retries a coroutine with exponential backoff (tenacity); the number of
  attempts comes from the ``RETRY_ATTEMPTS`` setting when a runtime is given.
- :class:`ResponseCache` keeps answers for a while (cachetools ``TTLCache``, 5 minutes by
  default); one cache per plugin.
- :class:`RateLimiter` spaces out calls (aiolimiter's leaky bucket).
- :func:`get_preset` picks the development / staging / production defaults (log level, cache
  timeout, retry attempts) named by ``ELIZA_ENV``.

Example:
    >>> import asyncio
    >>> cache = ResponseCache("weather", ttl=60)
    >>> async def fetch():
    ...     return {"temp": 21}
    >>> asyncio.run(cache.get_or_fetch("paris", lambda: with_retry(fetch, attempts=3)))
    {'temp': 21}
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import tenacity
from aiolimiter import AsyncLimiter
from cachetools import TTLCache

from eliza_nb.errors import ApiError, Code, ConfigurationError, ElizaError

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = [
    "DEFAULT_CACHE_TTL",
    "PRESETS",
    "TRANSIENT_CODES",
    "TRANSIENT_STATUSES",
    "EnvironmentPreset",
    "RateLimiter",
    "ResponseCache",
    "get_preset",
    "is_transient",
    "with_retry",
]

log = logging.getLogger("eliza_nb.resilience")
T = TypeVar("T")

DEFAULT_CACHE_TTL = 300.0
"""Seconds a :class:`ResponseCache` keeps an entry when nothing else is said (5 minutes)."""

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: timeouts, throttling and server-side failures."""

#: The code of a non-blocking :class:`RateLimiter`'s refusal (retryable).
_RATE_LIMITED = "RATE_LIMITED"

# The API_* codes are the conventional ones of HTTP plugins (eliza_nb.plugins._http names the
# example plugins' own, and a test checks that its retryable ones are listed here).
TRANSIENT_CODES = frozenset(
    {
        Code.TIMEOUT,
        _RATE_LIMITED,
        "API_TIMEOUT",
        "API_RATE_LIMITED",
        "API_SERVER_ERROR",
        "API_CONNECTION_ERROR",
        "API_UNAVAILABLE",
    }
)
"""Error codes worth retrying when an error carries no HTTP status."""


# -- presets ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EnvironmentPreset:
    """Defaults for one deployment environment.

    Attributes:
        name: ``development``, ``staging`` or ``production``.
        log_level: Level of the ``eliza_nb`` logger (``DEBUG``, ``INFO``, ``WARNING``).
        cache_ttl: Seconds a :class:`ResponseCache` built with ``for_runtime`` keeps entries.
        retry_attempts: Attempts :func:`with_retry` makes when ``RETRY_ATTEMPTS`` is not set.
    """

    name: str
    log_level: str
    cache_ttl: float
    retry_attempts: int

    def apply(self, logger: str = "eliza_nb") -> None:
        """Set the level of ``logger`` (the library's root logger by default) to ``log_level``."""
        logging.getLogger(logger).setLevel(self.log_level)


PRESETS: dict[str, EnvironmentPreset] = {
    # Short cache and few retries: see changes at once, fail fast while writing a plugin.
    "development": EnvironmentPreset("development", "DEBUG", 60.0, 2),
    "staging": EnvironmentPreset("staging", "INFO", DEFAULT_CACHE_TTL, 3),
    "production": EnvironmentPreset("production", "WARNING", 600.0, 5),
}
_ALIASES = {"dev": "development", "stage": "staging", "prod": "production"}


def get_preset(
    name: str | None = None, *, runtime: AgentRuntime | None = None
) -> EnvironmentPreset:
    """The preset for ``name``, else for the ``ELIZA_ENV`` setting (or environment variable).

    Lookup: ``name``, then ``runtime.get_setting("ELIZA_ENV")`` when a runtime is given, then
    ``os.environ["ELIZA_ENV"]``, then ``development``. Case and the short forms ``dev``,
    ``stage``, ``prod`` are accepted.

    Raises:
        ConfigurationError: the name is not one of the presets (the valid names are listed).
    """
    if name is None and runtime is not None:
        name = runtime.get_setting("ELIZA_ENV")
    if name is None:
        name = os.environ.get("ELIZA_ENV")
    key = str(name or "development").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PRESETS:
        raise ConfigurationError(
            f"ELIZA_ENV={name!r} is not a known environment: use one of {', '.join(PRESETS)}.",
            details={"ELIZA_ENV": name, "valid": list(PRESETS)},
        )
    return PRESETS[key]


def _number_setting(
    runtime: AgentRuntime, key: str, least: float, *, integer: bool
) -> float | None:
    """A numeric setting (settings from the environment arrive as text), or None if unset.

    Raises:
        ConfigurationError: the value is not a number (an integer if ``integer``) >= ``least``.
    """
    raw = runtime.get_setting(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(int(raw) if integer else float(raw))
    except (TypeError, ValueError):
        value = None
    if value is None or isinstance(raw, bool) or value < least:
        kind = "an integer" if integer else "a number"
        raise ConfigurationError(
            f"Setting {key}={raw!r} must be {kind} of at least {least:g}.", details={"key": key}
        )
    return value


# -- retries ----------------------------------------------------------------------------
def is_transient(exc: BaseException) -> bool:
    """The default retry predicate: True for failures that may pass if tried again.

    An ``ElizaError`` whose ``details["retryable"]`` is a bool decides for itself; otherwise an
    HTTP ``status`` in :data:`TRANSIENT_STATUSES`, or (without a status) a code in
    :data:`TRANSIENT_CODES`, is transient. Of foreign exceptions, ``TimeoutError`` and
    ``ConnectionError`` are. Cancellation never is.
    """
    if isinstance(exc, ElizaError):
        flag = exc.details.get("retryable")
        if isinstance(flag, bool):
            return flag
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            return status in TRANSIENT_STATUSES
        return exc.code in TRANSIENT_CODES
    return isinstance(exc, TimeoutError | ConnectionError)


def _resolve_attempts(attempts: int | None, runtime: AgentRuntime | None) -> int:
    if attempts is not None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(f"attempts must be an integer >= 1, got {attempts!r}")
        return attempts
    if runtime is not None:
        configured = _number_setting(runtime, "RETRY_ATTEMPTS", 1, integer=True)
        if configured is not None:
            return int(configured)
    return get_preset(runtime=runtime).retry_attempts


class _Backoff:
    """Exponential backoff that also honours a server's ``retry_after`` hint, both capped."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._exponential = tenacity.wait_exponential(multiplier=initial, max=maximum)
        self._max = maximum

    def __call__(self, state: tenacity.RetryCallState) -> float:
        delay = float(self._exponential(state))
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = exc.details.get("retry_after") if isinstance(exc, ElizaError) else None
        if isinstance(hint, int | float) and not isinstance(hint, bool):
            delay = max(delay, float(hint))
        return min(delay, self._max)


class _RetryLog:
    """The ``before_sleep`` hook: one warning per failed attempt, its message masked."""

    def __init__(self, total: int, mask: Callable[[str], str]) -> None:
        self._total = total
        self._mask = mask

    def __call__(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "attempt %d of %d failed (%s); retrying in %.2f s",
            state.attempt_number,
            self._total,
            self._mask(str(exc)),
            delay,
        )


def _retrying(
    total: int,
    retry_if: Callable[[BaseException], bool],
    wait: _Backoff,
    sleep: Callable[[float], Awaitable[None]],
    log_retry: _RetryLog,
) -> tenacity.AsyncRetrying:
    """The tenacity policy: ``total`` attempts, ``wait`` between them, re-raise the last error."""
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(total),
        wait=wait,
        # Only Exceptions: a KeyboardInterrupt or a cancellation must stop the retries at once.
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, Exception) and retry_if(e)),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )


async def _until_done(retrying: tenacity.AsyncRetrying, fn: Callable[[], Awaitable[T]]) -> T:
    """Await ``fn()`` under ``retrying``; an ``ElizaError`` that ends it records the attempts."""
    attempt = 0
    try:
        async for attempt_ctx in retrying:
            attempt = attempt_ctx.retry_state.attempt_number
            with attempt_ctx:
                return await fn()
    except ElizaError as exc:
        exc.details["attempts"] = attempt
        raise
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


async def with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    runtime: AgentRuntime | None = None,
    attempts: int | None = None,
    retry_if: Callable[[BaseException], bool] = is_transient,
    initial_delay: float = 0.5,
    max_delay: float = 10.0,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Await ``fn()``, retrying transient failures with exponential backoff.

    Use it around one remote call: ``await with_retry(lambda: client.get(url), runtime=rt)``.
    Delays grow ``initial_delay * 2**n`` up to ``max_delay``; an ``ElizaError`` with
    ``details["retry_after"]`` (seconds, e.g. from a 429's Retry-After) waits at least that.

    Args:
        fn: A zero-argument callable returning an awaitable; called once per attempt.
        runtime: Where ``RETRY_ATTEMPTS`` (and ``ELIZA_ENV``) are read, and whose secrets are
            masked in the retry log lines.
        attempts: Total attempts (first try included); overrides the setting and the preset.
        retry_if: Which exceptions to retry (default :func:`is_transient`).
        initial_delay, max_delay: The backoff's first delay and its cap, in seconds.
        sleep: The coroutine that waits (``asyncio.sleep``); tests pass a recorder.

    Returns:
        What ``fn()`` returned on the first successful attempt.

    Raises:
        The last exception when attempts run out (an ``ElizaError`` gets
        ``details["attempts"]``), any exception ``retry_if`` rejects at once, and
        ``ConfigurationError`` for a bad ``attempts`` / ``RETRY_ATTEMPTS``.
    """
    total = _resolve_attempts(attempts, runtime)
    mask = runtime.settings.masker.mask if runtime is not None else str
    wait = _Backoff(initial_delay, max_delay)
    retrying = _retrying(total, retry_if, wait, sleep or asyncio.sleep, _RetryLog(total, mask))
    return await _until_done(retrying, fn)


# -- cache ------------------------------------------------------------------------------
_MISSING: Any = object()
V = TypeVar("V")


class ResponseCache(Generic[V]):
    """A time-to-live cache of responses for one plugin (cachetools ``TTLCache``).

    Entries expire ``ttl`` seconds after they are stored; when ``maxsize`` is reached the
    least recently used goes first. Failures are never cached. Keep one per plugin (or per
    plugin service) so plugins cannot see or evict each other's entries.

    Args:
        plugin: The owning plugin's name (shown in ``repr`` and ``stats``).
        ttl: Seconds an entry lives (default :data:`DEFAULT_CACHE_TTL`, 5 minutes).
        maxsize: How many entries are kept at most.
        timer: The clock (``time.monotonic``); tests pass a fake one to expire entries.
    """

    def __init__(
        self,
        plugin: str = "default",
        *,
        ttl: float = DEFAULT_CACHE_TTL,
        maxsize: int = 256,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(ttl, int | float) and ttl > 0):
            raise ConfigurationError(f"cache ttl must be a positive number of seconds, got {ttl!r}")
        if not (isinstance(maxsize, int) and maxsize > 0):
            raise ConfigurationError(f"cache maxsize must be a positive integer, got {maxsize!r}")
        self.plugin = plugin
        self.ttl = float(ttl)
        self._cache: TTLCache[Hashable, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_runtime(
        cls,
        runtime: AgentRuntime,
        plugin: str,
        *,
        ttl_setting: str = "CACHE_TTL",
        maxsize: int = 256,
        timer: Callable[[], float] = time.monotonic,
    ) -> ResponseCache[V]:
        """A cache whose ttl is the ``ttl_setting`` setting, else the ``ELIZA_ENV`` preset's.

        Raises:
            ConfigurationError: the setting is not a positive number.
        """
        ttl = _number_setting(runtime, ttl_setting, 0.001, integer=False)
        if ttl is None:
            ttl = get_preset(runtime=runtime).cache_ttl
        return cls(plugin, ttl=ttl, maxsize=maxsize, timer=timer)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The live entry for ``key``, or ``default``; counts a hit or a miss."""
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            self.misses += 1
            return default
        self.hits += 1
        return value

    def set(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        self._cache[key] = value

    def delete(self, key: Hashable) -> bool:
        """Drop one entry; True if it was there."""
        return self._cache.pop(key, _MISSING) is not _MISSING

    def clear(self) -> None:
        """Drop every entry (the hit and miss counts are kept)."""
        self._cache.clear()

    async def get_or_fetch(self, key: Hashable, fetch: Callable[[], Awaitable[V]]) -> V:
        """The cached value for ``key``, or ``await fetch()`` stored under it.

        Concurrent misses of one key share a single fetch; a fetch that raises stores nothing
        and its exception reaches the caller.
        """
        value = self._cache.get(key, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value  # type: ignore[no-any-return]
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            value = self.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
            fresh = await fetch()
            self._cache[key] = fresh
            return fresh

    def __contains__(self, key: object) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def stats(self) -> dict[str, Any]:
        """``plugin, size, maxsize, ttl, hits, misses`` (for a notebook or a metric)."""
        return {
            "plugin": self.plugin,
            "size": len(self._cache),
            "maxsize": self._cache.maxsize,
            "ttl": self.ttl,
            "hits": self.hits,
            "misses": self.misses,
        }

    def __repr__(self) -> str:
        return (
            f"ResponseCache(plugin={self.plugin!r}, ttl={self.ttl:g}, "
            f"size={len(self._cache)}/{self._cache.maxsize})"
        )


# -- rate limit -------------------------------------------------------------------------
class RateLimiter:
    """At most ``max_rate`` calls per ``period`` seconds (aiolimiter's leaky bucket).

    Use ``async with limiter:`` around each request. With ``block=True`` (the default) a call
    over the rate waits its turn; with ``block=False`` it raises at once, so a handler can
    report the throttle instead of stalling.

    Each event loop gets its own bucket (aiolimiter buckets belong to one loop), so the runtime
    stays usable from ``run()`` in scripts and from cells.

    Raises:
        ConfigurationError: ``max_rate`` or ``period`` is not positive.
        ApiError: (code ``RATE_LIMITED``, retryable) over the rate with ``block=False``.
    """

    def __init__(
        self, max_rate: float, period: float = 1.0, *, block: bool = True, name: str = ""
    ) -> None:
        for label, value in (("max_rate", max_rate), ("period", period)):
            if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
                raise ConfigurationError(f"rate limit {label} must be positive, got {value!r}")
        self.max_rate = float(max_rate)
        self.period = float(period)
        self.block = block
        self.name = name
        self._buckets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def _bucket(self) -> AsyncLimiter:
        loop = asyncio.get_running_loop()
        bucket = self._buckets.get(loop)
        if bucket is None:
            bucket = self._buckets[loop] = AsyncLimiter(self.max_rate, self.period)
        return bucket

    def has_capacity(self, amount: float = 1) -> bool:
        """True if ``amount`` calls could start now without waiting (call inside a loop)."""
        return self._bucket().has_capacity(amount)

    async def acquire(self, amount: float = 1) -> None:
        """Take ``amount`` from the bucket, waiting (or raising, see ``block``) when it is full."""
        bucket = self._bucket()
        if not self.block and not bucket.has_capacity(amount):
            who = f" for {self.name}" if self.name else ""
            raise ApiError(
                f"Rate limit{who} reached: at most {self.max_rate:g} calls per "
                f"{self.period:g} s. Try again shortly.",
                code=_RATE_LIMITED,
                details={"retryable": True, "retry_after": self.period / self.max_rate},
            )
        await bucket.acquire(amount)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        who = f"{self.name!r}, " if self.name else ""
        return f"RateLimiter({who}{self.max_rate:g} per {self.period:g} s, block={self.block})"
