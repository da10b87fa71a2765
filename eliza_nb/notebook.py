"""Run a notebook headless and report what it did (the engine of ``make demo``).

Example (shell)::

    python -m eliza_nb.notebook notebooks/01-quickstart.ipynb

The report has one block per code cell: the command it ran (its magic lines, or its first line
of code, never a comment), then a readable rendering of each output: text wrapped at word
boundaries, a DataFrame as an aligned table that fits the width. A failure is reported as one
line naming the cell and the error, without the terminal colour codes of a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = ["execute_notebook", "main", "summarize"]

_INDENT = "      "
_LINES_PER_OUTPUT = 8
_CELL_WIDTH = 40  # a frame's cell longer than this is cut (the table must fit the line)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def execute_notebook(path: str | Path, *, timeout: int = 300, save: bool = False) -> Any:
    """Execute every cell of a notebook in a fresh kernel; return the executed notebook.

    Cells tagged ``raises-exception`` may raise; any other error stops the run with
    ``nbclient``'s ``CellExecutionError``.
    """
    import nbformat

    nb_path = Path(path)
    nb = nbformat.read(nb_path, as_version=4)  # type: ignore[no-untyped-call]
    _execute(nb, nb_path.parent, timeout)
    if save:
        nbformat.write(nb, nb_path)  # type: ignore[no-untyped-call]
    return nb


def _execute(nb: Any, directory: Path, timeout: int) -> None:
    """Run ``nb`` in place (on a failure it keeps the outputs of the cells that ran)."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(directory)}},
    )
    client.execute()


# -- the summary ------------------------------------------------------------------------
def summarize(nb: Any, width: int = 100) -> list[str]:
    """One block per code cell: the command it ran, then its outputs made readable.

    Lines fit in ``width`` characters: text is wrapped between words, a frame drops the
    columns that do not fit (and says how many), and an output longer than a few lines ends
    with a line saying how many more it had.
    """
    lines: list[str] = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        label = f"[{i + 1}] "
        commands, more = _commands(cell.source)
        note = f"  (+{more} line{'s' if more > 1 else ''})" if more else ""
        for n, command in enumerate(commands):
            start = label if n == 0 else " " * len(label)
            lines.append(_cut(start + command, width - len(note)) + note)
        for output in cell.get("outputs", []):
            lines.extend(_INDENT + text for text in _shown(output, width - len(_INDENT)))
    return lines


def _commands(source: str) -> tuple[list[str], int]:
    """What a cell runs, as its label, and how many lines of code follow it: every line of a
    cell of magics; otherwise its first line of code (not a comment, an import or a ``try:``).
    """
    code = [line.strip() for line in source.splitlines() if _is_code(line)]
    if not code:
        return [""], 0
    if all(line.startswith("%") for line in code):
        return code, 0
    first = next((n for n, line in enumerate(code) if not _is_preamble(line)), 0)
    return [code[first]], len(code) - first - 1


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _is_preamble(line: str) -> bool:
    """An import or a ``try:``: what a cell starts with before the statement it is about."""
    return line.startswith(("import ", "from ")) or line.strip() == "try:"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _shown(output: Any, width: int) -> list[str]:
    """The lines an output shows: a frame as a table, anything else as wrapped text."""
    html = output.get("data", {}).get("text/html", "")
    rows = _frame_rows(html) if 'class="dataframe"' in html else None
    lines = _table(rows, width) if rows else _wrapped(_output_text(output), width)
    if len(lines) > _LINES_PER_OUTPUT:
        more = len(lines) - _LINES_PER_OUTPUT + 1
        lines = [*lines[: _LINES_PER_OUTPUT - 1], f"... ({more} more lines)"]
    return lines


def _output_text(output: Any) -> str:
    if output.output_type == "stream":
        text = str(output.text)
    elif output.output_type == "error":
        text = f"{output.ename}: {output.evalue}"
    else:
        text = str(output.get("data", {}).get("text/plain", ""))
    return _ANSI.sub("", text)


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` wrapped between words; blank lines at either end dropped."""
    lines: list[str] = []
    for line in text.strip("\n").splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        lines.extend(
            textwrap.wrap(
                line,
                width,
                subsequent_indent=indent + "  ",
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            or [""]
        )
    return lines


# -- frames -----------------------------------------------------------------------------
class _TableParser(HTMLParser):
    """The cells of the first HTML table, row by row (pandas' ``to_html``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._done:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._done = True

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _frame_rows(html: str) -> list[list[str]]:
    parser = _TableParser()
    parser.feed(html)
    return [row for row in parser.rows if row]


def _table(rows: list[list[str]], width: int) -> list[str]:
    """Rows as aligned columns (numbers to the right), as many as fit in ``width``; a note
    says how many more there are."""
    count = max(len(row) for row in rows)
    cells = [[_cut(c, _CELL_WIDTH) for c in row] + [""] * (count - len(row)) for row in rows]
    widths = [max(len(row[c]) for row in cells) for c in range(count)]
    shown = _fitting(widths, width)
    note = f"   (+{count - shown} columns)" if shown < count else ""
    if note:
        shown = _fitting(widths, width - len(note))
        note = f"   (+{count - shown} columns)"
    numeric = [_numeric(row[c] for row in cells[1:]) for c in range(count)]
    lines = [
        "  ".join(
            (str.rjust if numeric[c] else str.ljust)(row[c], widths[c]) for c in range(shown)
        ).rstrip()
        for row in cells
    ]
    lines[0] += note
    if len(rows) == 1:
        lines.append("(no rows)")
    return lines


def _fitting(widths: list[int], width: int) -> int:
    """How many of the leading columns fit in ``width`` (at least one)."""
    used = -2
    for n, column in enumerate(widths):
        used += column + 2
        if used > width:
            return max(n, 1)
    return len(widths)


def _numeric(values: Any) -> bool:
    texts = [v for v in values if v]
    try:
        return bool(texts) and all(float(v) is not None for v in texts)
    except ValueError:
        return False


# -- the command line -------------------------------------------------------------------
def _failed_cell(nb: Any) -> int | None:
    """The index (in ``nb.cells``) of the cell whose error stopped the run, if one did."""
    return next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)
        ),
        None,
    )


def _failure(path: Path, nb: Any, exc: Exception) -> str:
    """One line: which cell failed and with what (the error's own words, no colour codes)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    error = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    error = " ".join(_ANSI.sub("", error).split())
    failed = _failed_cell(nb)
    if failed is None:
        return f"{path}: failed: {error}"
    number = sum(1 for c in nb.cells[: failed + 1] if c.cell_type == "code")
    command = _commands(nb.cells[failed].source)[0][0]
    return f"{path}: code cell {number} ({command}) failed: {error}"


def _report_failure(path: Path, nb: Any, exc: Exception) -> None:
    """The summary of the cells that ran (up to the failed one), then the failure line."""
    failed = _failed_cell(nb)
    ran = nb.copy()
    ran.cells = nb.cells if failed is None else nb.cells[: failed + 1]
    print("\n".join(summarize(ran)))
    print(_failure(path, nb, exc), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command line: execute a notebook, print a summary, exit 1 if a cell failed."""
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m eliza_nb.notebook", description=__doc__)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--save", action="store_true", help="write the outputs back")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        nb = nbformat.read(args.notebook, as_version=4)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        print(f"{args.notebook}: cannot read the notebook: {exc}", file=sys.stderr)
        return 1
    try:
        _execute(nb, args.notebook.parent, timeout=300)
    except Exception as exc:  # a cell's error, a kernel that died, a timeout: all reported
        _report_failure(args.notebook, nb, exc)
        return 1
    if args.save:
        nbformat.write(nb, args.notebook)  # type: ignore[no-untyped-call]
    print("\n".join(summarize(nb)))
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"\nExecuted {cells} code cells of {args.notebook} in {time.perf_counter() - t0:.1f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
