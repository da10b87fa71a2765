"""The interfaces a store implements, and the conversions every backend shares.

A store keeps two things for a runtime:

* **memories**, grouped by ``table`` (``"messages"``, ``"notes"``, ...) and room
  (:class:`MemoryStore`);
* the **run history**: one session per runtime start, the run records of ``metrics_frame`` and
  the error records of ``errors_frame`` (:class:`RecordStore`).

The runtime talks to a store only through these protocols, so another backend needs only these
methods. :class:`eliza_nb.store.SQLiteStore` implements both.
"""

from __future__ import annotations

import json
import math
import uuid
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from pydantic_core import PydanticSerializationError

from eliza_nb.errors import ValidationError
from eliza_nb.types import Memory

__all__ = [
    "MemoryRow",
    "MemoryStore",
    "RecordStore",
    "TimeBound",
    "embedding_from_blob",
    "embedding_to_blob",
    "epoch_us",
    "from_epoch_us",
    "memory_from_row",
    "memory_to_row",
    "rounded_us_bounds",
    "to_epoch",
    "us_bounds",
]

# (id, table, room_id, user_id, agent_id, created_at epoch s, text, action, content JSON,
#  embedding as float64 bytes or None): what ``memory_rows`` returns, oldest first.
MemoryRow = tuple[str, str, str, str, str, float, str, str | None, str, bytes | None]

#: A time-range bound: an aware datetime (naive ones are taken as UTC), an ISO 8601 string,
#: epoch seconds, or None for "unbounded".
TimeBound = datetime | str | float | int | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@runtime_checkable
class MemoryStore(Protocol):
    """What the runtime needs from a memory database."""

    path: str
    #: True when what is stored outlives the process (a file); False for ``":memory:"``.
    persistent: bool

    async def create_memory(self, memory: Memory, *, table: str) -> None:
        """Store one memory (replacing one with the same id)."""

    async def create_memories(self, memories: Sequence[Memory], *, table: str) -> int:
        """Store many memories in one transaction; returns how many were written."""

    async def get_memories(
        self,
        room_id: str,
        *,
        table: str,
        count: int = 10,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> list[Memory]:
        """The ``count`` most recent memories of a room (in ``[start, end]``), oldest first."""

    async def search_memories(
        self,
        room_id: str,
        *,
        table: str,
        text: str | None = None,
        embedding: Sequence[float] | None = None,
        top_k: int = 10,
    ) -> list[Memory]:
        """Memories of a room matching ``text`` or nearest to ``embedding``, best first."""

    async def count_memories(self, room_id: str | None, *, table: str) -> int:
        """How many memories a room (or the whole table, for None) holds."""

    async def remove_memory(self, memory_id: uuid.UUID | str, *, table: str) -> bool:
        """Delete one memory; True if it existed."""

    async def remove_all_memories(self, room_id: str, *, table: str) -> int:
        """Delete every memory of a room; returns how many were deleted."""

    def memory_rows(
        self,
        room_id: str | None = None,
        table: str | None = None,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> list[MemoryRow]:
        """Raw rows for ``memories_frame``, oldest first."""

    def close(self) -> None:
        """Release the database (idempotent)."""


@runtime_checkable
class RecordStore(Protocol):
    """Where a runtime's run and error records go, and where frames read them back.

    Run rows are ``RunRow`` tuples and error rows ``ErrorRow`` tuples (``eliza_nb.records``).
    """

    persistent: bool

    def open_session(self, agent_id: str) -> int:
        """Start a session (one per runtime start) and return its id."""

    def close_session(self, session_id: int) -> None:
        """Mark a session as ended."""

    def write_records(
        self, session_id: int, runs: Sequence[Sequence[Any]], errors: Sequence[Sequence[Any]]
    ) -> None:
        """Append run and error records of a session in one transaction."""

    def run_columns(
        self,
        *,
        action: str | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
        session_id: int | None = None,
    ) -> dict[str, Any]:
        """Stored runs as numpy columns named like ``metrics_frame`` (but ``started_us``, epoch
        microseconds, for ``started_at``), oldest first."""

    def error_rows(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> list[tuple[Any, ...]]:
        """Stored errors as ``ErrorRow`` tuples plus the session id, oldest first."""


def _parse_bound(value: TimeBound, name: str) -> datetime | float | None:
    """A bound as an aware datetime or epoch seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a datetime, got a bool", field=name)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{name} must be an ISO 8601 time such as '2024-05-01T12:00', got {value!r}",
                field=name,
            ) from None
    if isinstance(value, datetime):  # pandas.Timestamp is a datetime too
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    raise ValidationError(f"{name} must be a datetime, got {type(value).__name__}", field=name)


def to_epoch(value: TimeBound, name: str = "start") -> float | None:
    """Epoch seconds of a time bound (None stays None; naive datetimes are taken as UTC).

    Raises:
        ValidationError: the value is not a datetime, an ISO 8601 string or a number.
    """
    bound = _parse_bound(value, name)
    return bound.timestamp() if isinstance(bound, datetime) else bound


def rounded_us_bounds(start: TimeBound, end: TimeBound) -> tuple[float, float]:
    """``(lo, hi)`` such that ``lo <= seconds * 1e6 < hi`` selects the times that, rounded half
    up to the microsecond as frames show them, lie in ``[start, end]``.

    So a bound taken from a frame (``frame["started_at"][i]``) includes that row.
    """
    lo, hi = us_bounds(start, end)
    return lo - 0.5, hi + 0.5


def us_bounds(start: TimeBound, end: TimeBound) -> tuple[float, float]:
    """``(lo, hi)`` of a range in epoch microseconds (exact for datetimes; open ends infinite)."""
    return _to_us(start, "start", -math.inf), _to_us(end, "end", math.inf)


def _to_us(value: TimeBound, name: str, default: float) -> float:
    bound = _parse_bound(value, name)
    if isinstance(bound, datetime):
        return epoch_us(bound)
    return default if bound is None else bound * 1e6


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (moment - _EPOCH) // _ONE_US


def from_epoch_us(us: int) -> datetime:
    """The UTC datetime of a microsecond epoch count (exact)."""
    return _EPOCH + timedelta(microseconds=us)


def embedding_to_blob(embedding: Sequence[float] | None) -> bytes | None:
    """An embedding as little-endian float64 bytes (exact), or None."""
    if embedding is None:
        return None
    return array("d", embedding).tobytes()


def embedding_from_blob(blob: bytes | None) -> list[float] | None:
    """The list of floats stored by :func:`embedding_to_blob`."""
    if blob is None:
        return None
    values = array("d")
    values.frombytes(blob)
    return values.tolist()


def memory_to_row(memory: Memory, table: str) -> tuple[Any, ...]:
    """Flatten a memory into the stored columns.

    ``(id, table, room_id, user_id, agent_id, created_at epoch µs, text, action, content JSON,
    embedding bytes)``.
    """
    content = memory.content
    try:
        content_json = content.model_dump_json(exclude_defaults=True)
    except PydanticSerializationError as exc:
        # Extra keys may hold anything; the database keeps JSON only (text must be UTF-8).
        raise ValidationError(
            f"memory content cannot be stored: it must be JSON-serialisable text ({exc})",
            field="content",
        ) from None
    return (
        str(memory.id),
        table,
        memory.room_id,
        memory.user_id,
        memory.agent_id,
        epoch_us(memory.created_at),
        content.text,
        content.action,
        content_json,
        embedding_to_blob(memory.embedding),
    )


def memory_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The ``Memory`` fields of a stored row ``(id, room, user, agent, µs, content, embedding)``."""
    mid, room, user, agent, created, content, embedding = row
    return {
        "id": mid,
        "room_id": room,
        "user_id": user,
        "agent_id": agent,
        "created_at": from_epoch_us(created),
        "content": json.loads(content),
        "embedding": embedding_from_blob(embedding),
    }


def memory_from_row(row: Sequence[Any]) -> Memory:
    """Rebuild a validated ``Memory`` from a stored row (see :func:`memory_fields`)."""
    return Memory.model_validate(memory_fields(row))
