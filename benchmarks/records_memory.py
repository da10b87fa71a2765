"""Memory of a long-running kernel: 1,000,000 runs with a file store, and in memory with a cap.

Run: ``.venv/bin/python benchmarks/records_memory.py [--runs N]`` (default 1,000,000; try
10,000,000 for the ten-million case). Each configuration runs in a fresh child process, so its
peak resident memory is its own. For each it prints the records held at the end, the growth of
resident memory (RSS) after the first 10,000 runs, sampled at each quarter, that growth per
run, and the peak RSS of the process:

* ``file``: ``AgentRuntime(database="agent.db")`` with the default ``RECORDS_IN_MEMORY``
  (100,000): the file holds every run, memory a window of them.
* ``memory, cap``: ``":memory:"`` with ``MAX_RECORDS=100000``: the oldest runs are dropped.
* ``memory, no cap reached``: ``":memory:"`` with the default cap (1,000,000; 1,100,000 are
  held before a cut): what an unbounded list would cost, for comparison.

The runs are of a no-op action. The bound the figures check is in the README ("Durable
memory"): about 200 B per held run and ~0.35 KB plus its traceback per held error, plus a
constant (with a file, SQLite's caches and prepared statements too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

from eliza_nb import AgentRuntime, Plugin, action

CONFIGS: dict[str, tuple[str, dict[str, int]]] = {
    "file": ("file", {}),
    "memory, cap": (":memory:", {"MAX_RECORDS": 100_000}),
    "memory, no cap reached": (":memory:", {}),
}
WARM = 10_000


@action(name="NOOP")
async def noop(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    return None


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def child(name: str, runs: int) -> dict[str, Any]:
    """One configuration, in this (child) process: the figures as a dict."""
    logging.getLogger("eliza_nb").setLevel(logging.ERROR)  # not the one MAX_RECORDS warning
    database, settings = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "agent.db") if database == "file" else database
        rt = AgentRuntime(database=path, settings=settings, use_env=False)
        await rt.register_plugin(Plugin(name="bench", actions=[noop]))
        run = rt.execute_action
        for _ in range(WARM):
            await run("NOOP")
        base, samples, t0 = rss_bytes(), [], time.perf_counter()
        for i in range(WARM, runs):
            await run("NOOP")
            if (i + 1) % (runs // 4) == 0:
                samples.append(rss_bytes() - base)
        elapsed = time.perf_counter() - t0
        held, counted = len(rt.metrics.runs), rt.metrics.run_count
        rt.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"held": held, "counted": counted, "growth": samples, "peak": peak, "s": elapsed}


def main(runs: int) -> None:
    print(f"{runs:,} no-op runs per configuration, each in its own process")
    for name in CONFIGS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--runs", str(runs)],
            check=True,
            capture_output=True,
            text=True,
        )
        got = json.loads(out.stdout)
        growth = "  ".join(f"{g / 2**20:6.1f}" for g in got["growth"])
        per_run = got["growth"][-1] / (runs - WARM)
        print(
            f"{name:<24} held {got['held']:>9,} runs of {got['counted']:,}  "
            f"RSS growth by quarter MiB {growth}  "
            f"{per_run:6.1f} B/run  peak RSS {got['peak'] / 2**20:6.0f} MiB  "
            f"({got['s'] / runs * 1e6:.1f} us/run)"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(float(args[args.index("--runs") + 1])) if "--runs" in args else 1_000_000
    if "--child" in args:
        print(json.dumps(asyncio.run(child(args[args.index("--child") + 1], n))))
    else:
        main(n)
