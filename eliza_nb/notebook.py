"""Run a notebook headless and report what it did (the engine of ``make demo``).

Example (shell)::

    python -m eliza_nb.notebook notebooks/01-quickstart.ipynb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["execute_notebook", "main", "summarize"]


def execute_notebook(path: str | Path, *, timeout: int = 300, save: bool = False) -> Any:
    """Execute every cell of a notebook in a fresh kernel; return the executed notebook.

    Cells tagged ``raises-exception`` may raise; any other error stops the run with
    ``nbclient``'s ``CellExecutionError``.
    """
    import nbformat
    from nbclient import NotebookClient

    nb_path = Path(path)
    nb = nbformat.read(nb_path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    client.execute()
    if save:
        nbformat.write(nb, nb_path)  # type: ignore[no-untyped-call]
    return nb


def _output_text(output: Any) -> str:
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    data = output.get("data", {})
    return str(data.get("text/plain", ""))


def summarize(nb: Any, width: int = 100) -> list[str]:
    """One block per code cell: its first line, then the first lines of its text output."""
    lines: list[str] = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        lines.append(f"[{i + 1}] {first[:width]}")
        for output in cell.get("outputs", []):
            for text in _output_text(output).strip().splitlines()[:6]:
                lines.append(f"      {text[:width]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: execute a notebook, print a summary, exit 1 if a cell failed."""
    parser = argparse.ArgumentParser(prog="python -m eliza_nb.notebook", description=__doc__)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--save", action="store_true", help="write the outputs back")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        nb = execute_notebook(args.notebook, save=args.save)
    except Exception as exc:
        print(f"{args.notebook}: failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summarize(nb)))
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"\nExecuted {cells} code cells of {args.notebook} in {time.perf_counter() - t0:.1f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
