"""Memory managers: the runtime's view of one table of memories (``runtime.messages``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from eliza_nb.errors import ValidationError
from eliza_nb.handler_output import mask_memory
from eliza_nb.models import ModelRuntime, ModelType, embed_memory, embed_text
from eliza_nb.store.base import MemoryStore
from eliza_nb.types import Content, Memory

__all__ = ["MemoryManager"]


class MemoryManager:
    """Create, read, search and delete the memories of one table.

    Example:
        >>> import asyncio
        >>> from eliza_nb import AgentRuntime
        >>> rt = AgentRuntime()
        >>> rt.run_sync(rt.messages.create_memory("hello", room_id="lobby"))  # doctest: +ELLIPSIS
        Memory(...)
        >>> [m.text for m in rt.run_sync(rt.messages.get_memories("lobby"))]
        ['hello']
    """

    def __init__(self, runtime: ModelRuntime, store: MemoryStore, table: str) -> None:
        self.runtime = runtime
        self.store = store
        self.table = table

    async def create_memory(
        self, memory: Memory | Content | str | dict[str, Any], *, room_id: str | None = None
    ) -> Memory:
        """Store a memory (a ``Memory``, or text/``Content``/dict turned into one) and return it.

        With a ``TEXT_EMBEDDING`` model registered, a memory without an embedding gets one.
        """
        mem = self._stored(self.runtime.to_memory(memory, room_id=room_id))
        mem = await embed_memory(self.runtime, mem)
        await self.store.create_memory(mem, table=self.table)
        return mem

    async def create_memories(
        self,
        memories: Iterable[Memory | Content | str | dict[str, Any]],
        *,
        room_id: str | None = None,
    ) -> list[Memory]:
        """Store many memories in one transaction (all or none) and return them.

        The bulk twin of ``create_memory``, for imports: 100,000 memories take about a second.

        Raises:
            ValidationError: an item cannot be turned into a memory (nothing is stored).
            StoreError: the database cannot be written (nothing is stored).
        """
        runtime = self.runtime
        mems = [self._stored(runtime.to_memory(m, room_id=room_id)) for m in memories]
        if runtime.models.has(ModelType.TEXT_EMBEDDING):  # else skip 100k no-op awaits
            mems = [await embed_memory(runtime, m) for m in mems]
        await self.store.create_memories(mems, table=self.table)
        return mems

    def _stored(self, memory: Memory) -> Memory:
        """What is stored of a memory: its secrets masked, before it is embedded or written."""
        return mask_memory(memory, self.runtime.settings.masker)

    async def get_memories(
        self,
        room_id: str,
        count: int = 10,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Memory]:
        """The ``count`` most recent memories of a room, oldest first."""
        if not isinstance(count, int) or count < 0:
            raise ValidationError("count must be a non-negative integer", field="count")
        return await self.store.get_memories(
            str(room_id), table=self.table, count=count, start=start, end=end
        )

    async def search_memories(
        self,
        room_id: str,
        text: str | None = None,
        *,
        embedding: Sequence[float] | None = None,
        query: str | None = None,
        top_k: int = 10,
    ) -> list[Memory]:
        """Memories of a room that contain ``text``, or nearest to ``embedding``; best first.

        ``query`` ranks by similarity to its embedding when a ``TEXT_EMBEDDING`` model is
        registered, and falls back to a ``text`` search without one.
        """
        if query is not None and embedding is None:
            embedding = await embed_text(self.runtime, query)
            text = query if embedding is None else None
        if text is None and embedding is None:
            raise ValidationError("search_memories needs text=, query= or embedding=", field="text")
        return await self.store.search_memories(
            str(room_id), table=self.table, text=text, embedding=embedding, top_k=top_k
        )

    async def count_memories(self, room_id: str | None = None) -> int:
        """How many memories a room (or the whole table) holds."""
        return await self.store.count_memories(room_id, table=self.table)

    async def remove_memory(self, memory_id: uuid.UUID | str) -> bool:
        """Delete one memory by id; True if it existed."""
        return await self.store.remove_memory(memory_id, table=self.table)

    async def remove_all_memories(self, room_id: str) -> int:
        """Delete every memory of a room; returns how many were deleted."""
        return await self.store.remove_all_memories(str(room_id), table=self.table)

    def __repr__(self) -> str:
        return f"MemoryManager(table={self.table!r})"
