"""pytest fixtures for eliza_nb (registered through the ``pytest11`` entry point).

- ``eliza_runtime``: an isolated ``AgentRuntime`` (in-memory store, environment ignored),
  closed after the test (plugins' ``on_unload`` called, services stopped).
- ``eliza_shell``: a real IPython ``InteractiveShell`` with ``%load_ext eliza_nb`` done, whose
  ``run_cell`` raises the cell's error (jupysql's ``TestingShell``), so a failing magic fails
  the test with its own exception::

      def test_run(eliza_shell):
          eliza_shell.run_cell("%eliza register my_plugin")
          result = eliza_shell.run_cell("%eliza run ECHO hi").result
          assert result.text == "hi"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from traitlets.config import Config

from eliza_nb.runtime import AgentRuntime

__all__ = ["TestingShell", "eliza_runtime", "eliza_shell"]

# Plugins' own test suites (Plugin.tests) are collected as pytest items by this companion.
pytest_plugins = ["eliza_nb.testing.suite_collector"]


class TestingShell(InteractiveShell):
    """An ``InteractiveShell`` whose ``run_cell`` raises the cell's exception."""

    __test__ = False  # not a test class, whatever pytest's name pattern says

    def run_cell(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result: ExecutionResult = super().run_cell(*args, **kwargs)  # type: ignore[no-untyped-call]
        result.raise_error()  # type: ignore[no-untyped-call]
        return result


@pytest.fixture
def eliza_runtime() -> Iterator[AgentRuntime]:
    """An isolated AgentRuntime (``use_env=False``), closed after the test."""
    runtime = AgentRuntime(use_env=False)
    yield runtime
    runtime.close()


@pytest.fixture
def eliza_shell() -> Iterator[TestingShell]:
    """An IPython shell with the eliza_nb extension loaded (runtime isolated from the env)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.ElizaMagics.use_env = False
    shell = TestingShell.instance(config=config)
    shell.run_cell("%load_ext eliza_nb")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "eliza_nb")
        TestingShell.clear_instance()
