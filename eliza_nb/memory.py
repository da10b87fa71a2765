"""Memory managers: the runtime's view of one table of memories (``runtime.messages``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from eliza_nb._checks import int_arg, number_arg, room_arg, text_arg, time_arg
from eliza_nb.errors import ValidationError
from eliza_nb.handler_output import mask_memory
from eliza_nb.models import ModelRuntime, ModelType, embed_memory, embed_text
from eliza_nb.store.base import MemoryStore
from eliza_nb.tracing import NO_TRACER, Tracer
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

    def __init__(
        self, runtime: ModelRuntime, store: MemoryStore, table: str, tracer: Tracer = NO_TRACER
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.table = table
        #: Each stored memory is a ``memory`` span of the run trace it belongs to.
        self.tracer = tracer

    async def create_memory(
        self, memory: Memory | Content | str | dict[str, Any], *, room_id: str | None = None
    ) -> Memory:
        """Store a memory (a ``Memory``, or text/``Content``/dict turned into one) and return it.

        With a ``TEXT_EMBEDDING`` model registered, a memory without an embedding gets one.
        """
        mem = self._stored(self.runtime.to_memory(memory, room_id=room_id))
        with self.tracer.span("memory", self.table, room_id=mem.room_id, text=mem.content.text):
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
        if isinstance(memories, str | bytes | Mapping) or not isinstance(memories, Iterable):
            raise ValidationError(
                f"memories must be a list of memories, got {type(memories).__name__}",
                field="memories",
            )
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
        """The ``count`` most recent memories of a room, oldest first.

        Raises:
            ValidationError: ``room_id``, ``count``, ``start`` or ``end`` is of the wrong type
                or out of range (the argument is named).
        """
        return await self.store.get_memories(
            room_arg(room_id),
            table=self.table,
            count=int_arg(count, "count"),
            start=time_arg(start, "start"),
            end=time_arg(end, "end"),
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

        Raises:
            ValidationError: none of ``text``, ``query`` and ``embedding`` is given, or an
                argument is of the wrong type (``embedding``: a list of finite numbers).
        """
        room = room_arg(room_id)
        top_k = int_arg(top_k, "top_k")
        if text is not None:
            text_arg(text, "text")
        if embedding is not None:
            embedding = _embedding(embedding)
        if query is not None and embedding is None:
            embedding = await embed_text(self.runtime, text_arg(query, "query"))
            text = query if embedding is None else None
        if text is None and embedding is None:
            raise ValidationError("search_memories needs text=, query= or embedding=", field="text")
        return await self.store.search_memories(
            room, table=self.table, text=text, embedding=embedding, top_k=top_k
        )

    async def count_memories(self, room_id: str | None = None) -> int:
        """How many memories a room (or the whole table) holds."""
        room = None if room_id is None else room_arg(room_id)
        return await self.store.count_memories(room, table=self.table)

    async def remove_memory(self, memory_id: uuid.UUID | str) -> bool:
        """Delete one memory by id; True if it existed.

        Raises:
            ValidationError: ``memory_id`` is neither a UUID nor a string.
        """
        if not isinstance(memory_id, uuid.UUID):
            memory_id = room_arg(memory_id, "memory_id")
        return await self.store.remove_memory(memory_id, table=self.table)

    async def remove_all_memories(self, room_id: str) -> int:
        """Delete every memory of a room; returns how many were deleted."""
        return await self.store.remove_all_memories(room_arg(room_id), table=self.table)

    def __repr__(self) -> str:
        return f"MemoryManager(table={self.table!r})"


def _embedding(value: Any) -> list[float]:
    """A query embedding: a non-empty list (or tuple, array) of finite numbers."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
        items = getattr(value, "tolist", None)  # a numpy array
        if not callable(items):
            raise ValidationError(
                f"embedding must be a non-empty list of numbers, got {type(value).__name__}",
                field="embedding",
            )
        return _embedding(items())
    return [number_arg(v, "embedding") for v in value]
