"""Every notebook runs under papermill, and 05-regression-testing runs with other parameters.

papermill fails a run on any error output, even in a cell tagged ``raises-exception``, so this
is the check that a notebook shows its intended errors without raising (``--expect CODE``, or
an error caught and printed). Each run starts a kernel of its own, in ``notebooks/`` as nbval
and JupyterLab do, and writes its output notebook to a temporary directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill
import pytest

NOTEBOOKS_DIR = Path(__file__).parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
REGRESSION = NOTEBOOKS_DIR / "05-regression-testing.ipynb"

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _no_baseline_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run must never rewrite a committed baseline (the kernel inherits the environment)."""
    monkeypatch.delenv("ELIZA_NB_UPDATE_BASELINES", raising=False)


def _execute(path: Path, out: Path, **parameters: Any) -> nbformat.NotebookNode:
    """Run ``path`` with papermill in ``notebooks/``; the executed notebook."""
    return papermill.execute_notebook(
        str(path),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOKS_DIR),
        kernel_name="python3",
        progress_bar=False,
        request_save_on_cell_execute=False,  # one write at the end: a faster run
    )


def _printed(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_runs_under_papermill(path: Path, tmp_path: Path) -> None:
    nb = _execute(path, tmp_path / path.name)  # papermill raises on any error output
    assert all(c.metadata.papermill.status == "completed" for c in nb.cells), path.name


def test_the_regression_notebook_takes_other_inputs_a_baseline_path_and_update(
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "messages.csv"
    messages = ["good and great", "", "nothing to say", "slow and bad"]
    pd.DataFrame({"message": messages}).to_csv(inputs, index=False)
    baseline = tmp_path / "baselines" / "messages.baseline.parquet"
    baseline.parent.mkdir()
    stale = pd.DataFrame(
        {"index": [0], "success": [False], "text": ["stale"], "error_code": [None]}
    )
    stale.to_parquet(baseline)  # without UPDATE the first check would fail on it

    nb = _execute(
        REGRESSION,
        tmp_path / "out.ipynb",
        INPUTS=str(inputs),
        BASELINE=str(baseline),
        CONCURRENCY=2,
        UPDATE=True,
    )

    written = pd.read_parquet(baseline)
    assert written["index"].tolist() == [0, 1, 2, 3]
    assert written["text"].fillna("-").tolist() == ["positive", "-", "neutral", "negative"]
    assert written["error_code"].fillna("-").tolist() == ["-", "HANDLER_ERROR", "-", "-"]
    # The drift cell checked against the new baseline and never accepted the regression.
    assert f"1 rows drifted from the baseline {baseline}" in _printed(nb)
