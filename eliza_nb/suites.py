"""Plugin test suites (elizaOS 1.x ``tests``): a plugin ships tests that run inside a runtime.

A plugin lists ``tests=[TestSuite(name, tests=[TestCase(name, fn), ...])]``; ``fn(runtime)``,
sync or async, passes unless it raises. ``await runtime.run_plugin_tests()`` runs the suites of
every registered plugin (or of one) against that runtime and returns a DataFrame
``plugin, suite, test, passed, duration_ms, error``; under pytest the suites are collected as
items too (see :mod:`eliza_nb.testing.suite_collector`).

Example:
    >>> from eliza_nb import AgentRuntime, Plugin, TestCase, TestSuite
    >>> def registered(runtime):
    ...     assert "demo" in runtime.registry.plugins
    >>> suite = TestSuite("basics", [TestCase("registered", registered)])
    >>> demo = Plugin(name="demo", tests=[suite])
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugin(demo))
    >>> rt.run_sync(rt.run_plugin_tests())[["suite", "test", "passed"]].values.tolist()
    [['basics', 'registered', True]]
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._calls import is_async_callable
from eliza_nb._checks import shown
from eliza_nb._tables import table
from eliza_nb.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.protocols import PluginRuntime

__all__ = [
    "RESULT_COLUMNS",
    "CaseOutcome",
    "TestCase",
    "TestSuite",
    "normalize_suites",
    "results_frame",
    "run_case",
    "run_suites",
]

RESULT_COLUMNS = (
    ("plugin", "object"),
    ("suite", "object"),
    ("test", "object"),
    ("passed", "bool"),
    ("duration_ms", "float64"),
    ("error", "object"),
)


@dataclass(eq=False)
class TestCase:
    """One test of a plugin: ``fn(runtime)``, sync or async, fails by raising.

    Raises:
        ValidationError: the name is empty or ``fn`` is not callable.
    """

    __test__ = False  # not a pytest test class, even when imported into a test module

    name: str
    fn: Callable[..., Any]
    is_async: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError(
                f"TestCase: name must be a non-empty string, got {shown(self.name)}", field="name"
            )
        if not callable(self.fn):
            raise ValidationError(
                f"TestCase {self.name!r}: fn must be a function fn(runtime)", field="fn"
            )
        self.is_async = is_async_callable(self.fn)


def _as_case(suite: str, item: object) -> TestCase:
    if isinstance(item, TestCase):
        return item
    if isinstance(item, Mapping) and {"name", "fn"} <= item.keys():
        return TestCase(item["name"], item["fn"])
    if callable(item):
        return TestCase(getattr(item, "__name__", repr(item)), item)
    raise ValidationError(
        f"TestSuite {shown(suite)}: tests must be TestCase objects, "
        f"{{'name', 'fn'}} dicts or functions, got {shown(item)}",
        field="tests",
    )


@dataclass(eq=False)
class TestSuite:
    """A named list of :class:`TestCase` (dicts ``{"name", "fn"}`` and functions are accepted).

    Raises:
        ValidationError: the name is empty or a test is malformed.
    """

    __test__ = False

    name: str
    tests: list[TestCase] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError(
                f"TestSuite: name must be a non-empty string, got {shown(self.name)}", field="name"
            )
        if isinstance(self.tests, str | bytes) or not isinstance(self.tests, Sequence):
            raise ValidationError(f"TestSuite {self.name!r}: tests must be a list", field="tests")
        self.tests = [_as_case(self.name, t) for t in self.tests]


def normalize_suites(plugin: str, suites: object) -> list[TestSuite]:
    """Check a plugin's ``tests`` field: ``TestSuite`` objects or ``{"name", "tests"}`` dicts.

    Raises:
        ValidationError: the field or one of its suites is malformed (the plugin is named).
    """
    if isinstance(suites, str | bytes | Mapping) or not isinstance(suites, Sequence):
        raise ValidationError(
            f"Plugin {plugin!r}: field 'tests' must be a list of TestSuite",
            field="tests",
            plugin=plugin,
        )
    out: list[TestSuite] = []
    for suite in suites:
        if isinstance(suite, Mapping) and "name" in suite:
            suite = TestSuite(suite["name"], list(suite.get("tests", [])))
        if not isinstance(suite, TestSuite):
            raise ValidationError(
                f"Plugin {plugin!r}: field 'tests' holds {shown(suite)}, expected a TestSuite",
                field="tests",
                plugin=plugin,
            )
        out.append(suite)
    return out


class _Tested(Protocol):
    """What ``run_suites`` reads of a ``Plugin``."""

    @property
    def name(self) -> str: ...
    @property
    def tests(self) -> Sequence[TestSuite]: ...


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """How one test case went."""

    passed: bool
    duration_ms: float
    error: str | None


def _describe(exc: BaseException) -> str:
    """``Type: message``; an empty message (a bare ``assert``) names the failing line."""
    text = str(exc)
    if not text:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {frames[-1].name} line {frames[-1].lineno}" if frames else ""
        return f"{type(exc).__name__}{where}"
    return f"{type(exc).__name__}: {text}"


async def run_case(
    runtime: PluginRuntime, case: TestCase, timeout: float | None = None
) -> CaseOutcome:
    """Run one test case against ``runtime``; its failure is caught and described, not raised.

    ``timeout`` (seconds) bounds an async test; a test that runs over fails with ``TimeoutError``.
    """
    t0 = time.perf_counter()
    try:
        value = case.fn(runtime)
        if inspect.isawaitable(value):
            await (asyncio.wait_for(value, timeout) if timeout else value)
    except TimeoutError as exc:
        error = f"TimeoutError: ran over {timeout:g} s" if timeout else _describe(exc)
        return CaseOutcome(False, (time.perf_counter() - t0) * 1000.0, error)
    except Exception as exc:
        error = runtime.settings.masker.mask(_describe(exc))
        return CaseOutcome(False, (time.perf_counter() - t0) * 1000.0, error)
    return CaseOutcome(True, (time.perf_counter() - t0) * 1000.0, None)


async def run_suites(
    runtime: PluginRuntime, plugins: Iterable[_Tested], *, timeout: float | None = None
) -> pd.DataFrame:
    """Run every suite of ``plugins`` in order; one result row per test case."""
    rows: list[tuple[Any, ...]] = []
    for plugin in plugins:
        for suite in plugin.tests:
            for case in suite.tests:
                out = await run_case(runtime, case, timeout)
                rows.append(
                    (plugin.name, suite.name, case.name, out.passed, out.duration_ms, out.error)
                )
    return results_frame(rows)


def results_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows ``(plugin, suite, test, passed, duration_ms, error)`` as a DataFrame."""
    return table(rows, RESULT_COLUMNS)
