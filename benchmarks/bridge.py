"""The Node bridge: round trip of a no-op TS action, run_batch throughput, cold register.

Run: .venv/bin/python benchmarks/bridge.py  (needs Node 18+; the TS plugin of tests/ts_plugin)
Bars (issue 17): round trip <= 1 ms median, >= 2,000 rows/s at concurrency 32, cold register
<= 3 s with the package in the npm cache.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pandas as pd

from eliza_nb import AgentRuntime

PLUGIN = str(Path(__file__).resolve().parent.parent / "tests" / "ts_plugin")
BOOTSTRAP = "@elizaos/plugin-bootstrap@1.7.2"


async def main() -> None:
    t0 = time.perf_counter()
    rt = AgentRuntime(use_env=False)
    await rt.register_npm_plugin(BOOTSTRAP)  # installs into the cache the first time
    first = time.perf_counter() - t0
    await rt.aclose()
    t0 = time.perf_counter()
    rt = AgentRuntime(use_env=False)
    await rt.register_npm_plugin(BOOTSTRAP)
    cold = time.perf_counter() - t0
    await rt.register_npm_plugin(PLUGIN)
    for _ in range(200):  # warm up
        await rt.execute_action("TS_NOOP", "x")
    times = []
    for _ in range(2000):
        t = time.perf_counter()
        await rt.execute_action("TS_NOOP", "x")
        times.append(time.perf_counter() - t)
    inputs = pd.DataFrame({"text": ["x"] * 5000})
    t = time.perf_counter()
    frame = await rt.run_batch("TS_NOOP", inputs, concurrency=32, progress=False)
    rate = len(frame) / (time.perf_counter() - t)
    await rt.aclose()
    print(f"bridge: first register {first:.2f} s, cold register (cached) {cold:.2f} s (bar 3 s)")
    median = statistics.median(times) * 1000
    print(f"bridge: no-op TS action round trip median {median:.3f} ms (bar 1 ms)")
    print(
        f"bridge: run_batch over a no-op TS action, concurrency 32: {rate:,.0f} rows/s (bar 2,000)"
    )


if __name__ == "__main__":
    asyncio.run(main())
