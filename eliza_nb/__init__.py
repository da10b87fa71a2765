"""eliza_nb: build, run and test elizaOS-style agent plugins in Jupyter.

Example:
    >>> from eliza_nb import AgentRuntime, Plugin, action
    >>> @action(description="Answer with the text it was given")
    ... async def echo(runtime, message, state, options, callback):
    ...     await callback({"text": message.content.text})
    >>> rt = AgentRuntime()
    >>> rt.run_sync(rt.register_plugin(Plugin(name="echo", actions=[echo])))
    >>> rt.run("ECHO", "hi").responses[0].text
    'hi'

In a notebook: ``%load_ext eliza_nb``, then ``%eliza help``.
"""

from __future__ import annotations

from typing import Any

from eliza_nb.chains import ActionContext, ActionPlan, ActionStep
from eliza_nb.character import Character
from eliza_nb.errors import (
    ActionCancelledError,
    ActionNotFoundError,
    ActionTimeoutError,
    ApiError,
    BridgeError,
    Code,
    ConfigurationError,
    ElizaError,
    HandlerError,
    InvalidParametersError,
    ModelNotFoundError,
    PluginError,
    StoreError,
    ValidationError,
    error_for,
)
from eliza_nb.events import EventType
from eliza_nb.memory import MemoryManager
from eliza_nb.models import ModelType
from eliza_nb.plugin import (
    Action,
    Client,
    Evaluator,
    Plugin,
    PluginConfig,
    Provider,
    Service,
    action,
    evaluator,
    provider,
)
from eliza_nb.runtime import AgentRuntime
from eliza_nb.store import MemoryStore, SQLiteStore
from eliza_nb.suites import TestCase, TestSuite
from eliza_nb.types import (
    ActionExample,
    ActionResult,
    Content,
    ErrorInfo,
    Memory,
    ProviderResult,
    State,
)

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionCancelledError",
    "ActionContext",
    "ActionExample",
    "ActionNotFoundError",
    "ActionPlan",
    "ActionResult",
    "ActionStep",
    "ActionTimeoutError",
    "AgentRuntime",
    "ApiError",
    "BridgeError",
    "Character",
    "Client",
    "Code",
    "ConfigurationError",
    "Content",
    "ElizaError",
    "ErrorInfo",
    "Evaluator",
    "EventType",
    "HandlerError",
    "InvalidParametersError",
    "Memory",
    "MemoryManager",
    "MemoryStore",
    "ModelNotFoundError",
    "ModelType",
    "Plugin",
    "PluginConfig",
    "PluginError",
    "Provider",
    "ProviderResult",
    "SQLiteStore",
    "Service",
    "State",
    "StoreError",
    "TestCase",
    "TestSuite",
    "ValidationError",
    "__version__",
    "action",
    "error_for",
    "evaluator",
    "get_runtime",
    "load_ipython_extension",
    "provider",
    "unload_ipython_extension",
]


def get_runtime() -> AgentRuntime:
    """The kernel-resident runtime created by ``%load_ext eliza_nb`` (created on first use)."""
    from eliza_nb.kernel.magics import get_runtime as _get

    return _get()


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext eliza_nb``: runtime, nest-asyncio on the kernel loop, magics."""
    from eliza_nb.kernel.magics import load_extension

    load_extension(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext eliza_nb``: closes the runtime cleanly."""
    from eliza_nb.kernel.magics import unload_extension

    unload_extension(ipython)
