"""A displayed dashboard during a batch: run_batch with and without a live ``Dashboard``.

Run: ``.venv/bin/python benchmarks/dashboard.py``. Prints, measured in this one process:

1. 20,000 and 60,000 runs of an action awaiting 1 ms at concurrency 16, and 200,000 no-op runs at
   concurrency 100: the batch's wall time without a dashboard and with one following the
   runtime (redrawing on the running loop as it would in a kernel), their ratio (target
   <= 1.2x) and how many redraws the batch cost.
2. What one run costs the dashboard on the hot path (its listener marking it out of date).
3. ``%eliza run`` of a 10 ms action as a kernel runs it (a nested run on a loop patched by
   nest-asyncio, the loop idle between cells): its median latency without a dashboard, with
   one, and with ten dashboards made by re-running a ``%eliza dashboard`` cell ten times.

Each figure is a median over ``ROUNDS`` rounds, each running the batch without and with a
dashboard in alternating order; the ratio is the median of the rounds' ratios. A no-op
handler never suspends, so the loop turns (and the dashboard redraws) only as the batch
ends; the 1 ms handler lets it redraw during the batch. Outside a kernel the widget has no
front end to send to; everything else (reading the records, the summary, the PNG plot) is
done as in a notebook.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

from eliza_nb import AgentRuntime, Plugin, action
from eliza_nb.kernel.widgets import Dashboard, kernel_dashboard

ROUNDS = 3
WORKLOADS = (("WAIT_1MS", 20_000, 16), ("WAIT_1MS", 60_000, 16), ("NOOP", 200_000, 100))


@action(name="WAIT_1MS")
async def wait_1ms(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.sleep(0.001)


@action(name="WAIT_10MS")
async def wait_10ms(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.sleep(0.010)


@action(name="NOOP")
async def noop(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    return None


async def _runtime() -> AgentRuntime:
    rt = AgentRuntime(use_env=False)
    await rt.register_plugin(Plugin(name="bench", actions=[wait_1ms, wait_10ms, noop]))
    return rt


async def batch_seconds(
    name: str, n: int, concurrency: int, with_dashboard: bool
) -> tuple[float, int]:
    """Wall time of one batch on a fresh runtime, and how many redraws it cost."""
    rt = await _runtime()
    dashboard = Dashboard(rt) if with_dashboard else None
    redraws: list[Dashboard] = []
    if dashboard is not None:
        dashboard.on_refresh(redraws.append)
    inputs = ["x"] * n
    gc.collect()
    t0 = time.perf_counter()
    out = await rt.run_batch(name, inputs, concurrency=concurrency, progress=False)
    elapsed = time.perf_counter() - t0
    assert len(out) == n and out["success"].all()
    if dashboard is not None:
        dashboard.close()
    await rt.aclose()
    return elapsed, len(redraws)


async def compare(name: str, n: int, concurrency: int) -> tuple[float, float, float, int]:
    """Medians of the batch without and with a dashboard, of their per-round ratio, and of the
    redraws; the order alternates from round to round (ABBA), so drift favours neither."""
    without, with_, ratios, redraws = [], [], [], []
    for i in range(ROUNDS):
        order = (False, True) if i % 2 == 0 else (True, False)
        got = {shown: await batch_seconds(name, n, concurrency, shown) for shown in order}
        without.append(got[False][0])
        with_.append(got[True][0])
        ratios.append(got[True][0] / got[False][0])
        redraws.append(got[True][1])
    median = statistics.median
    return median(without), median(with_), median(ratios), int(median(redraws))


async def mark_cost(n: int = 200_000) -> float:
    """ns per run of the dashboard's listener while a redraw is due (the common case)."""
    rt = await _runtime()
    dashboard = Dashboard(rt)
    (listener,) = rt.run_listeners
    listener(None)  # schedules the redraw: the marks below find it due
    t0 = time.perf_counter_ns()
    for _ in range(n):
        listener(None)
    per = (time.perf_counter_ns() - t0) / n
    dashboard.close()
    await rt.aclose()
    return per


async def warm_up() -> None:
    """Import pandas and matplotlib and draw once, so no batch pays for that."""
    rt = await _runtime()
    await rt.execute_action("NOOP")
    Dashboard(rt).close()
    await rt.aclose()


async def main() -> None:
    await warm_up()
    for name, n, concurrency in WORKLOADS:
        without, with_, ratio, redraws = await compare(name, n, concurrency)
        print(
            f"run_batch {n:>7,} x {name:<8} c={concurrency:<3} without {without:6.3f} s  "
            f"with a dashboard {with_:6.3f} s  ratio {ratio:5.3f}x (target <= 1.2x)  "
            f"{redraws} redraws"
        )
    print(f"dashboard listener per run (a redraw already due)  {await mark_cost():6.0f} ns")


async def cell_latency(dashboards: int, cells: int = 10) -> float:
    """Median seconds of ``rt.run("WAIT_10MS")`` as ``%eliza run`` runs it in a kernel."""
    import nest_asyncio2

    nest_asyncio2.apply(asyncio.get_running_loop())  # what %load_ext eliza_nb does
    rt = await _runtime()
    for _ in range(dashboards):  # each re-run of the cell closes the dashboard it made before
        kernel_dashboard(rt)
    samples = []
    for _ in range(cells):
        await asyncio.sleep(0.6)  # the kernel idles between cells: due redraws happen here
        t0 = time.perf_counter()
        assert rt.run("WAIT_10MS").success  # a nested run, as in a magic
        samples.append(time.perf_counter() - t0)
    kernel_dashboard(rt).close()
    await rt.aclose()
    return statistics.median(samples)


def cells() -> None:
    figures = [asyncio.run(cell_latency(n)) for n in (0, 1, 10)]
    print(
        "%eliza run WAIT_10MS (nested run, idle between cells): "
        + "  ".join(
            f"{label} {ms * 1e3:6.1f} ms"
            for label, ms in zip(("no dashboard", "one", "ten re-run cells"), figures, strict=True)
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
    cells()
