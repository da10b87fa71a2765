"""Notes: an agent that takes, lists and searches notes, kept as memories in a "notes" table.

Notes live in the runtime's memory store (SQLite by default), one list per room, apart from
the chat messages. The ``recent_notes`` provider puts the latest ones into the agent's state,
so other actions (and a model) can use them.

Actions:
    ``ADD_NOTE`` (similes ``TAKE_NOTE``, ``SAVE_NOTE``): store the message text (or
    ``options["text"]``) as a note; ``options["tags"]`` is a list of strings or a
    comma-separated string.
    ``LIST_NOTES`` (``SHOW_NOTES``): the latest notes of the room, oldest first;
    ``options["count"]``, ``options["tag"]``.
    ``SEARCH_NOTES`` (``FIND_NOTES``): notes containing every word of the query (the message
    text or ``options["query"]``), newest first; ``options["tag"]``, ``options["count"]``.
    Every action takes ``options["room"]`` to work on another room than the message's.

Settings (all optional): ``NOTES_RECENT_COUNT`` (5, notes in the provider),
``NOTES_LIST_COUNT`` (20), ``NOTES_MAX_LENGTH`` (2000 characters).

Errors: ``VALIDATION_ERROR`` for an empty or too long note, an empty query, or bad options;
``CONFIGURATION_ERROR`` for a setting that is not a positive integer.

Example:
    >>> from eliza_nb import AgentRuntime
    >>> from eliza_nb.plugins.notes import plugin
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugin(plugin))
    >>> rt.run("ADD_NOTE", "buy oat milk", options={"tags": "shopping"}).text
    'Noted: buy oat milk'
    >>> rt.run("SEARCH_NOTES", "milk").data[0]["tags"]
    ['shopping']
    >>> rt.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eliza_nb.errors import ValidationError
from eliza_nb.memory import MemoryManager
from eliza_nb.plugin import Plugin, PluginConfig, action, provider
from eliza_nb.plugins._common import (
    command_pattern,
    int_option,
    int_setting,
    str_option,
    strip_command,
)
from eliza_nb.types import Content, Memory

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = [
    "NOTES_TABLE",
    "add_note",
    "list_notes",
    "note_to_dict",
    "notes_manager",
    "plugin",
    "recent_notes",
    "search_notes",
]

NOTES_TABLE = "notes"
_SEARCH_WINDOW = 500  # candidates scanned for multi-word queries (newest first)


def notes_manager(runtime: AgentRuntime) -> MemoryManager:
    """The memory manager of the runtime's ``notes`` table (same store as the messages)."""
    return MemoryManager(runtime, runtime.store, NOTES_TABLE)


def note_to_dict(note: Memory) -> dict[str, Any]:
    """A note as plain data: ``id, text, tags, room_id, user_id, created_at`` (ISO text)."""
    return {
        "id": str(note.id),
        "text": note.content.text,
        "tags": list((note.content.model_extra or {}).get("tags", [])),
        "room_id": note.room_id,
        "user_id": note.user_id,
        "created_at": note.created_at.isoformat(),
    }


def _tags(options: Mapping[str, Any], key: str = "tags") -> list[str]:
    raw = options.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple) or not all(isinstance(t, str) for t in raw):
        raise ValidationError(
            f"option {key!r} must be a list of strings or a comma-separated string", field=key
        )
    return [t.strip().lower() for t in raw if t.strip()]


def _room(message: Memory, options: Mapping[str, Any]) -> str:
    return str_option(options, "room") or message.room_id


def _render(notes: list[Memory]) -> str:
    lines = []
    for i, note in enumerate(notes, 1):
        tags = note_to_dict(note)["tags"]
        suffix = f" [{', '.join(tags)}]" if tags else ""
        lines.append(f"{i}. {note.content.text}{suffix}")
    return "\n".join(lines)


def _has_tag(note: Memory, tag: str | None) -> bool:
    return tag is None or tag.lower() in note_to_dict(note)["tags"]


_ADD = command_pattern(["ADD_NOTE", "TAKE_NOTE", "SAVE_NOTE", "NOTE"])
_LIST = command_pattern(["LIST_NOTES", "SHOW_NOTES"])
_SEARCH = command_pattern(["SEARCH_NOTES", "FIND_NOTES", "SEARCH_NOTE", "FIND_NOTE"])


def _example(user_text: str, reply: str, act: str) -> list[dict[str, Any]]:
    return [
        {"user": "{{user1}}", "content": {"text": user_text}},
        {"user": "{{agent}}", "content": {"text": reply, "action": act}},
    ]


@action(
    name="ADD_NOTE",
    description="Save a note (the message text) in this room's notes.",
    similes=["TAKE_NOTE", "SAVE_NOTE"],
    examples=[
        _example(
            "add note: call the dentist on Monday", "Noted: call the dentist on Monday", "ADD_NOTE"
        )
    ],
)
async def add_note(
    runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
) -> dict[str, Any]:
    """Store a note; raises ``ValidationError`` for an empty or too long text."""
    text = str_option(options, "text") or strip_command(message.content.text, _ADD)
    if not text:
        raise ValidationError(
            "ADD_NOTE needs the note's text: put it in the message ('add note: buy milk') "
            "or in options['text'].",
            field="text",
        )
    limit = int_setting(runtime, "NOTES_MAX_LENGTH", 2000)
    if len(text) > limit:
        raise ValidationError(
            f"The note has {len(text)} characters; NOTES_MAX_LENGTH allows {limit}.",
            field="text",
        )
    note = Memory(
        user_id=message.user_id,
        agent_id=runtime.agent_id,
        room_id=_room(message, options),
        content=Content(text=text, source="notes", tags=_tags(options)),
    )
    await notes_manager(runtime).create_memory(note)
    reply = f"Noted: {text}"
    await callback(Content(text=reply, action="ADD_NOTE"))
    return {"success": True, "text": reply, "data": note_to_dict(note)}


@action(
    name="LIST_NOTES",
    description="List the latest notes of this room, oldest first.",
    similes=["SHOW_NOTES"],
    examples=[_example("list notes", "1. call the dentist on Monday", "LIST_NOTES")],
)
async def list_notes(
    runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
) -> dict[str, Any]:
    """List notes (``count``, ``tag``, ``room`` options)."""
    count = int_option(options, "count", int_setting(runtime, "NOTES_LIST_COUNT", 20))
    tag = str_option(options, "tag")
    manager = notes_manager(runtime)
    room = _room(message, options)
    window = count if tag is None else _SEARCH_WINDOW
    notes = [n for n in await manager.get_memories(room, window) if _has_tag(n, tag)][-count:]
    text = _render(notes) if notes else "No notes yet."
    await callback(Content(text=text, action="LIST_NOTES"))
    return {"success": True, "text": text, "data": [note_to_dict(n) for n in notes]}


@action(
    name="SEARCH_NOTES",
    description="Find the notes of this room that contain every word of a query.",
    similes=["FIND_NOTES"],
    examples=[_example("search notes dentist", "1. call the dentist on Monday", "SEARCH_NOTES")],
)
async def search_notes(
    runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
) -> dict[str, Any]:
    """Search notes, newest first; raises ``ValidationError`` when there is nothing to search."""
    query = str_option(options, "query") or strip_command(message.content.text, _SEARCH)
    tag = str_option(options, "tag")
    if not query and tag is None:
        raise ValidationError(
            "SEARCH_NOTES needs a query: 'search notes dentist', options['query'] or "
            "options['tag'].",
            field="query",
        )
    count = int_option(options, "count", int_setting(runtime, "NOTES_LIST_COUNT", 20))
    notes = await _find(notes_manager(runtime), _room(message, options), query.lower(), tag)
    notes = notes[:count]
    text = _render(notes) if notes else f"No notes match {query or tag!r}."
    await callback(Content(text=text, action="SEARCH_NOTES"))
    return {"success": True, "text": text, "data": [note_to_dict(n) for n in notes]}


async def _find(manager: MemoryManager, room: str, query: str, tag: str | None) -> list[Memory]:
    words = query.split()
    if words:
        # The store matches one substring; the longest word narrows best, the rest filter.
        candidates = await manager.search_memories(room, max(words, key=len), top_k=_SEARCH_WINDOW)
    else:
        candidates = list(reversed(await manager.get_memories(room, _SEARCH_WINDOW)))
    return [
        n
        for n in candidates
        if all(w in n.content.text.lower() for w in words) and _has_tag(n, tag)
    ]


@provider(name="recent_notes", description="The latest notes of the message's room.")
async def recent_notes(runtime: AgentRuntime, message: Memory, state: Any) -> str:
    """``NOTES_RECENT_COUNT`` latest notes as a numbered list, or a line saying there are none."""
    count = int_setting(runtime, "NOTES_RECENT_COUNT", 5)
    notes = await notes_manager(runtime).get_memories(message.room_id, count)
    return _render(notes) if notes else "No notes in this room yet."


plugin = Plugin(
    name="notes",
    description="Take, list and search notes, stored as memories in a 'notes' table.",
    version="0.1.0",
    actions=[add_note, list_notes, search_notes],
    providers=[recent_notes],
    config=PluginConfig(
        optional=["NOTES_RECENT_COUNT", "NOTES_LIST_COUNT", "NOTES_MAX_LENGTH"],
        defaults={"NOTES_RECENT_COUNT": 5, "NOTES_LIST_COUNT": 20, "NOTES_MAX_LENGTH": 2000},
    ),
)
"""The notes plugin: ``await runtime.register_plugin(plugin)`` or ``%eliza register notes``."""
