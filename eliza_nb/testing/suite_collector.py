"""pytest collection of plugin test suites: each ``TestCase`` of a plugin becomes a pytest item.

Two ways in:

- **A plugin in a test module.** A module-level ``Plugin`` whose variable name matches
  ``python_functions`` (``test_*``) is collected, one item per test case::

      # tests/test_weather.py
      from my_package import weather_plugin
      test_weather_plugin = weather_plugin  # test_weather.py::test_weather_plugin::<suite>::<test>

- **Installed plugins.** ``pytest --eliza-suites NAME`` (repeatable) or the ini option
  ``eliza_suites = NAME ...`` collects the suites of plugins named by entry point (group
  ``eliza_nb.plugins``) or by ``module:attr`` path, as ``eliza-suites/<plugin>::<suite>::<test>``.

Each item registers its plugin (and the dependencies it names, found as installed plugins) in a
fresh runtime that reads the environment (plugin suites may need keys), runs its one test case
and closes the runtime. A failing case reports its error in one line.

The hooks here are wired into the eliza_nb pytest plugin; to use them alone, pass
``-p eliza_nb.testing.suite_collector``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eliza_nb._checks import shown
from eliza_nb.errors import PluginError
from eliza_nb.plugin import Plugin
from eliza_nb.registry import ENTRY_POINT_GROUP, locate
from eliza_nb.runtime import AgentRuntime
from eliza_nb.suites import TestCase, TestSuite, run_case

__all__ = [
    "ENTRY_POINT_GROUP",
    "CaseItem",
    "PluginSuiteFailure",
    "PluginSuites",
    "SuiteCollector",
    "load_plugin",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_pycollect_makeitem",
]


def load_plugin(spec: str) -> Plugin:
    """The plugin named by ``spec``: an installed entry-point name, ``module:attr`` or ``module``
    (its ``plugin`` attribute).

    Raises:
        PluginError: nothing by that name, it cannot be imported, or it is not a ``Plugin``.
    """
    try:
        found = locate(spec)
    except PluginError as exc:
        if ":" in spec:
            raise
        try:
            found = locate(f"{spec}:plugin")  # a module with a `plugin`
        except PluginError:
            raise exc from None
    if not isinstance(found, Plugin):
        raise PluginError(
            f"{spec!r} names no plugin but {shown(found)}: use an installed plugin's name, "
            "module:attr, or a module with a `plugin`",
            plugin=spec,
        )
    return found


class PluginSuiteFailure(Exception):
    """A plugin's test case failed (its error is the message)."""


def _with_dependencies(plugin: Plugin) -> list[Plugin]:
    needed = [load_plugin(dep) for dep in plugin.dependencies]
    return [*needed, plugin]


async def _run(runtime: AgentRuntime, plugin: Plugin, case: TestCase) -> str | None:
    await runtime.register_plugins(_with_dependencies(plugin))
    outcome = await run_case(runtime, case)
    return None if outcome.passed else outcome.error or "failed"


class CaseItem(pytest.Item):
    """One test case of one plugin suite."""

    def __init__(self, *, plugin: Plugin, suite: TestSuite, case: TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin
        self.suite = suite
        self.case = case

    def runtest(self) -> None:
        """Register the plugin in a fresh runtime and run the case; raise if it failed."""
        runtime = AgentRuntime()
        try:
            error = runtime.run_sync(_run(runtime, self.plugin, self.case))
        finally:
            runtime.close()
        if error is not None:
            raise PluginSuiteFailure(error)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """One line for a failed case; pytest's usual report for anything else."""
        if isinstance(excinfo.value, PluginSuiteFailure):
            return (
                f"plugin {self.plugin.name!r}, suite {self.suite.name!r}, test "
                f"{self.case.name!r} failed: {excinfo.value}"
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        """Where the item comes from, for pytest's report."""
        return self.path, None, f"{self.plugin.name}::{self.suite.name}::{self.case.name}"


class SuiteCollector(pytest.Collector):
    """The cases of one suite."""

    def __init__(self, *, plugin: Plugin, suite: TestSuite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin
        self.suite = suite

    def collect(self) -> Iterator[CaseItem]:
        """One item per test case."""
        for case in self.suite.tests:
            yield CaseItem.from_parent(
                self, name=case.name, plugin=self.plugin, suite=self.suite, case=case
            )


class PluginSuites(pytest.Collector):
    """The suites of one plugin."""

    def __init__(self, *, plugin: Plugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin

    def collect(self) -> Iterator[SuiteCollector]:
        """One collector per suite."""
        for suite in self.plugin.tests:
            yield SuiteCollector.from_parent(self, name=suite.name, plugin=self.plugin, suite=suite)

    def items(self) -> list[CaseItem]:
        """Every case item of every suite, collected at once."""
        return [item for suite in self.collect() for item in suite.collect()]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--eliza-suites NAME`` and the ini option ``eliza_suites``."""
    parser.addoption(
        "--eliza-suites",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="collect the test suites of an installed eliza_nb plugin "
        "(entry-point name or module:attr); repeatable",
    )
    parser.addini(
        "eliza_suites",
        type="args",
        default=[],
        help="installed eliza_nb plugins whose test suites are collected",
    )


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """Collect a module-level ``Plugin`` named like a test function (``test_*``)."""
    if not isinstance(obj, Plugin) or not obj.tests:
        return None
    if not getattr(collector, "funcnamefilter", lambda n: False)(name):
        return None
    return PluginSuites.from_parent(collector, name=name, plugin=obj)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the items of ``--eliza-suites`` / ``eliza_suites`` plugins (before -k and -m)."""
    specs = [*config.getoption("eliza_suites", default=[]), *config.getini("eliza_suites")]
    for spec in dict.fromkeys(specs):
        try:
            plugin = load_plugin(spec)
        except PluginError as exc:  # a bad name on the command line: a usage error, one line
            raise pytest.UsageError(f"--eliza-suites {spec}: {exc.message}") from None
        node = PluginSuites.from_parent(
            session, name=plugin.name, plugin=plugin, nodeid=f"eliza-suites/{plugin.name}"
        )
        items.extend(node.items())
