"""Magic overhead: ``shell.run_cell("pass")`` against ``shell.run_cell("%eliza run NOOP")``.

Run: ``.venv/bin/python benchmarks/magics.py``. Prints the median time per cell of each, measured
in this one process on one IPython shell with the extension loaded, and their ratio (the median
of per-round ratios; target: at most 3x). A cell is IPython's whole path (transform, compile,
execute); cells run with ``silent=True`` so that printing to the terminal is not measured.
"""

from __future__ import annotations

import statistics
import time

from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from eliza_nb import Plugin, action, get_runtime

N = 2_000
ROUNDS = 9


@action(name="NOOP", description="does nothing")
async def noop(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return None


def per_cell_us(shell: InteractiveShell, cell: str) -> float:
    t0 = time.perf_counter()
    for _ in range(N):
        shell.run_cell(cell, silent=True)
    return (time.perf_counter() - t0) / N * 1e6


def measure(shell: InteractiveShell) -> tuple[float, float, float]:
    """Median us per cell of each, and the median of per-round ratios.

    The two are timed alternately, round by round, so that a busy machine slows both alike.
    """
    bare, magic = [], []
    for _ in range(ROUNDS):
        bare.append(per_cell_us(shell, "pass"))
        magic.append(per_cell_us(shell, "%eliza run NOOP"))
    ratios = [m / b for b, m in zip(bare, magic, strict=True)]
    return statistics.median(bare), statistics.median(magic), statistics.median(ratios)


def main() -> None:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.ElizaMagics.use_env = False
    shell = InteractiveShell.instance(config=config)
    shell.run_cell("%load_ext eliza_nb")
    runtime = get_runtime()
    runtime.run_sync(runtime.register_plugin(Plugin(name="bench", actions=[noop])))
    shell.run_cell("%eliza run NOOP", silent=True).raise_error()  # warm up; fail loudly if broken
    bare, magic, ratio = measure(shell)
    assert len(runtime.metrics.runs) == 1 + N * ROUNDS, "every magic run must be recorded"
    print(f'run_cell("pass")             {bare:8.1f} us')
    print(f'run_cell("%eliza run NOOP")  {magic:8.1f} us')
    print(f"ratio                        {ratio:8.2f}x (target <= 3x)")
    shell.run_line_magic("unload_ext", "eliza_nb")


if __name__ == "__main__":
    main()
