"""Batch throughput: I/O-bound, no-op at a million rows, and CPU-bound on Dask against local.

Run: ``.venv/bin/python benchmarks/batch.py [io] [noop] [dask] [--quick]`` (all three sections
by default; ``--quick`` runs the no-op section on 100,000 rows). Prints:

1. 10,000 inputs through an action awaiting 10 ms at concurrency 100 (ideal 1.0 s; target
   <= 1.3 s).
2. 1,000,000 inputs through a no-op action: rows/s (target >= 100k), without and with the
   progress bar, the process's peak RSS after the first run, and the peak memory the batch
   allocates, traced by tracemalloc in a run of its own (target <= 1 GiB).
3. A CPU-bound action over a LocalCluster of 2 worker processes against this one process
   (speedup printed; at most ~2x on 2 cores, less the cluster's overhead).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import sys
import time
import tracemalloc
from typing import Any

from eliza_nb import AgentRuntime, Plugin, action

IO_INPUTS, IO_CONCURRENCY, IO_DELAY = 10_000, 100, 0.010
NOOP_INPUTS = 1_000_000
CPU_INPUTS, CPU_LOOPS = 400, 200_000


@action(name="WAIT_10MS")
async def wait_10ms(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.sleep(IO_DELAY)


@action(name="NOOP")
async def noop(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    return None


@action(name="CPU")
def cpu(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> int:
    total = 0
    for i in range(CPU_LOOPS):  # a few ms of pure Python: holds the GIL throughout
        total += i * i % 7
    return total


PLUGIN = Plugin(name="bench", actions=[wait_10ms, noop, cpu])


async def _runtime() -> AgentRuntime:
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(PLUGIN)
    return rt


async def io_bound() -> tuple[float, float]:
    rt = await _runtime()
    c0, t0 = time.process_time(), time.perf_counter()
    out = await rt.run_batch(
        "WAIT_10MS", ["x"] * IO_INPUTS, concurrency=IO_CONCURRENCY, progress=False
    )
    elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    assert out["success"].all() and len(out) == IO_INPUTS
    return elapsed, cpu_s


async def noop_rate(n: int, progress: bool) -> tuple[float, float]:
    """Rows per second of wall time, and per second of this process's CPU time."""
    rt = await _runtime()
    inputs = ["x"] * n
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = await rt.run_batch("NOOP", inputs, concurrency=100, progress=progress)
    elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    assert len(out) == n and len(rt.metrics.runs) == n
    return n / elapsed, n / cpu_s


async def noop_memory(n: int) -> int:
    rt = await _runtime()
    inputs = ["x"] * n
    gc.collect()
    tracemalloc.start()
    out = await rt.run_batch("NOOP", inputs, concurrency=100, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(out) == n
    return peak


async def cpu_bound() -> tuple[float, float, float, float]:
    """Wall seconds locally and on Dask, and the mean ms per row in each (CPU contention shows
    as slower rows on the workers)."""
    from distributed import Client, LocalCluster

    rt = await _runtime()
    inputs = [str(i) for i in range(CPU_INPUTS)]
    t0 = time.perf_counter()
    local = await rt.run_batch("CPU", inputs, concurrency=1, progress=False)
    local_s = time.perf_counter() - t0
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        await rt.run_batch("CPU", inputs[:8], backend="dask", client=client, progress=False)
        t0 = time.perf_counter()
        remote = await rt.run_batch("CPU", inputs, backend="dask", client=client, progress=False)
        dask_s = time.perf_counter() - t0
    assert local["text"].equals(remote["text"]) and remote["success"].all()
    return local_s, dask_s, local["duration_ms"].mean(), remote["duration_ms"].mean()


def main() -> None:
    args = sys.argv[1:]
    n = NOOP_INPUTS // 10 if "--quick" in args else NOOP_INPUTS
    only = {a for a in args if not a.startswith("--")} or {"io", "noop", "dask"}
    print(
        f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
        "(wall-clock figures suffer when other processes compete for them)"
    )
    asyncio.run(noop_rate(100, progress=False))  # warm up: pandas and tqdm are imported once
    if "io" in only:
        elapsed, cpu_s = asyncio.run(io_bound())
        print(
            f"{IO_INPUTS:,} x 10 ms at concurrency {IO_CONCURRENCY}    {elapsed:10.3f} s     "
            f"(ideal 1.0 s, target <= 1.3 s); CPU time {cpu_s:.3f} s"
        )
    if "noop" in only:
        noop_section(n)
    if "dask" in only:
        local_s, dask_s, local_ms, dask_ms = asyncio.run(cpu_bound())
        print(
            f"{CPU_INPUTS} CPU-bound rows: 1 process {local_s:.2f} s, 2 Dask workers "
            f"{dask_s:.2f} s: speedup {local_s / dask_s:.2f}x (mean row {local_ms:.1f} ms "
            f"locally, {dask_ms:.1f} ms on the workers)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def noop_section(n: int) -> None:
    rate, per_cpu = asyncio.run(noop_rate(n, progress=False))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"{n:,} no-op rows, no progress bar   {rate:10,.0f} rows/s (target >= 100,000); "
        f"{per_cpu:,.0f} rows per CPU-s; process peak RSS {rss:.0f} MiB"
    )
    rate, per_cpu = asyncio.run(noop_rate(n, progress=True))
    print(
        f"{n:,} no-op rows, tqdm progress bar {rate:10,.0f} rows/s; {per_cpu:,.0f} rows per CPU-s"
    )
    peak = asyncio.run(noop_memory(n))
    print(f"{n:,} no-op rows, traced peak       {peak / 2**20:10,.0f} MiB   (target <= 1024 MiB)")


if __name__ == "__main__":
    main()
