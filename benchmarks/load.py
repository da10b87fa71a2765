"""Load: 10,000 concurrent executions of an I/O-bound action (awaits 10 ms), 1% of them raising.

Run: ``.venv/bin/python benchmarks/load.py`` (``--help`` for the knobs). For each concurrency
limit it prints how many runs were held, how many faults were injected, how many runs and
errors were recorded, how many were lost, and the wall time against the ideal: ``ceil(n /
concurrency)`` waves of one 10 ms await each. The wall time is measured around the gather only.
Exits 1 if a single run or error is lost. ``tests/test_load.py`` asserts the same at one
concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from typing import Any

from eliza_nb import AgentRuntime, Plugin, action

DELAY = 0.010


@action(name="FETCH", description="an I/O-bound call: awaits, then answers or fails")
async def fetch(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    await asyncio.sleep(options["delay"])
    if options["fail"]:
        raise ConnectionError(f"injected fault {message.content.text}")
    return f"fetched {message.content.text}"


async def run_load(
    n: int, concurrency: int, fail_every: int, delay: float = DELAY
) -> dict[str, Any]:
    """Run ``n`` executions, at most ``concurrency`` at a time; return the figures."""
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="load", actions=[fetch]))
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with gate:
            opts = {"delay": delay, "fail": i % fail_every == 0}
            return await rt.execute_action("FETCH", str(i), options=opts)

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    faults = sum(1 for i in range(n) if i % fail_every == 0)
    failed_ids = {r.run_id for r in results if not r.success}
    ok = sum(1 for i, r in enumerate(results) if r.success and r.text == f"fetched {i}")
    run_ids = {row[0] for row in rt.metrics.runs}
    error_ids = {row[1] for row in rt.metrics.errors}
    await rt.aclose()
    ideal = math.ceil(n / concurrency) * delay
    lost = (n - len(run_ids & {r.run_id for r in results})) + len(failed_ids - error_ids)
    return {
        "concurrency": concurrency,
        "held": len(results),
        "succeeded": ok,
        "faults": faults,
        "failed": len(failed_ids),
        "metric_rows": len(rt.metrics.runs),
        "error_rows": len(rt.metrics.errors),
        "lost": lost,
        "ideal_s": ideal,
        "wall_s": wall,
        "ratio": wall / ideal,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures for each concurrency; exit 1 if anything was lost."""
    parser = argparse.ArgumentParser(prog="benchmarks/load.py", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 100, 200, 500, 10_000])
    parser.add_argument("--fail-every", type=int, default=100, help="1 in N runs raises (1%%)")
    args = parser.parse_args(argv)
    logging.getLogger("eliza_nb").setLevel(logging.ERROR)  # 100 failure warnings per round
    head = (
        "concurrency",
        "held",
        "ok",
        "faults",
        "failed",
        "metrics",
        "errors",
        "lost",
        "ideal s",
        "wall s",
        "x ideal",
    )
    print(" ".join(f"{h:>11}" for h in head))
    lost = 0
    for c in args.concurrency:
        f = asyncio.run(run_load(args.n, c, args.fail_every))
        lost += f["lost"]
        cells = [
            f["concurrency"],
            f["held"],
            f["succeeded"],
            f["faults"],
            f["failed"],
            f["metric_rows"],
            f["error_rows"],
            f["lost"],
        ]
        print(
            " ".join(f"{v:>11}" for v in cells),
            f"{f['ideal_s']:>11.3f} {f['wall_s']:>11.3f} {f['ratio']:>11.2f}",
        )
    print(f"\n{args.n} runs per round, 1 in {args.fail_every} raising; lost in total: {lost}")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
