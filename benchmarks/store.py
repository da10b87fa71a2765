"""Store costs: memory writes and reads, run history frames, and the flusher's cost on dispatch.

Run: ``.venv/bin/python benchmarks/store.py``. Every figure is measured in this one process on a
fresh SQLite file (WAL) in a temporary directory; medians where a figure repeats.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from eliza_nb import AgentRuntime, Content, Memory, Plugin, action
from eliza_nb.store import SQLiteStore

ROOMS = 100
N_MEMORIES = 100_000
N_RUNS = 1_000_000
DISPATCH_N = 20_000
DISPATCH_ROUNDS = 15


@action(name="NOOP", description="does nothing")
async def noop_action(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return None


def memories(n: int) -> list[Memory]:
    return [
        Memory(
            room_id=f"room-{i % ROOMS}",
            user_id="user",
            content=Content(text=f"message number {i} about the weather"),
        )
        for i in range(n)
    ]


async def single_insert_us(path: Path, n: int = 3_000) -> float:
    rt = AgentRuntime(database=path, use_env=False)
    batch = memories(n)
    samples = []
    for memory in batch:
        t0 = time.perf_counter_ns()
        await rt.messages.create_memory(memory)  # autocommit: one committed transaction each
        samples.append(time.perf_counter_ns() - t0)
    await rt.aclose()
    return statistics.median(samples[n // 10 :]) / 1000


async def bulk_and_read(path: Path) -> tuple[float, float]:
    rt = AgentRuntime(database=path, use_env=False)
    batch = memories(N_MEMORIES)
    t0 = time.perf_counter()
    await rt.messages.create_memories(batch)
    rate = N_MEMORIES / (time.perf_counter() - t0)
    for _ in range(20):
        await rt.messages.get_memories("room-7", 50)
    samples = []
    for i in range(300):
        t0 = time.perf_counter_ns()
        got = await rt.messages.get_memories(f"room-{i % ROOMS}", 50)
        samples.append(time.perf_counter_ns() - t0)
        assert len(got) == 50
    await rt.aclose()
    return rate, statistics.median(samples) / 1e6


def frame_of_stored_runs(path: Path) -> tuple[float, float]:
    store = SQLiteStore(path)
    session = store.open_session("bench")
    t, actions = time.time(), ("A", "B", "C")
    runs = [
        (
            i,
            "bench",
            actions[i % 3],
            t + i * 1e-3,
            0.001 * (i % 97),
            i % 50 != 0,
            None if i % 50 else "HANDLER_ERROR",
            f"room-{i % 10}",
        )
        for i in range(N_RUNS)
    ]
    t0 = time.perf_counter()
    for k in range(0, N_RUNS, 100_000):
        store.write_records(session, runs[k : k + 100_000], [])
    write_rate = N_RUNS / (time.perf_counter() - t0)
    store.close()
    del runs
    import pandas  # noqa: F401  - the frame's cost, not pandas' import time

    rt = AgentRuntime(database=path, use_env=False)
    t0 = time.perf_counter()
    frame = rt.metrics_frame()
    elapsed = time.perf_counter() - t0
    assert len(frame) == N_RUNS
    rt.close()
    return elapsed, write_rate


async def dispatch_us(database: str | Path) -> tuple[float, AgentRuntime]:
    rt = AgentRuntime(database=database, use_env=False)
    await rt.register_plugin(Plugin(name="bench", actions=[noop_action]))
    samples = []
    for _ in range(DISPATCH_ROUNDS):
        t0 = time.perf_counter_ns()
        for _ in range(DISPATCH_N):
            await rt.execute_action("NOOP")
        samples.append((time.perf_counter_ns() - t0) / DISPATCH_N)
    return statistics.median(samples) / 1000, rt


async def dispatch_ratio(path: Path) -> tuple[float, float, int]:
    mem_us, rt_mem = await dispatch_us(":memory:")
    await rt_mem.aclose()
    file_us, rt_file = await dispatch_us(path)
    await rt_file.aclose()
    reopened = AgentRuntime(database=path, use_env=False)
    stored = len(reopened.metrics_frame())
    reopened.close()
    return mem_us, file_us, stored


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        single = asyncio.run(single_insert_us(d / "single.db"))
        print(f"single committed memory insert      median {single:8.1f} us   (target <= 100 us)")
        rate, last50 = asyncio.run(bulk_and_read(d / "bulk.db"))
        print(f"bulk insert of {N_MEMORIES:,} memories      {rate:10,.0f} rows/s (target >= 100k)")
        print(f"last 50 of a room, 1e5 rows, validated {last50:7.3f} ms   (target <= 0.5 ms)")
        elapsed, write_rate = frame_of_stored_runs(d / "runs.db")
        print(f"run records written (1e6, batches)  {write_rate:10,.0f} rows/s")
        print(f"metrics_frame() over 1e6 stored runs   {elapsed:7.3f} s    (target <= 1.5 s)")
        size = (d / "runs.db").stat().st_size / 1e6
        print(f"  file size with 1e6 runs               {size:7.1f} MB")
        mem_us, file_us, stored = asyncio.run(dispatch_ratio(d / "dispatch.db"))
        print(f"execute_action, in-memory records  median {mem_us:8.3f} us")
        print(f"execute_action, SQLite file store  median {file_us:8.3f} us")
        print(
            f"ratio file / in-memory                    {file_us / mem_us:8.2f} x    "
            "(target <= 1.5)"
        )
        expected = DISPATCH_N * DISPATCH_ROUNDS
        assert stored == expected, f"{stored} of {expected} runs reached the file"
        print(f"  runs in the file after close()        {stored:,} of {expected:,}")


if __name__ == "__main__":
    main()
