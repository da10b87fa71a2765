"""Load: 10,000 concurrent executions of an I/O-bound action, 1% raising, none lost, near ideal.

The figures for several concurrency limits: ``.venv/bin/python benchmarks/load.py``.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from eliza_nb import AgentRuntime, Plugin, action

N = 10_000
FAIL_EVERY = 100  # 1% of the runs raise
DELAY = 0.010  # each run awaits 10 ms of "I/O"
# At most this many runs in flight. The ideal time is ceil(N / CONCURRENCY) waves of one await:
# 2.0 s here. Dispatch costs ~35 us of CPU per run (0.35 s for all), so a machine several times
# slower than a laptop still finishes well inside 2x the ideal.
CONCURRENCY = 50


@action(name="FETCH")
async def fetch(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    await asyncio.sleep(DELAY)
    if options["fail"]:
        raise ConnectionError(f"injected fault {message.content.text}")
    return f"fetched {message.content.text}"


async def test_ten_thousand_concurrent_runs_none_lost() -> None:
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="load", actions=[fetch]))
    gate = asyncio.Semaphore(CONCURRENCY)
    in_flight = peak = 0

    async def one(i: int) -> Any:
        nonlocal in_flight, peak
        async with gate:
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await rt.execute_action(
                    "FETCH", str(i), options={"fail": i % FAIL_EVERY == 0}
                )
            finally:
                in_flight -= 1

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(N)))
    wall = time.perf_counter() - t0

    faults = {str(i) for i in range(0, N, FAIL_EVERY)}
    assert len(faults) == N // 100
    assert peak == CONCURRENCY
    # Every run answered, and each with its own answer.
    assert len(results) == N
    for i, r in enumerate(results):
        if str(i) in faults:
            assert not r.success and r.error_code == "HANDLER_ERROR", i
        else:
            assert r.success and r.text == f"fetched {i}", i
    # Every run is in the metrics, once.
    runs = rt.metrics_frame()
    assert len(runs) == N
    assert set(runs["run_id"]) == {r.run_id for r in results}
    assert runs["success"].sum() == N - len(faults)
    # Every failure is in the error log, with its own message.
    errors = rt.errors_frame()
    failed = {r.run_id: i for i, r in enumerate(results) if not r.success}
    assert len(errors) == len(faults)
    assert set(errors["run_id"]) == set(failed)
    assert {m.removeprefix("injected fault ") for m in errors["message"]} == faults
    summary = rt.metrics_summary().set_index("action").loc["FETCH"]
    assert (summary["runs"], summary["failures"]) == (N, len(faults))

    ideal = math.ceil(N / CONCURRENCY) * DELAY
    assert wall >= 0.99 * ideal  # sanity: the awaits really happened
    assert wall <= 2 * ideal, f"{wall:.2f} s for {N} runs, ideal {ideal:.2f} s"
    await rt.aclose()
