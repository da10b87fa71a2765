"""The narrow faces of the runtime that the modules below it depend on (typing only).

Plugin code (handlers, validators, providers, hooks, models, event handlers, test suites)
is handed the :class:`~eliza_nb.AgentRuntime` itself; the modules that call plugin code type it
as :class:`PluginRuntime`, the part of its surface plugins use, so that no module below
``runtime.py`` imports it (not even for typing). A collaborator that needs more than that names
what it needs in a protocol of its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from eliza_nb.character import Character
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.settings import Settings
    from eliza_nb.types import ActionResult, Memory, State

__all__ = ["PluginRuntime"]


class PluginRuntime(Protocol):
    """What plugin code may rely on: an ``AgentRuntime`` seen from a handler."""

    agent_id: str
    character: Character | None
    settings: Settings
    metrics: MetricsRecorder
    messages: Any  # a MemoryManager (typed loosely: memory.py sits below this module's users)

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A setting's value (see ``AgentRuntime.get_setting``)."""
        ...

    def get_service(self, service_type: Any) -> Any:
        """The running service of that type, or None."""
        ...

    def to_memory(
        self, message: Any, *, room_id: str | None = None, user_id: str = "user"
    ) -> Memory:
        """Coerce text, ``Content``, a dict or a ``Memory`` into a ``Memory``."""
        ...

    async def use_model(
        self, model_type: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        """Call the model that serves ``model_type``."""
        ...

    async def compose_state(
        self, message: Any = None, *, room_id: str | None = None, recent: int = 10
    ) -> State:
        """The agent's state for a message."""
        ...

    async def execute_action(
        self,
        name: str,
        message: Any = None,
        *,
        options: Mapping[str, Any] | None = None,
        state: State | None = None,
        room_id: str | None = None,
        timeout: float | None = None,
    ) -> ActionResult:
        """Run one action by name and record the run."""
        ...

    async def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> None:
        """Emit an event to its handlers."""
        ...
