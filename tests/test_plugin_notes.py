"""The notes example plugin: add, list and search notes kept in the "notes" memory table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Content, Plugin
from eliza_nb.plugins import notes
from eliza_nb.plugins.notes import notes_manager, plugin
from eliza_nb.testing import create_mock_memory, create_mock_runtime, create_test_runtime

MakeRuntime = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
async def make_runtime() -> AsyncIterator[MakeRuntime]:
    """Runtimes with the notes plugin and the given settings; closed after the test."""
    made: list[AgentRuntime] = []

    async def make(**settings: Any) -> AgentRuntime:
        made.append(await create_test_runtime(settings=settings, plugins=[plugin]))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.aclose()


@pytest.fixture
async def rt(make_runtime: MakeRuntime) -> AgentRuntime:
    return await make_runtime()


async def add(rt: AgentRuntime, text: str, **options: Any) -> None:
    result = await rt.execute_action("ADD_NOTE", text, options=options)
    assert result.success, result.error


def texts(result: Any) -> list[str]:
    return [note["text"] for note in result.data]


def test_module_exposes_a_plugin_found_by_entry_point() -> None:
    entry = EntryPoint(
        name="notes", value="eliza_nb.plugins.notes:plugin", group="eliza_nb.plugins"
    )
    loaded = entry.load()
    assert isinstance(loaded, Plugin)
    assert loaded is notes.plugin
    assert [a.name for a in loaded.actions] == ["ADD_NOTE", "LIST_NOTES", "SEARCH_NOTES"]
    assert [p.name for p in loaded.providers] == ["recent_notes"]
    assert all(a.description and a.examples for a in loaded.actions)


# -- ADD_NOTE ---------------------------------------------------------------------------
async def test_add_note_stores_a_memory_in_the_notes_table(rt: AgentRuntime) -> None:
    result = await rt.execute_action("ADD_NOTE", "buy oat milk", room_id="kitchen")
    assert result.success
    assert result.text == "Noted: buy oat milk"
    assert result.responses == [Content(text="Noted: buy oat milk", action="ADD_NOTE")]
    assert result.data["text"] == "buy oat milk"
    assert result.data["room_id"] == "kitchen"
    stored = await notes_manager(rt).get_memories("kitchen")
    assert [n.content.text for n in stored] == ["buy oat milk"]
    assert stored[0].content.source == "notes"
    assert await rt.messages.count_memories() == 0  # notes stay apart from the chat


@pytest.mark.parametrize(
    "message", ["add note: call mum", "Add-Note call mum", "take note - call mum", "NOTE: call mum"]
)
async def test_the_command_words_are_not_part_of_the_note(rt: AgentRuntime, message: str) -> None:
    result = await rt.execute_action("ADD_NOTE", message)
    assert result.data["text"] == "call mum"


async def test_routed_message_becomes_a_note_and_the_reply_is_remembered(
    rt: AgentRuntime,
) -> None:
    [result] = await rt.process_message("add note: water the plants", room_id="home")
    assert result.action == "ADD_NOTE"
    assert result.success
    assert [n.content.text for n in await notes_manager(rt).get_memories("home")] == [
        "water the plants"
    ]
    chat = [m.content.text for m in await rt.messages.get_memories("home")]
    assert chat == ["add note: water the plants", "Noted: water the plants"]


async def test_options_text_and_tags(rt: AgentRuntime) -> None:
    result = await rt.execute_action(
        "ADD_NOTE", options={"text": "renew passport", "tags": "Admin, travel ,"}
    )
    assert result.data["text"] == "renew passport"
    assert result.data["tags"] == ["admin", "travel"]
    result = await rt.execute_action("ADD_NOTE", "x", options={"tags": ["Work"]})
    assert result.data["tags"] == ["work"]


@pytest.mark.parametrize(
    ("message", "options", "field"),
    [
        ("", {}, "text"),
        ("add note:   ", {}, "text"),
        ("fine", {"tags": 3}, "tags"),
        ("fine", {"tags": ["a", 1]}, "tags"),
        ("", {"text": 5}, "text"),
    ],
)
async def test_bad_notes_fail_with_a_validation_error(
    rt: AgentRuntime, message: str, options: dict[str, Any], field: str
) -> None:
    result = await rt.execute_action("ADD_NOTE", message, options=options)
    assert not result.success
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert repr(field) in result.error.message  # the message names the option, quoted
    assert await notes_manager(rt).count_memories() == 0


async def test_max_length_comes_from_the_settings(make_runtime: MakeRuntime) -> None:
    rt = await make_runtime(NOTES_MAX_LENGTH="10")
    assert (await rt.execute_action("ADD_NOTE", "short")).success
    result = await rt.execute_action("ADD_NOTE", "far too long a note")
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert "NOTES_MAX_LENGTH allows 10" in result.error.message


async def test_a_bad_setting_is_a_configuration_error(make_runtime: MakeRuntime) -> None:
    rt = await make_runtime(NOTES_MAX_LENGTH="lots")
    result = await rt.execute_action("ADD_NOTE", "hello")
    assert result.error is not None
    assert result.error.code == "CONFIGURATION_ERROR"
    assert "NOTES_MAX_LENGTH" in result.error.message


# -- LIST_NOTES -------------------------------------------------------------------------
async def test_list_without_notes(rt: AgentRuntime) -> None:
    result = await rt.execute_action("LIST_NOTES")
    assert result.success
    assert result.text == "No notes yet."
    assert result.data == []


async def test_list_shows_the_latest_notes_oldest_first(rt: AgentRuntime) -> None:
    for text in ["one", "two", "three"]:
        await add(rt, text, tags="n")
    result = await rt.execute_action("LIST_NOTES", options={"count": "2"})
    assert texts(result) == ["two", "three"]
    assert result.text == "1. two [n]\n2. three [n]"


async def test_list_filters_by_tag_and_room(rt: AgentRuntime) -> None:
    await add(rt, "milk", tags="shopping")
    await add(rt, "report", tags="work")
    await add(rt, "eggs", tags="shopping")
    await rt.execute_action("ADD_NOTE", "elsewhere", room_id="other")
    result = await rt.execute_action("LIST_NOTES", options={"tag": "Shopping"})
    assert texts(result) == ["milk", "eggs"]
    result = await rt.execute_action("LIST_NOTES", options={"room": "other"})
    assert texts(result) == ["elsewhere"]


@pytest.mark.parametrize("count", [0, "two", 1.5, True])
async def test_list_rejects_a_bad_count(rt: AgentRuntime, count: Any) -> None:
    result = await rt.execute_action("LIST_NOTES", options={"count": count})
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert "count" in result.error.message


# -- SEARCH_NOTES -----------------------------------------------------------------------
async def test_search_matches_every_word_newest_first(rt: AgentRuntime) -> None:
    await add(rt, "Call the Dentist on Monday")
    await add(rt, "dentist bill paid")
    await add(rt, "call the plumber")
    result = await rt.execute_action("SEARCH_NOTES", "search notes: dentist")
    assert texts(result) == ["dentist bill paid", "Call the Dentist on Monday"]
    result = await rt.execute_action("SEARCH_NOTES", options={"query": "CALL monday"})
    assert texts(result) == ["Call the Dentist on Monday"]


async def test_search_by_tag_only(rt: AgentRuntime) -> None:
    await add(rt, "milk", tags="shopping")
    await add(rt, "report", tags="work")
    result = await rt.execute_action("SEARCH_NOTES", options={"tag": "work"})
    assert texts(result) == ["report"]


async def test_search_without_matches(rt: AgentRuntime) -> None:
    await add(rt, "milk")
    result = await rt.execute_action("SEARCH_NOTES", "find notes: 100%")
    assert result.success
    assert result.data == []
    assert result.text == "No notes match '100%'."


async def test_search_needs_a_query(rt: AgentRuntime) -> None:
    result = await rt.execute_action("SEARCH_NOTES", "search notes")
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert "needs a query" in result.error.message


# -- the provider -----------------------------------------------------------------------
async def test_state_carries_the_recent_notes(make_runtime: MakeRuntime) -> None:
    rt = await make_runtime(NOTES_RECENT_COUNT=2)
    state = await rt.compose_state("hello", room_id="r")
    assert state.values["recent_notes"] == "No notes in this room yet."
    for text in ["a", "b", "c"]:
        await rt.execute_action("ADD_NOTE", text, room_id="r")
    state = await rt.compose_state("hello", room_id="r")
    assert state.values["recent_notes"] == "1. b\n2. c"
    assert "## recent_notes\n1. b\n2. c" in state.text


# -- handlers called directly (unit level) ----------------------------------------------
async def test_handler_can_be_called_without_registration() -> None:
    rt = create_mock_runtime()
    responses: list[Any] = []

    async def callback(content: Any) -> None:
        responses.append(content)

    assert notes.add_note.handler is not None
    value = await notes.add_note.handler(rt, create_mock_memory("note: tea"), None, {}, callback)
    assert value["data"]["text"] == "tea"
    assert responses[0].text == "Noted: tea"
    await rt.aclose()
