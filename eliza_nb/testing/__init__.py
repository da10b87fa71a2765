"""Test doubles and helpers for plugin authors: run your plugin offline in pytest or a notebook.

Example:
    >>> import asyncio
    >>> from eliza_nb.testing import create_test_runtime, create_mock_memory
    >>> rt = asyncio.run(create_test_runtime(settings={"API_KEY": "test"}))
    >>> create_mock_memory("hello", room_id="r1").room_id
    'r1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eliza_nb.plugin import Plugin
from eliza_nb.runtime import AgentRuntime
from eliza_nb.testing.cassette import Cassette
from eliza_nb.testing.models import DeterministicModel, hash_embedding
from eliza_nb.types import Content, Memory

__all__ = [
    "Cassette",
    "DeterministicModel",
    "create_mock_memory",
    "create_mock_runtime",
    "create_test_runtime",
    "hash_embedding",
]


async def create_test_runtime(
    settings: Mapping[str, Any] | None = None, plugins: Iterable[Plugin] = ()
) -> AgentRuntime:
    """An isolated runtime (in-memory SQLite, environment ignored) with ``plugins`` registered.

    Raises what ``register_plugin`` raises, so a test sees a plugin's configuration errors.
    """
    runtime = AgentRuntime(settings=settings, use_env=False)
    for plugin in plugins:
        await runtime.register_plugin(plugin)
    return runtime


def create_mock_runtime(settings: Mapping[str, Any] | None = None) -> AgentRuntime:
    """A real runtime for unit-testing handlers: only ``settings``, no environment, no plugins.

    Handlers can be called directly with it: ``handler(rt, create_mock_memory("hi"), None, {},
    callback)``.
    """
    return AgentRuntime(settings=settings, use_env=False)


def create_mock_memory(text: str = "", **fields: Any) -> Memory:
    """A message ``Memory`` with ``text``; other ``Memory`` fields (room_id, user_id, ...) or
    ``Content`` fields (action, source, ...) are taken from keyword arguments."""
    memory_fields = {k: fields.pop(k) for k in list(fields) if k in Memory.model_fields}
    content = Content(text=text, **fields)
    return Memory(content=content, **memory_fields)
