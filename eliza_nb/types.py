"""The data that crosses a boundary: messages, memories, state and action results.

``Content``, ``Memory``, ``State``, ``ProviderResult``, ``ActionExample`` and ``ErrorInfo`` are
pydantic v2 models.
``ActionResult`` is a slotted class built on the hot path without validation; it converts to
a pydantic-validated dict with :meth:`ActionResult.model_dump`.
"""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from eliza_nb.errors import error_for

__all__ = [
    "ActionExample",
    "ActionResult",
    "Content",
    "ErrorInfo",
    "Memory",
    "ProviderResult",
    "State",
    "new_id",
]

# uuid4() reads os.urandom on every call; a random base plus a counter is unique for the
# process and costs a third as much on the execute_action hot path.
_ID_BASE = int.from_bytes(os.urandom(16), "big")
_ID_COUNTER = itertools.count()
_MASK128 = (1 << 128) - 1


_new = object.__new__
# UUID is immutable through __setattr__; its slots' own setters are the cheap way in.
_set_uuid_int = uuid.UUID.__dict__["int"].__set__
_set_uuid_safe = uuid.UUID.__dict__["is_safe"].__set__


def new_id() -> uuid.UUID:
    """Return a fresh, process-unique UUID (random base, counter offset)."""
    # UUID.__init__ re-validates its argument; the int here is in range by construction.
    value = _new(uuid.UUID)
    _set_uuid_int(value, (_ID_BASE + next(_ID_COUNTER)) & _MASK128)
    _set_uuid_safe(value, _UNKNOWN)
    return value


_UNKNOWN = uuid.SafeUUID.unknown  # an enum member read once: each read costs a Python call


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Content(BaseModel):
    """What a message says: text, an optional action name, and any extra keys.

    Example:
        >>> Content(text="hello", action="GREET", mood="cheerful").model_extra
        {'mood': 'cheerful'}
    """

    model_config = ConfigDict(extra="allow")

    text: str = ""
    action: str | None = None
    source: str | None = None
    url: str | None = None
    in_reply_to: str | None = None
    attachments: list[Any] = Field(default_factory=list)


class Memory(BaseModel):
    """One stored message: who said what, in which room, and when.

    ``user_id``, ``agent_id`` and ``room_id`` are free strings (UUIDs are accepted and stored
    as text) so a notebook can use readable room names.
    """

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=new_id)
    user_id: str = "user"
    agent_id: str = "agent"
    room_id: str = "default"
    content: Content = Field(default_factory=Content)
    embedding: list[float] | None = None
    created_at: datetime = Field(default_factory=_utcnow)

    @field_validator("user_id", "agent_id", "room_id", mode="before")
    @classmethod
    def _id_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, uuid.UUID) else value

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def text(self) -> str:
        """The message text (shortcut for ``content.text``)."""
        return self.content.text


# The slots every pydantic model has besides __dict__; set through their descriptors, which
# is a third cheaper than object.__setattr__ on the hot path below.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def quick_message(text: str, user_id: str, agent_id: str, room_id: str) -> Memory:
    """Build a text ``Memory`` without validation (the execute_action hot path).

    Does what ``model_construct`` does, minus its per-field default-factory inspection, which
    costs more than the whole rest of an action dispatch. Every value here is known good;
    ``tests/test_types.py`` checks the result equals a validated ``Memory``.
    """
    fields = _CONTENT_FIELDS.copy()  # copying a small dict costs a third of building it
    fields["text"] = text
    fields["attachments"] = []
    content = _new(Content)
    _set_dict(content, fields)
    _set_fields(content, {"text"})
    _set_extra(content, {})
    _set_private(content, None)
    fields = _MEMORY_FIELDS.copy()
    fields["id"] = new_id()
    fields["user_id"] = user_id
    fields["agent_id"] = agent_id
    fields["room_id"] = room_id
    fields["content"] = content
    fields["created_at"] = datetime.now(UTC)
    memory = _new(Memory)
    _set_dict(memory, fields)
    _set_fields(memory, {"user_id", "agent_id", "room_id", "content"})
    _set_extra(memory, None)
    _set_private(memory, None)
    return memory


# Every field in declaration order (what a validated model's __dict__ holds).
_CONTENT_FIELDS: dict[str, Any] = dict.fromkeys(Content.model_fields)
_MEMORY_FIELDS: dict[str, Any] = dict.fromkeys(Memory.model_fields)


class ProviderResult(BaseModel):
    """What an elizaOS 1.7 provider returns: text for the prompt, values, structured data.

    ``text`` joins the other providers' texts in ``state.text``; ``values`` are merged into
    ``state.values`` (the placeholders of a prompt template); ``data`` stays in
    ``state.data["providers"][name].data`` for the actions.

    Example:
        >>> ProviderResult(text="It is noon.", values={"time": "12:00"})
        ProviderResult(text='It is noon.', values={'time': '12:00'}, data={})
    """

    text: str = ""
    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class State(BaseModel):
    """What the agent knows when it acts (elizaOS's ``State``).

    Attributes:
        values: The providers' merged ``values`` (an old-style provider's whole value under
            its name), plus what the runtime knows: ``agentName``, ``bio``,
            ``recentMessages``, ``actionNames``, ``actions``, ``providers``.
        data: ``data["providers"][name]`` is each provider's ``ProviderResult``; a chain adds
            ``data["action_results"]``.
        text: The providers' texts joined in position order (``{{providers}}`` in a prompt).
        recent_messages: The room's latest memories. ``actions``: the usable action names.
    """

    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    recent_messages: list[Memory] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    text: str = ""

    # The runtime's masker, set by compose_state: provider values stay raw for handlers, but
    # every rendering of the state masks the secrets they may hold.
    _masker: Any = PrivateAttr(default=None)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def masked_with(self, masker: Any) -> State:
        """Let every rendering of this state mask the secrets ``masker`` knows; returns it."""
        self._masker = masker
        return self

    def mask(self, text: str) -> str:
        """``text`` with the runtime's secret values replaced by ``'***'``."""
        return self._masker.mask(text) if self._masker is not None else text

    def __repr__(self) -> str:
        return BaseModel.__repr__(self._shown())

    def __str__(self) -> str:
        return BaseModel.__str__(self._shown())

    def _shown(self) -> State:
        """This state with its values and text masked *before* repr escapes quotes in them."""
        masker = self._masker
        if masker is None or not masker:
            return self
        update = {
            "values": masker.mask_value(self.values),
            "data": masker.mask_value(self.data),
            "text": masker.mask(self.text),
        }
        return self.model_copy(update=update)

    def _repr_html_(self) -> str:
        from eliza_nb.reprs import state_html

        return state_html(self)


class ActionExample(BaseModel):
    """One turn of an example conversation: who speaks (``user``) and what they say."""

    user: str
    content: Content


class ErrorInfo(BaseModel):
    """Why a run failed: a stable code, a masked message, the exception type and traceback."""

    code: str
    message: str
    error_type: str = ""
    traceback: str = ""


class ActionResult:
    """The outcome of one action execution.

    Attributes:
        run_id: Sequence number of the run within its runtime session.
        action, plugin: What ran.
        success: False for validation failures, handler errors, timeouts and cancellations.
        text: The text the handler returned; a returned result without one takes its first
            response's text, no return value its last response's.
        values: The ``values`` the handler returned (elizaOS 1.7): merged into the state the
            next action of a chain sees.
        data: Any other value the handler returned.
        responses: Every ``Content`` the handler passed to ``callback``.
        error: ``ErrorInfo`` when ``success`` is False.
        started_at: UTC start time. ``duration_ms``: wall time of the run.
        trace_id: The id of the run's trace when tracing is on (``runtime.trace(trace_id)``).

    Built on the hot path without validation; ``model_dump()`` gives a plain dict.
    """

    __slots__ = (
        "action",
        "data",
        "duration_ms",
        "error",
        "plugin",
        "quiet",
        "responses",
        "run_id",
        "started",
        "success",
        "text",
        "trace_id",
        "values",
    )

    def __init__(
        self,
        run_id: int,
        action: str,
        plugin: str,
        success: bool,
        text: str | None = None,
        data: Any = None,
        responses: list[Content] | None = None,
        error: ErrorInfo | None = None,
        started: float = 0.0,
        duration_ms: float = 0.0,
        values: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.action = action
        self.plugin = plugin
        self.success = success
        self.text = text
        self.data = data
        self.values: dict[str, Any] = values if values is not None else {}
        self.responses: list[Content] = responses if responses is not None else []
        self.error = error
        #: Epoch seconds (UTC) the run started: the ``started`` column of the run records.
        self.started = started
        self.duration_ms = duration_ms
        #: The trace this run belongs to (``runtime.trace(result.trace_id)``), when traced.
        self.trace_id: str | None = None
        #: True for the result of a TypeScript plugin's action: as in elizaOS, its text is for
        #: the chain, and the agent loop keeps only what it passed to ``callback``.
        self.quiet = False

    @property
    def started_at(self) -> datetime:
        """UTC time the run started."""
        return datetime.fromtimestamp(self.started, UTC)

    @property
    def error_code(self) -> str | None:
        """The error code, or None on success."""
        return self.error.code if self.error is not None else None

    def raise_for_error(self) -> ActionResult:
        """Return this result if the run succeeded; else raise its failure as an ``ElizaError``.

        The class follows the code (``HANDLER_ERROR``: ``HandlerError``, ``TIMEOUT``:
        ``ActionTimeoutError``, ...; another code: ``ElizaError`` with that code); the message
        is the recorded, masked one, ``details`` hold the run id and the error type.

        Example:
            >>> from eliza_nb import AgentRuntime, HandlerError, Plugin, action
            >>> @action()
            ... def boom(runtime, message, state, options, callback):
            ...     raise RuntimeError("no")
            >>> rt = AgentRuntime(use_env=False)
            >>> rt.run_sync(rt.register_plugin(Plugin(name="demo", actions=[boom])))
            >>> rt.run("BOOM").raise_for_error()
            Traceback (most recent call last):
            eliza_nb.errors.HandlerError: [HANDLER_ERROR] no
            >>> rt.close()
        """
        if self.error is None:
            return self
        details = {
            "run_id": self.run_id,
            "action": self.action,
            "error_type": self.error.error_type,
        }
        raise error_for(self.error.code, self.error.message, details)

    def model_dump(self) -> dict[str, Any]:
        """Return the result as a plain dict (responses and error as dicts)."""
        return {
            "run_id": self.run_id,
            "action": self.action,
            "plugin": self.plugin,
            "success": self.success,
            "text": self.text,
            "values": self.values,
            "data": self.data,
            "responses": [c.model_dump(exclude_defaults=True) for c in self.responses],
            "error": self.error.model_dump() if self.error else None,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActionResult):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        status = "ok" if self.success else f"failed {self.error_code}"
        text = f", text={self.text!r}" if self.text is not None else ""
        return (
            f"ActionResult(action={self.action!r}, {status}{text}, "
            f"responses={len(self.responses)}, duration_ms={self.duration_ms:.3f})"
        )

    def _repr_html_(self) -> str:
        from eliza_nb.reprs import result_html

        return result_html(self)
