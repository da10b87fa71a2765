"""Dispatch cost: a bare await against execute_action of a registered no-op action.

Run: ``.venv/bin/python benchmarks/dispatch.py``. Prints medians measured in this one process,
their ratio, the cost of tracing a run (traced / untraced execute_action: tracing is on by
default only where it stays within 1.3x; it is not, so scripts turn it on with the TRACING
setting, the kernel with ``%load_ext``), and the cost of metrics_frame() over 1,000,000 records.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc

from eliza_nb import AgentRuntime, Plugin, action

N = 20_000
ROUNDS = 15


async def noop() -> None:
    return None


@action(name="NOOP", description="does nothing")
async def noop_action(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return None


async def median_ns(make, n: int = N) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await make()
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples)


async def dispatch() -> tuple[float, float]:
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="bench", actions=[noop_action]))
    bare = await median_ns(noop)
    run = await median_ns(lambda: rt.execute_action("NOOP", "x"))
    assert len(rt.metrics.runs) == N * ROUNDS, "every execution must be recorded"
    return bare, run


async def tracing_cost() -> tuple[float, float]:
    """Median execute_action of a no-op with tracing off, then on (one runtime each)."""
    medians = []
    for on in (False, True):
        rt = AgentRuntime(settings={"TRACING": on, "MAX_RECORDS": 10_000_000}, use_env=False)
        await rt.register_plugin(Plugin(name="bench", actions=[noop_action]))
        medians.append(await median_ns(lambda rt=rt: rt.execute_action("NOOP", "x")))
        assert (len(rt.metrics.spans) > 0) is on, "a traced run must leave a span"
        await rt.aclose()
    return medians[0], medians[1]


def records_cost(n: int = 1_000_000) -> tuple[float, float, float]:
    gc.collect()
    tracemalloc.start()
    rt = AgentRuntime(use_env=False)
    record = rt.metrics.run  # the one place run rows are built
    t = time.time()
    actions = ("A", "B", "C")
    for i in range(n):
        code = None if i % 50 else "HANDLER_ERROR"
        record(i, "bench", actions[i % 3], t + i * 1e-3, 0.001 * (i % 97), "default", code)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    t0 = time.perf_counter()
    import pandas  # noqa: F401 - a one-time cost of the first frame in a process, timed apart

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = rt.metrics_frame()
    elapsed = time.perf_counter() - t0
    assert len(frame) == n
    return imported, elapsed, held / n


def main() -> None:
    bare, run = asyncio.run(dispatch())
    print(f"await noop()                     median {bare / 1000:8.3f} us")
    print(f"await execute_action('NOOP', 'x') median {run / 1000:7.3f} us   (target <= 2 us)")
    print(f"ratio execute_action / bare await       {run / bare:8.1f} x    (target <= 20x)")
    off, on = asyncio.run(tracing_cost())
    print(f"execute_action traced / untraced        {on / off:8.2f} x    (default on if <= 1.3x)")
    print(f"  ({off / 1000:.2f} us untraced, {on / 1000:.2f} us traced)")
    imported, elapsed, per_record = records_cost()
    print(f"metrics_frame() of 1,000,000 records    {elapsed:8.3f} s    (target <= 0.5 s)")
    print(f"  (the first frame of a process also imports pandas: {imported:.3f} s)")
    print(f"memory held per run record              {per_record:8.0f} B    (target <= 250 B)")


if __name__ == "__main__":
    main()
