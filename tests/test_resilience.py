"""Retries, the response cache, the rate limiter and the environment presets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eliza_nb import AgentRuntime, ApiError, ConfigurationError, ElizaError, ValidationError
from eliza_nb.resilience import (
    DEFAULT_CACHE_TTL,
    PRESETS,
    RateLimiter,
    ResponseCache,
    get_preset,
    is_transient,
    with_retry,
)
from eliza_nb.testing import create_test_runtime

MakeRuntime = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
async def make_runtime() -> AsyncIterator[MakeRuntime]:
    """Build isolated runtimes with the given settings; all are closed after the test."""
    made: list[AgentRuntime] = []

    async def make(**settings: Any) -> AgentRuntime:
        made.append(await create_test_runtime(settings=settings))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.aclose()


@pytest.fixture(autouse=True)
def _no_eliza_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELIZA_ENV", raising=False)


class Flaky:
    """Fails with the given exceptions in turn, then returns ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Sleeps:
    """Records the delays ``with_retry`` asks for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def server_error() -> ApiError:
    return ApiError("server down", status=503, code="API_SERVER_ERROR")


# -- presets ----------------------------------------------------------------------------
def test_preset_defaults_to_development() -> None:
    preset = get_preset()
    assert preset.name == "development"
    assert preset.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("production", "production"),
        ("PROD", "production"),
        ("stage", "staging"),
        (" Staging ", "staging"),
        ("dev", "development"),
    ],
)
def test_preset_follows_eliza_env(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("ELIZA_ENV", value)
    assert get_preset().name == expected


def test_presets_differ_in_level_cache_and_retries() -> None:
    dev, staging, prod = PRESETS["development"], PRESETS["staging"], PRESETS["production"]
    assert dev.retry_attempts < staging.retry_attempts < prod.retry_attempts
    assert dev.cache_ttl < staging.cache_ttl <= prod.cache_ttl
    assert [p.log_level for p in (dev, staging, prod)] == ["DEBUG", "INFO", "WARNING"]


async def test_runtime_setting_wins_over_environment(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELIZA_ENV", "production")
    runtime = await make_runtime(ELIZA_ENV="staging")
    assert get_preset(runtime=runtime).name == "staging"
    assert get_preset("development", runtime=runtime).name == "development"


def test_unknown_preset_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELIZA_ENV", "qa")
    with pytest.raises(ConfigurationError, match="development, staging, production"):
        get_preset()


def test_apply_sets_the_logger_level() -> None:
    logger = logging.getLogger("eliza_nb.test_presets")
    PRESETS["production"].apply(logger.name)
    assert logger.level == logging.WARNING
    PRESETS["development"].apply(logger.name)
    assert logger.level == logging.DEBUG


# -- is_transient -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ApiError("throttled", status=429), True),
        (ApiError("boom", status=500), True),
        (ApiError("gone", status=404), False),
        (ApiError("bad json", code="API_INVALID_JSON"), False),
        (ApiError("slow", code="API_TIMEOUT"), True),
        (ApiError("teapot", status=418, details={"retryable": True}), True),
        (ApiError("throttled", status=429, details={"retryable": False}), False),
        (ValidationError("bad input"), False),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (ValueError("nope"), False),
        (asyncio.CancelledError(), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


# -- with_retry -------------------------------------------------------------------------
async def test_retry_recovers_with_exponential_backoff(sleeps: Sleeps) -> None:
    fn = Flaky(server_error(), TimeoutError(), server_error())
    assert await with_retry(fn, attempts=4, initial_delay=0.5, sleep=sleeps) == "ok"
    assert fn.calls == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_retry_gives_up_with_the_last_error(sleeps: Sleeps) -> None:
    fn = Flaky(*(server_error() for _ in range(5)))
    with pytest.raises(ApiError) as info:
        await with_retry(fn, attempts=3, sleep=sleeps)
    assert fn.calls == 3
    assert info.value.code == "API_SERVER_ERROR"
    assert info.value.details["attempts"] == 3


async def test_permanent_errors_are_not_retried(sleeps: Sleeps) -> None:
    fn = Flaky(ApiError("not found", status=404, code="API_NOT_FOUND"))
    with pytest.raises(ApiError, match="not found"):
        await with_retry(fn, attempts=5, sleep=sleeps)
    assert fn.calls == 1
    assert sleeps.delays == []


async def test_cancellation_is_never_retried(sleeps: Sleeps) -> None:
    fn = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await with_retry(fn, attempts=5, retry_if=lambda e: True, sleep=sleeps)
    assert fn.calls == 1


async def test_custom_predicate(sleeps: Sleeps) -> None:
    fn = Flaky(KeyError("a"), KeyError("b"))
    assert (
        await with_retry(fn, attempts=3, retry_if=lambda e: isinstance(e, KeyError), sleep=sleeps)
        == "ok"
    )
    assert fn.calls == 3


async def test_attempts_come_from_the_runtime_setting(
    make_runtime: MakeRuntime, sleeps: Sleeps
) -> None:
    runtime = await make_runtime(RETRY_ATTEMPTS="4")
    fn = Flaky(*(server_error() for _ in range(10)))
    with pytest.raises(ApiError):
        await with_retry(fn, runtime=runtime, sleep=sleeps)
    assert fn.calls == 4


@pytest.mark.parametrize("env", ["development", "production"])
async def test_attempts_default_to_the_preset(
    make_runtime: MakeRuntime, sleeps: Sleeps, env: str
) -> None:
    runtime = await make_runtime(ELIZA_ENV=env)
    fn = Flaky(*(server_error() for _ in range(10)))
    with pytest.raises(ApiError):
        await with_retry(fn, runtime=runtime, sleep=sleeps)
    assert fn.calls == PRESETS[env].retry_attempts


@pytest.mark.parametrize("bad", ["zero", "0", "-2", "1.5"])
async def test_bad_retry_setting_is_a_configuration_error(
    make_runtime: MakeRuntime, bad: str
) -> None:
    runtime = await make_runtime(RETRY_ATTEMPTS=bad)
    with pytest.raises(ConfigurationError, match="RETRY_ATTEMPTS"):
        await with_retry(Flaky(), runtime=runtime)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
async def test_bad_attempts_argument(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="attempts"):
        await with_retry(Flaky(), attempts=bad)


async def test_retry_after_hint_is_honoured_and_capped(sleeps: Sleeps) -> None:
    fn = Flaky(
        ApiError("slow down", status=429, details={"retry_after": 3.0}),
        ApiError("slow down", status=429, details={"retry_after": 999}),
    )
    await with_retry(fn, attempts=3, initial_delay=0.1, max_delay=8.0, sleep=sleeps)
    assert sleeps.delays == [3.0, 8.0]


async def test_retry_log_masks_secrets(
    make_runtime: MakeRuntime, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await make_runtime(API_KEY="sk-very-secret")
    fn = Flaky(ConnectionError("refused for key sk-very-secret"))
    with caplog.at_level(logging.WARNING, logger="eliza_nb.resilience"):
        await with_retry(fn, runtime=runtime, attempts=2, sleep=sleeps)
    assert "attempt 1 of 2 failed" in caplog.text
    assert "sk-very-secret" not in caplog.text
    assert "***" in caplog.text


@given(
    initial=st.floats(0.001, 5),
    cap=st.floats(0.01, 30),
    hint=st.one_of(st.none(), st.floats(0, 1e6), st.text(max_size=3)),
)
def test_backoff_never_exceeds_the_cap(initial: float, cap: float, hint: Any) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    failures = [ApiError("x", status=503, details={"retry_after": hint}) for _ in range(4)]
    asyncio.run(
        with_retry(Flaky(*failures), attempts=5, initial_delay=initial, max_delay=cap, sleep=record)
    )
    assert len(delays) == 4
    assert all(0 <= d <= cap for d in delays)


# -- ResponseCache ----------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_cache_defaults_to_five_minutes(clock: Clock) -> None:
    cache: ResponseCache[str] = ResponseCache("weather", timer=clock)
    assert cache.ttl == DEFAULT_CACHE_TTL == 300
    cache.set("paris", "sunny")
    clock.now += 299
    assert cache.get("paris") == "sunny"
    clock.now += 2
    assert cache.get("paris") is None
    assert "paris" not in cache


def test_cache_counts_hits_and_misses(clock: Clock) -> None:
    cache: ResponseCache[int] = ResponseCache("p", ttl=10, timer=clock)
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert cache.get("b", "none") == "none"
    assert cache.stats() == {
        "plugin": "p",
        "size": 1,
        "maxsize": 256,
        "ttl": 10.0,
        "hits": 1,
        "misses": 1,
    }
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert "ResponseCache(plugin='p'" in repr(cache)


def test_caches_are_per_plugin(clock: Clock) -> None:
    first: ResponseCache[str] = ResponseCache("first", timer=clock)
    second: ResponseCache[str] = ResponseCache("second", timer=clock)
    first.set("key", "one")
    assert second.get("key") is None
    second.clear()
    assert first.get("key") == "one"


def test_cache_evicts_beyond_maxsize(clock: Clock) -> None:
    cache: ResponseCache[int] = ResponseCache("p", maxsize=2, timer=clock)
    for i in range(3):
        cache.set(i, i)
    assert len(cache) == 2


async def test_get_or_fetch_fetches_once_until_expiry(clock: Clock) -> None:
    cache: ResponseCache[str] = ResponseCache("p", ttl=60, timer=clock)
    fetch = Flaky()
    assert await cache.get_or_fetch("k", fetch) == "ok"
    assert await cache.get_or_fetch("k", fetch) == "ok"
    assert fetch.calls == 1
    clock.now += 61
    await cache.get_or_fetch("k", fetch)
    assert fetch.calls == 2


async def test_concurrent_misses_share_one_fetch(clock: Clock) -> None:
    cache: ResponseCache[str] = ResponseCache("p", timer=clock)
    gate = asyncio.Event()
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "value"

    tasks = [asyncio.create_task(cache.get_or_fetch("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)  # let every task reach the lock
    gate.set()
    assert await asyncio.gather(*tasks) == ["value"] * 5
    assert calls == 1


async def test_failed_fetch_is_not_cached(clock: Clock) -> None:
    cache: ResponseCache[str] = ResponseCache("p", timer=clock)
    fetch = Flaky(server_error())
    with pytest.raises(ApiError):
        await cache.get_or_fetch("k", fetch)
    assert "k" not in cache
    assert await cache.get_or_fetch("k", fetch) == "ok"


async def test_cache_ttl_from_setting_or_preset(make_runtime: MakeRuntime) -> None:
    runtime = await make_runtime(CACHE_TTL="42")
    assert ResponseCache.for_runtime(runtime, "p").ttl == 42.0
    runtime = await make_runtime(ELIZA_ENV="production")
    assert ResponseCache.for_runtime(runtime, "p").ttl == PRESETS["production"].cache_ttl
    runtime = await make_runtime(MY_TTL=7)
    assert ResponseCache.for_runtime(runtime, "p", ttl_setting="MY_TTL").ttl == 7.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: ResponseCache("p", ttl=0),
        lambda: ResponseCache("p", maxsize=0),
    ],
)
def test_cache_rejects_bad_limits(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigurationError):
        make()


async def test_cache_rejects_bad_ttl_setting(make_runtime: MakeRuntime) -> None:
    runtime = await make_runtime(CACHE_TTL="soon")
    with pytest.raises(ConfigurationError, match="CACHE_TTL"):
        ResponseCache.for_runtime(runtime, "p")


# -- RateLimiter ------------------------------------------------------------------------
async def test_limiter_without_blocking_raises_when_full() -> None:
    limiter = RateLimiter(3, 60, block=False, name="demo")
    for _ in range(3):
        async with limiter:
            pass
    assert not limiter.has_capacity()
    with pytest.raises(ApiError) as info:
        await limiter.acquire()
    assert info.value.code == "RATE_LIMITED"
    assert info.value.details["retryable"] is True
    assert info.value.details["retry_after"] == 20.0
    assert is_transient(info.value)


async def test_blocking_limiter_makes_the_extra_call_wait() -> None:
    limiter = RateLimiter(2, 3600)
    await limiter.acquire()
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    for _ in range(5):
        await asyncio.sleep(0)  # yield to the loop: the task must still be queued
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


def test_limiter_keeps_one_bucket_per_event_loop() -> None:
    limiter = RateLimiter(1, 3600, block=False)

    async def take_one() -> tuple[bool, bool]:
        before = limiter.has_capacity()
        await limiter.acquire()
        return before, limiter.has_capacity()

    # Within a loop the bucket is kept (full after one call); a new loop gets a fresh one.
    assert asyncio.run(take_one()) == (True, False)
    assert asyncio.run(take_one()) == (True, False)


@pytest.mark.parametrize(("rate", "period"), [(0, 1), (1, 0), (-1, 1), (True, 1)])
def test_limiter_rejects_bad_rates(rate: Any, period: Any) -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter(rate, period)


def test_limiter_repr_and_error_family() -> None:
    assert repr(RateLimiter(5, name="x")) == "RateLimiter('x', 5 per 1 s, block=True)"
    assert issubclass(ConfigurationError, ElizaError)
