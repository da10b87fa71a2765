"""Plugin test suites: TestSuite/TestCase, run_plugin_tests, and their pytest collection."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Plugin, PluginError, TestCase, TestSuite, ValidationError
from eliza_nb.suites import RESULT_COLUMNS, run_case

pytest_plugins = ["pytester"]

# The eliza_nb pytest plugin (entry point) wires the collector in; load it by hand until it does.
_plugin = importlib.import_module("eliza_nb.testing.pytest_plugin")
_wired = hasattr(_plugin, "pytest_pycollect_makeitem") or (
    "eliza_nb.testing.suite_collector" in getattr(_plugin, "pytest_plugins", ())
)
COLLECT = [] if _wired else ["-p", "eliza_nb.testing.suite_collector"]


def registered(runtime: AgentRuntime) -> None:
    assert "demo" in runtime.registry.plugins


async def async_passes(runtime: AgentRuntime) -> None:
    await asyncio.sleep(0)


def fails_with_message(runtime: AgentRuntime) -> None:
    raise AssertionError("expected 2, got 3")


def bare_assert(runtime: Any) -> None:
    raise AssertionError  # what a bare `assert` raises outside pytest's rewriting


def leaks_secret(runtime: AgentRuntime) -> None:
    raise RuntimeError(f"bad key {runtime.get_setting('DEMO_API_KEY')}")


async def hangs(runtime: AgentRuntime) -> None:
    await asyncio.Event().wait()


def demo_plugin(*cases: Any) -> Plugin:
    return Plugin(name="demo", tests=[TestSuite("basics", list(cases))])


# -- the types ----------------------------------------------------------------------------
def test_suites_accept_cases_dicts_and_functions() -> None:
    suite = TestSuite(
        "s", [TestCase("a", registered), {"name": "b", "fn": async_passes}, fails_with_message]
    )
    assert [c.name for c in suite.tests] == ["a", "b", "fails_with_message"]
    assert [c.is_async for c in suite.tests] == [False, True, False]
    plugin = Plugin(name="p", tests=[{"name": "from dict", "tests": [registered]}])
    assert plugin.tests[0].name == "from dict" and plugin.tests[0].tests[0].name == "registered"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: TestCase("", registered), "name must be a non-empty string"),
        (lambda: TestCase("x", "not callable"), "fn must be a function"),
        (lambda: TestSuite("", []), "name must be a non-empty string"),
        (lambda: TestSuite("s", "tests"), "tests must be a list"),
        (lambda: TestSuite("s", [42]), "tests must be TestCase objects"),
        (lambda: Plugin(name="p", tests=TestSuite("s")), "field 'tests' must be a list"),
        (lambda: Plugin(name="p", tests=[42]), "expected a TestSuite"),
    ],
)
def test_malformed_suites_are_rejected(build: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        build()


def test_suite_classes_are_not_collected_as_tests() -> None:
    assert TestSuite.__test__ is False and TestCase.__test__ is False


# -- running ------------------------------------------------------------------------------
async def test_run_plugin_tests_reports_one_row_per_case(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(
        demo_plugin(registered, async_passes, fails_with_message, bare_assert)
    )
    frame = await runtime.run_plugin_tests()
    assert list(frame.columns) == [c for c, _ in RESULT_COLUMNS]
    assert frame[["plugin", "suite", "test", "passed"]].values.tolist() == [
        ["demo", "basics", "registered", True],
        ["demo", "basics", "async_passes", True],
        ["demo", "basics", "fails_with_message", False],
        ["demo", "basics", "bare_assert", False],
    ]
    assert frame["error"].tolist()[:3] == [None, None, "AssertionError: expected 2, got 3"]
    assert frame["error"][3].startswith("AssertionError at bare_assert line ")
    assert (frame["duration_ms"] >= 0).all()


async def test_run_plugin_tests_of_one_plugin(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(demo_plugin(registered))
    await runtime.register_plugin(Plugin(name="other", tests=[TestSuite("o", [async_passes])]))
    assert (await runtime.run_plugin_tests("other"))["plugin"].tolist() == ["other"]
    assert len(await runtime.run_plugin_tests()) == 2
    with pytest.raises(PluginError, match="No plugin named 'missing'"):
        await runtime.run_plugin_tests("missing")


async def test_no_suites_give_an_empty_frame_with_the_columns(runtime: AgentRuntime) -> None:
    frame = await runtime.run_plugin_tests()
    assert frame.empty and list(frame.columns) == [c for c, _ in RESULT_COLUMNS]
    assert str(frame["passed"].dtype) == "bool" and str(frame["duration_ms"].dtype) == "float64"


async def test_errors_in_results_are_masked() -> None:
    rt = AgentRuntime(settings={"DEMO_API_KEY": "sk-top-secret-123"}, use_env=False)
    await rt.register_plugin(demo_plugin(leaks_secret))
    frame = await rt.run_plugin_tests()
    assert frame["error"].tolist() == ["RuntimeError: bad key ***"]
    await rt.aclose()


async def test_a_timeout_fails_a_hanging_case(runtime: AgentRuntime) -> None:
    outcome = await run_case(runtime, TestCase("hangs", hangs), timeout=0.01)
    assert outcome.passed is False and outcome.error == "TimeoutError: ran over 0.01 s"


def test_run_plugin_tests_blocking_twin() -> None:
    rt = AgentRuntime(use_env=False)
    try:
        rt.run_sync(rt.register_plugin(demo_plugin(registered)))
        assert rt.run_sync(rt.run_plugin_tests())["passed"].tolist() == [True]
    finally:
        rt.close()


# -- pytest collection ---------------------------------------------------------------------
SUITE_MODULE = """
from eliza_nb import Plugin, TestCase, TestSuite

def ok(runtime):
    assert "demo" in runtime.registry.plugins

async def also_ok(runtime):
    assert runtime.get_service("missing") is None

def broken(runtime):
    raise AssertionError("expected 2, got 3")

demo = Plugin(name="demo", tests=[TestSuite("basics", [ok, also_ok, TestCase("broken", broken)])])
test_demo_plugin = demo
not_a_test_name = Plugin(name="ignored", tests=[TestSuite("s", [broken])])
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_a_plugin_in_a_test_module_is_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=SUITE_MODULE)
    result = pytester.runpytest(*COLLECT, "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_demo.py::test_demo_plugin::basics::ok PASSED*",
            "*test_demo.py::test_demo_plugin::basics::also_ok PASSED*",
            "*test_demo.py::test_demo_plugin::basics::broken FAILED*",
            "*plugin 'demo', suite 'basics', test 'broken' failed: "
            "AssertionError: expected 2, got 3*",
        ]
    )


def test_installed_plugins_are_collected_by_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(demo_suites=SUITE_MODULE)
    pytester.syspathinsert()
    args = ["-v", "--eliza-suites", "demo_suites:demo", "-k", "not broken"]
    result = pytester.runpytest(*COLLECT, *args)
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*eliza-suites/demo::basics::ok PASSED*"])


@pytest.mark.parametrize("spec", ["no_such_plugin_module", "os:path", ".:x", "eliza_nb:nope"])
def test_an_unknown_plugin_name_is_a_usage_error(pytester: pytest.Pytester, spec: str) -> None:
    result = pytester.runpytest(*COLLECT, "--eliza-suites", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --eliza-suites {spec}: *"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
