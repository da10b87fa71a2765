"""Shared fixtures: an isolated runtime and the fixture directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eliza_nb import AgentRuntime

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """Directory of the test data files (a copy of the elizaOS c3po character lives here)."""
    return FIXTURES


@pytest.fixture
def runtime() -> Iterator[AgentRuntime]:
    """A runtime isolated from the environment (in-memory SQLite), closed after the test.

    A sync fixture on purpose: ``close()`` also closes the private loop ``run()`` may create,
    and it works for sync and async tests alike.
    """
    rt = AgentRuntime(use_env=False)
    yield rt
    rt.close()
