"""Every notebook runs in a fresh kernel, and exactly its marked cells raise, with their code.

Where an error is the lesson, a notebook shows it without raising: ``%eliza run|send|chain
--expect CODE`` (the cell passes when that failure comes and fails when it does not), or plain
Python that catches the error and prints its line. Every client then runs the notebook through,
papermill too, which fails on any error output (``tests/test_papermill.py``).

A cell may still be meant to raise: it carries the ``raises-exception`` tag (which nbval,
nbclient and JupyterLab's Run All all honour, papermill does not) and a ``# raises: CODE`` line.
nbval passes such a cell even when it does not raise, so this test executes each notebook with
nbclient and checks the errors itself: a tagged cell must raise an ElizaError whose ``[CODE]``
matches, and no other cell may; a cell with ``--expect CODE`` must show that code.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
_EXPECTED = re.compile(r"^#\s*raises:\s*([A-Z_]+)\s*$", re.MULTILINE)
_EXPECT_FLAG = re.compile(r"^%%?eliza .*--expect[ =]([A-Za-z0-9_]+)", re.MULTILINE)


def _errors(cell: nbformat.NotebookNode) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as text."""
    outputs = cell.get("outputs", [])
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)


def test_there_are_notebooks() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert "01-quickstart" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_raises_exactly_where_marked(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if "raises-exception" in cell.metadata.get("tags", []):
            expected = _EXPECTED.search(cell.source)
            assert expected, f"cell {index} is marked to raise but names no '# raises: CODE'"
            assert errors, f"cell {index} should raise {expected.group(1)} but did not"
            assert f"[{expected.group(1)}]" in errors[0], f"cell {index}: {errors[0]}"
        else:
            assert not errors, f"cell {index} raised unexpectedly: {errors}"
        for code in _EXPECT_FLAG.findall(cell.source):
            assert code.upper() in _text(cell), f"cell {index} does not show {code}"


def test_cells_meant_to_raise_are_tagged() -> None:
    """Without the tag, JupyterLab's Run All stops at the first intended error."""
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and _EXPECTED.search(cell.source):
                assert "raises-exception" in cell.metadata.get("tags", []), path.name
                assert "NBVAL_RAISES_EXCEPTION" not in cell.source, path.name


def test_saved_outputs_are_present() -> None:
    """Committed notebooks carry their outputs so GitHub and Binder show them."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} is not fully executed"
