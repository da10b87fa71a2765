"""The interfaces a store implements, and the conversions every backend shares.

A store keeps two things for a runtime:

* **memories**, grouped by ``table`` (``"messages"``, ``"notes"``, ...) and room
  (:class:`MemoryStore`);
* the **run history**: one session per runtime start, the run records of ``metrics_frame`` and
  the error records of ``errors_frame`` (:class:`RecordStore`).

Frames read the run history through one query type, :class:`RecordQuery` (the one definition
of the action, time and session filters), from a :class:`RecordSource`: a store, or this
session's records in memory (:class:`eliza_nb.store.lists.RecordLists`).

The runtime talks to a store only through these protocols, so another backend needs only these
methods. :class:`eliza_nb.store.SQLiteStore` implements both. This module also owns the
conversions every backend shares: time bounds, microseconds, embeddings, memory rows.
"""

from __future__ import annotations

import json
import math
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from pydantic_core import PydanticSerializationError

from eliza_nb.errors import ValidationError
from eliza_nb.types import Memory

__all__ = [
    "ALL_RECORDS",
    "MemoryRow",
    "MemoryStore",
    "RecordQuery",
    "RecordSource",
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


# -- the run history: one query type, read by every record source ----------------------------
@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which run or error records to read: the one definition of every history filter.

    A record is selected when every filter given holds (None: no filter):

    * ``action``: its action is named ``action``;
    * ``start``, ``end``: its time, rounded half up to the microsecond as frames show it, lies
      in ``[start, end]`` (see :func:`rounded_us_bounds`), so a bound taken from a frame's row
      selects that row;
    * ``session_id``: it was recorded in that session.

    The bounds are checked and turned into microseconds once, here (``lo_us``, ``hi_us``). A
    store renders the query as SQL with :meth:`where`; records in memory are selected with
    :meth:`mask`: the two renderings of the same filters, side by side.

    Raises:
        ValidationError: a bound is not a datetime, an ISO 8601 string or a number.
    """

    action: str | None = None
    start: TimeBound = None
    end: TimeBound = None
    session_id: int | None = None
    lo_us: float = field(init=False, repr=False, compare=False)
    hi_us: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lo, hi = rounded_us_bounds(self.start, self.end)
        object.__setattr__(self, "lo_us", lo)
        object.__setattr__(self, "hi_us", hi)
        if self.session_id is not None:
            object.__setattr__(self, "session_id", int(self.session_id))

    @property
    def timed(self) -> bool:
        """True when the query bounds the time."""
        return self.lo_us > -math.inf or self.hi_us < math.inf

    def where(self, time_us: str, action_is: str) -> tuple[str, list[Any]]:
        """This query as an SQL condition and its parameters.

        Args:
            time_us: An SQL expression of a record's time in epoch microseconds.
            action_is: An SQL condition with one ``?``, true when the action is that name.
        """
        conditions: list[str] = ["1"]
        params: list[Any] = []
        if self.timed:
            conditions.append(f"{time_us} >= ? AND {time_us} < ?")
            params += [self.lo_us, self.hi_us]
        for condition, value in ((action_is, self.action), ("session_id = ?", self.session_id)):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        return " AND ".join(conditions), params

    def mask(self, time_us: Any, action: Any, session_id: Any) -> Any:
        """Which records, given as numpy columns, the query selects: a bool array, or None for
        all of them."""
        keep = None
        if self.timed:
            keep = (time_us >= self.lo_us) & (time_us < self.hi_us)
        for column, value in ((action, self.action), (session_id, self.session_id)):
            if value is not None:
                hit = column == value
                keep = hit if keep is None else keep & hit
        return keep


#: The query that selects every record.
ALL_RECORDS = RecordQuery()


class RecordSource(Protocol):
    """Where frames read run and error records: a store, or a session's records in memory."""

    def run_columns(self, query: RecordQuery = ALL_RECORDS) -> dict[str, Any]:
        """The runs ``query`` selects as numpy columns, oldest first, named like
        ``metrics_frame`` (but ``started_us``, epoch microseconds, for ``started_at``)."""

    def error_rows(self, query: RecordQuery = ALL_RECORDS) -> list[tuple[Any, ...]]:
        """The errors ``query`` selects: ``ErrorRow`` tuples plus the session id, oldest first."""

    def span_rows(
        self, trace_id: str | None = None, last: int | None = None
    ) -> list[tuple[Any, ...]]:
        """``SpanRow`` fields, oldest first: of one trace, of the ``last`` traces, or all."""


@runtime_checkable
class RecordStore(RecordSource, Protocol):
    """Where a runtime's run and error records go, and where frames read them back.

    Run rows are ``RunRow`` tuples and error rows ``ErrorRow`` tuples (``eliza_nb.records``).
    """

    persistent: bool

    def open_session(self, agent_id: str) -> int:
        """Start a session (one per runtime start) and return its id."""

    def close_session(self, session_id: int) -> None:
        """Mark a session as ended."""

    def write_records(
        self,
        session_id: int,
        runs: Sequence[Sequence[Any]],
        errors: Sequence[Sequence[Any]],
        spans: Sequence[Sequence[Any]] = (),
    ) -> None:
        """Append run, error and span records of a session in one transaction.

        Raises:
            StoreError: nothing of the batch was written.
        """


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


def content_to_json(content: Any) -> str:
    """The stored JSON of a memory's content (what both the single and the bulk writes keep).

    Raises:
        ValidationError: an extra key holds something JSON cannot carry (field ``content``).
    """
    try:
        return str(content.model_dump_json(exclude_defaults=True))
    except PydanticSerializationError as exc:
        # Extra keys may hold anything; the database keeps JSON only (text must be UTF-8).
        raise ValidationError(
            f"memory content cannot be stored: it must be JSON-serialisable text ({exc})",
            field="content",
        ) from None


def memory_to_row(memory: Memory, table: str) -> tuple[Any, ...]:
    """Flatten a memory into the stored columns.

    ``(id, table, room_id, user_id, agent_id, created_at epoch µs, text, action, content JSON,
    embedding bytes)``.
    """
    content = memory.content
    content_json = content_to_json(content)
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
