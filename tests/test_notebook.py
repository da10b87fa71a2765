"""The headless notebook runner of ``make demo`` (eliza_nb.notebook): its summary and failures."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from eliza_nb.notebook import main, summarize


def _nb(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


def _cell(source: str, *outputs: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.outputs = list(outputs)
    return cell


def _frame(df: pd.DataFrame) -> nbformat.NotebookNode:
    data = {"text/plain": repr(df), "text/html": df.to_html()}
    return new_output("execute_result", data=data, execution_count=1)


# -- labels -----------------------------------------------------------------------------
def test_a_cell_is_labelled_by_its_command_not_its_comment() -> None:
    nb = _nb(_cell("# NBVAL_IGNORE_OUTPUT\n%eliza summary"), _cell("# raises: X\n\n%eliza run A"))
    assert summarize(nb) == ["[1] %eliza summary", "[2] %eliza run A"]


def test_every_magic_line_of_a_cell_is_shown() -> None:
    lines = summarize(_nb(_cell("%eliza set K=v\n%eliza register p\n%eliza settings")))
    assert lines == ["[1] %eliza set K=v", "    %eliza register p", "    %eliza settings"]


def test_python_is_labelled_by_its_first_statement_and_how_much_follows() -> None:
    source = (
        "import eliza_nb\n\ntry:\n    await rt.register_plugin(p)\nexcept E as e:\n    print(e)"
    )
    assert summarize(_nb(_cell(source))) == ["[1] await rt.register_plugin(p)  (+2 lines)"]


def test_a_long_label_is_cut_but_keeps_its_note() -> None:
    (line,) = summarize(_nb(_cell("x = " + "1 + " * 40 + "1\ny = x")), width=60)
    assert len(line) == 60 and line.endswith("...  (+1 line)")


# -- outputs ----------------------------------------------------------------------------
def test_long_text_wraps_between_words() -> None:
    error = new_output("error", ename="ConfigurationError", evalue="[C] " + "missing key " * 20)
    lines = summarize(_nb(_cell("%eliza register p", error)), width=60)
    assert all(len(line) <= 60 for line in lines) and len(lines) > 3
    assert all(
        line.rstrip().endswith(("key", "missing", "ConfigurationError: [C]")) for line in lines[1:]
    )


def test_a_long_output_says_how_many_lines_it_left_out() -> None:
    stream = new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(20)))
    lines = summarize(_nb(_cell("print", stream)))
    assert lines[-1].strip() == "... (13 more lines)" and len(lines) == 9


def test_a_frame_is_an_aligned_table_without_continuation_backslashes() -> None:
    df = pd.DataFrame({f"column_{i}": [i * 1000.5, None] for i in range(12)})
    lines = summarize(_nb(_cell("df", _frame(df))), width=80)
    assert "\\" not in "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)
    header, first, second = lines[1:]
    assert header.split()[:2] == ["column_0", "column_1"] and header.endswith("columns)")
    assert first.split()[:3] == ["0", "0.0", "1000.5"]  # the index, then the values
    assert len(first) == len(second.rstrip()) or "NaN" in second


def test_an_empty_frame_says_so() -> None:
    lines = summarize(_nb(_cell("df", _frame(pd.DataFrame(columns=["a", "b"])))))
    assert lines[1].split() == ["a", "b"] and lines[2].strip() == "(no rows)"


# -- the command line -------------------------------------------------------------------
@pytest.mark.kernel
def test_a_failure_is_one_line_naming_the_cell_without_colour_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "failing.ipynb"
    cells = [
        _cell("%load_ext eliza_nb"),
        _cell("print('ran')"),
        _cell("# the unknown name\n%eliza run NOPE"),
        _cell("print('never')"),
    ]
    nbformat.write(_nb(*cells), path)
    assert main([str(path)]) == 1
    captured = capsys.readouterr()
    assert "      ran" in captured.out and "never" not in captured.out
    (line,) = captured.err.strip().splitlines()[-1:]
    assert line.startswith(f"{path}: code cell 3 (%eliza run NOPE) failed: ActionNotFoundError: ")
    assert "[ACTION_NOT_FOUND]" in line and "\x1b" not in captured.err
