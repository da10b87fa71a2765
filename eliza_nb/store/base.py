"""The interface a memory store implements.

A store keeps memories grouped by ``table`` (``"messages"``, ``"notes"``, ...) and room. The
runtime talks to it only through this protocol, so another backend needs only these methods.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from eliza_nb.types import Content, Memory

__all__ = ["MemoryRow", "MemoryStore", "memory_from_row", "memory_to_row"]

# (id, table, room_id, user_id, agent_id, created_at epoch s, text, action, content JSON, embedding)
MemoryRow = tuple[str, str, str, str, str, float, str, str | None, str, str | None]


@runtime_checkable
class MemoryStore(Protocol):
    """What the runtime needs from a memory database."""

    async def create_memory(self, memory: Memory, *, table: str) -> None:
        """Store one memory (replacing one with the same id)."""

    async def get_memories(
        self,
        room_id: str,
        *,
        table: str,
        count: int = 10,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Memory]:
        """The ``count`` most recent memories of a room, oldest first."""

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

    def memory_rows(self, room_id: str | None = None, table: str | None = None) -> list[MemoryRow]:
        """Raw rows for ``memories_frame``, oldest first."""

    def close(self) -> None:
        """Release the database."""


def memory_to_row(memory: Memory, table: str) -> MemoryRow:
    """Flatten a memory into a row (content as JSON, embedding as a JSON list)."""
    content = memory.content
    return (
        str(memory.id),
        table,
        memory.room_id,
        memory.user_id,
        memory.agent_id,
        memory.created_at.timestamp(),
        content.text,
        content.action,
        content.model_dump_json(exclude_defaults=True),
        json.dumps(memory.embedding) if memory.embedding is not None else None,
    )


def memory_from_row(row: Sequence[Any]) -> Memory:
    """Rebuild a validated ``Memory`` from a stored row."""
    mid, _table, room, user, agent, created, _text, _action, content, embedding = row
    return Memory(
        id=uuid.UUID(mid),
        room_id=room,
        user_id=user,
        agent_id=agent,
        created_at=datetime.fromtimestamp(created, UTC),
        content=Content.model_validate_json(content),
        embedding=json.loads(embedding) if embedding else None,
    )
