"""The SQLite store on real files: every memory operation, history across sessions, schema
versions, broken files, and two writers on one file."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eliza_nb import AgentRuntime, Content, Memory, Plugin, StoreError, ValidationError, action
from eliza_nb.store import SCHEMA_VERSION, SQLiteStore
from eliza_nb.store.base import RecordQuery

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@action(name="TICK", description="succeeds")
def tick(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "ok"


@action(name="BOOM", description="fails")
def boom(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise ValueError("boom")


PLUGIN = Plugin(name="history", actions=[tick, boom])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.fixture
async def file_rt(db_path: Path) -> AsyncIterator[AgentRuntime]:
    rt = AgentRuntime(database=db_path, use_env=False)
    await rt.register_plugin(PLUGIN)
    yield rt
    await rt.aclose()


def memory(text: str, *, room: str = "lobby", minutes: int = 0, **fields: Any) -> Memory:
    when = T0 + timedelta(minutes=minutes)
    return Memory(room_id=room, content=Content(text=text), created_at=when, **fields)


async def texts(store: SQLiteStore, room: str = "lobby", **query: Any) -> list[str]:
    """Texts of ``get_memories`` (or, with ``text=``/``embedding=``, of ``search_memories``)."""
    if "text" in query or "embedding" in query:
        found = await store.search_memories(room, table="messages", **query)
    else:
        found = await store.get_memories(room, table="messages", **query)
    return [m.text for m in found]


# -- memory round trips ----------------------------------------------------------------------
async def test_a_memory_comes_back_equal_field_for_field(store: SQLiteStore) -> None:
    original = Memory(
        user_id="alice",
        agent_id="eliza",
        room_id=str(uuid.uuid4()),
        created_at=T0,
        content=Content(
            text="héllo",
            action="GREET",
            source="discord",
            url="https://x.test",
            in_reply_to="m1",
            attachments=[{"kind": "image"}],
            mood="cheerful",
        ),
        embedding=[0.1, -2.5, 1e-300, 3.0],
    )
    await store.create_memory(original, table="messages")
    (back,) = await store.get_memories(original.room_id, table="messages")
    assert back == original
    assert back.content.model_extra == {"mood": "cheerful"}


async def test_get_memories_latest_count_oldest_first_and_time_range(store: SQLiteStore) -> None:
    await store.create_memories([memory(f"m{i}", minutes=i) for i in range(6)], table="messages")
    latest = await store.get_memories("lobby", table="messages", count=3)
    assert [m.text for m in latest] == ["m3", "m4", "m5"]
    one, three = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    assert await texts(store, count=10, start=one, end=three) == ["m1", "m2", "m3"]
    naive_iso = (T0 + timedelta(minutes=4)).replace(tzinfo=None).isoformat()
    assert await texts(store, start=naive_iso) == ["m4", "m5"]
    assert await store.get_memories("lobby", table="messages", count=0) == []


async def test_rooms_and_tables_are_separate(store: SQLiteStore) -> None:
    await store.create_memory(memory("in lobby"), table="messages")
    await store.create_memory(memory("in kitchen", room="kitchen"), table="messages")
    await store.create_memory(memory("a note", room="kitchen"), table="notes")
    assert [m.text for m in await store.get_memories("kitchen", table="messages")] == ["in kitchen"]
    assert [m.text for m in await store.get_memories("kitchen", table="notes")] == ["a note"]
    assert await store.count_memories(None, table="messages") == 2
    assert await store.count_memories("kitchen", table="notes") == 1


async def test_same_id_replaces_and_reindexes(store: SQLiteStore) -> None:
    first = memory("old words")
    await store.create_memory(first, table="messages")
    await store.create_memory(
        first.model_copy(update={"content": Content(text="new words")}), table="messages"
    )
    assert await store.count_memories("lobby", table="messages") == 1
    assert await store.search_memories("lobby", table="messages", text="old") == []
    (hit,) = await store.search_memories("lobby", table="messages", text="new")
    assert hit.id == first.id and hit.text == "new words"


async def test_full_text_search_words_stems_prefixes_and_ranking(store: SQLiteStore) -> None:
    lines = [
        "I was running late",
        "the weather is nice",
        "weather weather weather report",
        "Hello, world!",
        "nothing here",
    ]
    batch = [memory(t, minutes=i) for i, t in enumerate(lines)]
    await store.create_memories(batch, table="messages")
    assert await texts(store, text="run") == ["I was running late"]
    assert await texts(store, text="hel") == ["Hello, world!"]
    ranked = await texts(store, text="weather")
    assert ranked == ["weather weather weather report", "the weather is nice"]
    assert await texts(store, text="weather nice") == ["the weather is nice"]
    assert len(await texts(store, text="weather", top_k=1)) == 1
    assert await texts(store, "other", text="weather") == []


@pytest.mark.parametrize(
    "query", ['"; DROP TABLE memories; --', "AND OR NOT", "*", "NEAR(a b)", "", "   ", "world)"]
)
async def test_search_text_is_safe_for_any_input(store: SQLiteStore, query: str) -> None:
    await store.create_memory(memory("Hello, world!"), table="messages")
    assert await texts(store, text=query) in ([], ["Hello, world!"])
    assert await store.count_memories("lobby", table="messages") == 1


async def test_embedding_search_ranks_by_cosine_similarity(store: SQLiteStore) -> None:
    vectors = {
        "east": [1.0, 0.0, 0.0],
        "north-east": [1.0, 1.0, 0.0],
        "north": [0.0, 2.0, 0.0],
        "zero": [0.0, 0.0, 0.0],
        "short": [1.0, 0.0],
    }
    batch = [memory(k, embedding=v) for k, v in vectors.items()]
    await store.create_memories(batch, table="messages")
    await store.create_memory(memory("no vector"), table="messages")
    assert await texts(store, embedding=[0.9, 0.1, 0.0], top_k=3) == ["east", "north-east", "north"]
    everything = await texts(store, embedding=[0, 1, 0], top_k=10)
    assert everything == ["north", "north-east", "east", "zero"]  # the 2-d one is skipped
    (nearest,) = await store.search_memories(
        "lobby", table="messages", embedding=[1, 0, 0], top_k=1
    )
    assert nearest.embedding == [1.0, 0.0, 0.0]
    with pytest.raises(ValidationError):
        await store.search_memories("lobby", table="messages", embedding=[])


async def test_count_remove_and_remove_all(store: SQLiteStore) -> None:
    mems = [memory(f"m{i}", room="a" if i < 3 else "b") for i in range(5)]
    await store.create_memories(mems, table="messages")
    assert await store.count_memories("a", table="messages") == 3
    assert await store.count_memories(None, table="messages") == 5
    assert await store.remove_memory(mems[0].id, table="messages") is True
    assert await store.remove_memory(str(mems[0].id), table="messages") is False
    assert await store.remove_memory(str(mems[1].id).upper(), table="notes") is False
    assert await store.remove_memory("not-a-uuid", table="messages") is False
    assert await store.remove_memory(str(mems[1].id).upper(), table="messages") is True
    assert await store.remove_all_memories("b", table="messages") == 2
    assert await store.remove_all_memories("b", table="messages") == 0
    assert [m.text for m in await store.get_memories("a", table="messages")] == ["m2"]
    assert await store.search_memories("b", table="messages", text="m3") == []


async def test_memory_manager_round_trip_and_atomic_bulk(file_rt: AgentRuntime) -> None:
    msgs = file_rt.messages
    made = await msgs.create_memories([f"note {i}" for i in range(1000)], room_id="bulk")
    assert len(made) == 1000 and await msgs.count_memories("bulk") == 1000
    assert [m.text for m in await msgs.get_memories("bulk", 2)] == ["note 998", "note 999"]
    with pytest.raises(ValidationError):
        await msgs.create_memories(["fine", 42], room_id="bulk")  # type: ignore[list-item]
    assert await msgs.count_memories("bulk") == 1000  # nothing of the bad batch was stored
    assert len(await msgs.search_memories("bulk", "note", top_k=5)) == 5
    assert await msgs.remove_memory(made[0].id) is True
    assert await msgs.remove_all_memories("bulk") == 999
    frame = file_rt.memories_frame()
    assert frame.empty and list(frame.columns)[:3] == ["id", "created_at", "room_id"]


# -- history across sessions -------------------------------------------------------------------
async def test_history_survives_close_and_reopen(db_path: Path) -> None:
    first = AgentRuntime(database=db_path, use_env=False)
    await first.register_plugin(PLUGIN)
    for _ in range(3):
        await first.execute_action("TICK")
    await first.execute_action("BOOM")
    await first.messages.create_memory("remember me", room_id="r1")
    await first.aclose()

    second = AgentRuntime(database=db_path, use_env=False)
    await second.register_plugin(PLUGIN)
    await second.execute_action("TICK", room_id="r2")
    runs = second.metrics_frame()
    assert runs["session_id"].tolist() == [first.session_id] * 4 + [second.session_id]
    assert runs["run_id"].tolist() == [1, 2, 3, 4, 1]
    assert runs["success"].tolist() == [True, True, True, False, True]
    assert runs["error_code"].tolist()[3] == "HANDLER_ERROR"
    assert len(second.metrics_frame(session_id=first.session_id)) == 4
    assert len(second.metrics_frame(action="BOOM")) == 1
    cut = runs["started_at"].iloc[4].to_pydatetime()
    assert second.metrics_frame(start=cut)["session_id"].tolist() == [second.session_id]
    assert len(second.metrics_frame(end=cut - timedelta(microseconds=1))) == 4
    errors = second.errors_frame()
    assert errors[["run_id", "code", "session_id"]].values.tolist() == [
        [4, "HANDLER_ERROR", first.session_id]
    ]
    assert "ValueError: boom" in errors["traceback"].iloc[0]
    assert second.memories_frame()["text"].tolist() == ["remember me"]
    summary = second.metrics_summary()
    assert summary.set_index("action")["runs"].to_dict() == {"BOOM": 1, "TICK": 4}
    await second.aclose()


def test_file_is_versioned_in_wal_mode_with_a_room_time_index(
    store: SQLiteStore, db_path: Path
) -> None:
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = [r[2] for r in db.execute("PRAGMA index_info(memories_room_time)")]
    assert columns == ["room_id", "created_us"]
    db.close()


# -- schema versions and broken files ----------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE memories (id TEXT PRIMARY KEY, tbl TEXT NOT NULL, room_id TEXT NOT NULL,
    user_id TEXT NOT NULL, agent_id TEXT NOT NULL, created_at REAL NOT NULL, text TEXT NOT NULL,
    action TEXT, content TEXT NOT NULL, embedding TEXT);
CREATE INDEX memories_room_time ON memories (tbl, room_id, created_at);
PRAGMA user_version = 1;
"""


async def test_a_version_1_file_is_upgraded_in_place(db_path: Path) -> None:
    db = sqlite3.connect(db_path)
    db.executescript(V1_SCHEMA)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    db.executemany(
        "INSERT INTO memories VALUES (?, 'messages', 'lobby', 'user', 'agent', ?, ?, NULL, ?, ?)",
        [
            (ids[0], T0.timestamp(), "old hello", '{"text":"old hello"}', "[0.5, 1.5]"),
            (ids[1], T0.timestamp() + 60, "old bye", '{"text":"old bye"}', None),
        ],
    )
    db.commit()
    db.close()
    store = SQLiteStore(db_path)
    first, second = await store.get_memories("lobby", table="messages")
    assert (str(first.id), first.text, first.created_at, first.embedding) == (
        ids[0],
        "old hello",
        T0,
        [0.5, 1.5],
    )
    assert second.embedding is None
    assert [m.text for m in await store.search_memories("lobby", table="messages", text="bye")] == [
        "old bye"
    ]
    store.close()
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_from_a_newer_version_is_refused_untouched(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = digest(db_path)
    with pytest.raises(StoreError, match="newer eliza_nb") as info:
        AgentRuntime(database=db_path, use_env=False)
    assert info.value.details["version"] == SCHEMA_VERSION + 1
    assert digest(db_path) == before


def test_a_text_file_is_not_a_database(db_path: Path) -> None:
    db_path.write_text("name,value\nsecret,1\n" * 100)
    with pytest.raises(StoreError, match="not a database") as info:
        AgentRuntime(database=db_path, use_env=False)
    assert info.value.code == "STORE_ERROR" and info.value.details["path"] == str(db_path)


def test_a_corrupted_file_gives_a_store_error(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    data = bytearray(db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 past the header: the schema is gone
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="malformed"):
        SQLiteStore(db_path)


def test_another_applications_database_is_refused(db_path: Path) -> None:
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="another application"):
        SQLiteStore(db_path)


def test_a_directory_or_missing_folder_gives_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path)
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing" / "agent.db")


async def test_a_closed_store_raises_store_error(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.count_memories(None, table="messages")


# -- concurrency ---------------------------------------------------------------------------------
WRITER = """
import sys
from eliza_nb import AgentRuntime, Plugin, action

@action(name="TICK", description="succeeds")
def tick(runtime, message, state, options, callback):
    return "ok"

path, room, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rt = AgentRuntime(database=path, use_env=False)
rt.run_sync(rt.register_plugin(Plugin(name="writer", actions=[tick])))
print("ready", rt.session_id, flush=True)
sys.stdin.readline()
for i in range(n):
    rt.run("TICK", f"run {i}", room_id=room)
    rt.run_sync(rt.messages.create_memory(f"memory {i}", room_id=room))
rt.close()
print("done", flush=True)
"""


def test_two_runtimes_writing_one_file_lose_nothing(db_path: Path) -> None:
    SQLiteStore(db_path).close()  # created once, so both children open an existing file
    n = 1500
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), room, str(n)], text=True, **pipes
        )  # type: ignore[call-overload]
        for room in ("left", "right")
    ]
    sessions = [int(child.stdout.readline().split()[1]) for child in children]  # type: ignore[union-attr]
    for child in children:  # both are ready: start them together
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "done"
    rt = AgentRuntime(database=db_path, use_env=False)
    runs = rt.metrics_frame()
    assert runs.groupby("session_id").size().to_dict() == dict.fromkeys(sessions, n)
    for session in sessions:
        assert rt.metrics_frame(session_id=session)["run_id"].tolist() == list(range(1, n + 1))
    memories = rt.memories_frame()
    assert memories.groupby("room_id").size().to_dict() == {"left": n, "right": n}
    rt.close()


def test_text_that_cannot_be_encoded_is_stored_made_safe(store: SQLiteStore) -> None:
    bad = b"\xff".decode("utf-8", "surrogateescape")  # a lone surrogate: UTF-8 refuses it
    session = store.open_session(f"agent-{bad}")
    run = (1, "p", f"A{bad}", 1.0, 2.0, False, f"E{bad}", bad)
    error = (1.0, 1, "p", f"A{bad}", "X", "OSError", f"no file {bad}", bad)
    store.write_records(session, [run], [error])  # would raise UnicodeEncodeError
    columns = store.run_columns(RecordQuery(action="A\ufffd"))
    assert [columns[k].tolist() for k in ("run_id", "error_code", "room_id")] == [
        [1],
        ["E\ufffd"],
        ["\ufffd"],
    ]
    assert store.error_rows()[0][3:] == ("A\ufffd", "X", "OSError", "no file \ufffd", "\ufffd", 1)
