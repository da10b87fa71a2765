"""compare_runs and check_baseline: changed, added and removed rows; Parquet baselines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eliza_nb import AgentRuntime, ElizaError, Plugin, ValidationError, action
from eliza_nb.regression import BaselineDriftError, check_baseline, compare_runs


def frame(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...] = ("index", "text", "success")
) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


@pytest.fixture
def baseline() -> pd.DataFrame:
    return frame([(0, "A", True), (1, "B", True), (2, "C", False)])


def test_identical_runs_give_an_empty_diff_with_its_columns(baseline: pd.DataFrame) -> None:
    diff = compare_runs(baseline, baseline.copy())
    assert diff.empty
    assert list(diff.columns) == [
        "index",
        "change",
        "changed_columns",
        "text_baseline",
        "text_new",
        "success_baseline",
        "success_new",
    ]


def test_changed_added_and_removed_rows_are_marked(baseline: pd.DataFrame) -> None:
    new = frame([(0, "A", True), (1, "b!", False), (3, "D", True)])
    diff = compare_runs(baseline, new, key="index")
    assert diff["index"].tolist() == [1, 2, 3]
    assert diff["change"].tolist() == ["changed", "removed", "added"]
    assert diff["changed_columns"].tolist() == ["text, success", "", ""]
    row = diff.iloc[0]
    assert (row["text_baseline"], row["text_new"]) == ("B", "b!")
    assert pd.isna(diff.iloc[1]["text_new"])
    assert pd.isna(diff.iloc[2]["text_baseline"])


def test_columns_limit_what_is_compared(baseline: pd.DataFrame) -> None:
    new = frame([(0, "A", True), (1, "B", False), (2, "C", False)])
    assert compare_runs(baseline, new, columns=["text"]).empty
    assert compare_runs(baseline, new, columns="success")["index"].tolist() == [1]


def test_volatile_columns_are_left_out_by_default() -> None:
    cols = ("index", "text", "duration_ms", "run_id")
    old = frame([(0, "A", 1.5, 1)], cols)
    new = frame([(0, "A", 9.0, 7)], cols)
    assert compare_runs(old, new).empty
    assert compare_runs(old, new, columns=["duration_ms"])["change"].tolist() == ["changed"]


def test_several_key_columns() -> None:
    cols = ("model", "question", "answer")
    old = frame([("m1", "q", "x"), ("m2", "q", "y")], cols)
    new = frame([("m1", "q", "x"), ("m2", "q", "z")], cols)
    diff = compare_runs(old, new, key=["model", "question"])
    assert diff[["model", "question", "change"]].values.tolist() == [["m2", "q", "changed"]]


def test_missing_values_equal_each_other_and_nothing_else() -> None:
    old = frame([(0, None, 1.0), (1, "x", math.nan), (2, None, 2.0)], ("index", "text", "score"))
    new = frame(
        [(0, math.nan, 1.0), (1, "x", math.nan), (2, "y", math.nan)], ("index", "text", "score")
    )
    diff = compare_runs(old, new)
    assert diff["index"].tolist() == [2]
    assert diff["changed_columns"].tolist() == ["text, score"]


def test_relative_tolerance_for_numbers() -> None:
    old = frame([(0, 1.0)], ("index", "score"))
    new = frame([(0, 1.0 + 1e-9)], ("index", "score"))
    assert len(compare_runs(old, new)) == 1
    assert compare_runs(old, new, rtol=1e-6).empty


def test_structured_values_compare_by_value() -> None:
    old = frame([(0, {"a": [1, 2]}), (1, [1, 2])], ("index", "data"))
    new = frame([(0, {"a": [1, 2]}), (1, [1, 3])], ("index", "data"))
    assert compare_runs(old, new)["index"].tolist() == [1]


def test_duplicate_keys_are_refused(baseline: pd.DataFrame) -> None:
    dupes = pd.concat([baseline, baseline])
    with pytest.raises(ValidationError, match="duplicate keys") as info:
        compare_runs(baseline, dupes)
    assert info.value.field == "key"


def test_missing_columns_are_named(baseline: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="baseline frame has no column 'score'"):
        compare_runs(baseline, baseline, columns=["score"])
    with pytest.raises(ValidationError, match="no column 'id'"):
        compare_runs(baseline, baseline, key="id")


def test_first_check_writes_the_baseline(tmp_path: Path, baseline: pd.DataFrame) -> None:
    path = tmp_path / "answers.parquet"
    assert check_baseline(baseline, path).empty
    assert path.exists()
    stored = pd.read_parquet(path)
    assert stored["text"].tolist() == ["A", "B", "C"]
    assert check_baseline(baseline.copy(), path).empty  # and the next run agrees with it


def test_relative_path_lives_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: pd.DataFrame
) -> None:
    monkeypatch.chdir(tmp_path)  # Jupyter and nbval run a notebook from its own folder
    check_baseline(baseline, "baselines/run.parquet")
    assert (tmp_path / "baselines" / "run.parquet").exists()


def test_drift_raises_an_assertion_with_a_readable_diff(
    tmp_path: Path, baseline: pd.DataFrame
) -> None:
    path = tmp_path / "b.parquet"
    check_baseline(baseline, path)
    new = frame([(0, "A", True), (1, "B2", True), (3, "D", True)])
    with pytest.raises(BaselineDriftError) as info:
        check_baseline(new, path)
    err = info.value
    assert isinstance(err, AssertionError)
    assert isinstance(err, ElizaError)
    assert err.code == "BASELINE_DRIFT"
    message = str(err)
    assert "3 rows drifted" in message
    assert "1 changed, 1 added, 1 removed" in message
    assert "B2" in message
    assert "update=True" in message
    assert err.diff["change"].tolist() == ["changed", "removed", "added"]


def test_update_rewrites_the_baseline(tmp_path: Path, baseline: pd.DataFrame) -> None:
    path = tmp_path / "b.parquet"
    check_baseline(baseline, path)
    new = frame([(0, "Z", True)])
    assert check_baseline(new, path, update=True).empty
    assert check_baseline(new, path).empty


def test_environment_variable_updates_every_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: pd.DataFrame
) -> None:
    path = tmp_path / "b.parquet"
    check_baseline(baseline, path)
    new = frame([(0, "Z", True)])
    monkeypatch.setenv("ELIZA_NB_UPDATE_BASELINES", "1")
    check_baseline(new, path)
    monkeypatch.delenv("ELIZA_NB_UPDATE_BASELINES")
    assert check_baseline(new, path).empty


def test_structured_data_survives_the_parquet_round_trip(tmp_path: Path) -> None:
    data = frame(
        [(0, {"b": 1, "a": [1, 2]}), (1, None), (2, [{"x": 1}, {"y": 2}]), (3, "plain"), (4, 7)],
        ("index", "data"),
    )
    path = tmp_path / "data.parquet"
    check_baseline(data, path)
    assert check_baseline(data.copy(), path).empty
    changed = data.copy()
    changed.at[0, "data"] = {"b": 2, "a": [1, 2]}
    with pytest.raises(BaselineDriftError):
        check_baseline(changed, path)


def test_a_baseline_without_the_compared_column_says_how_to_fix_it(
    tmp_path: Path, baseline: pd.DataFrame
) -> None:
    path = tmp_path / "b.parquet"
    check_baseline(baseline, path, columns=["text"])
    with pytest.raises(ValidationError, match=r"has no column 'success'.*update=True"):
        check_baseline(baseline, path)


@action(name="GRADE")
def grade(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "pass" if len(message.content.text) > runtime.get_setting("MIN_LEN", 3) else "fail"


async def test_batch_results_against_a_baseline(tmp_path: Path, runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="grader", actions=[grade]))
    questions = pd.DataFrame({"q": ["hi", "hello", "greetings"]}, index=["a", "b", "c"])
    path = tmp_path / "grades.parquet"
    first = await runtime.run_batch("GRADE", questions, text_column="q", progress=False)
    check_baseline(first, path)
    again = await runtime.run_batch("GRADE", questions, text_column="q", progress=False)
    assert check_baseline(again, path).empty  # run_id and duration_ms differ, and are ignored
    await runtime.set_setting("MIN_LEN", 6)
    drifted = await runtime.run_batch("GRADE", questions, text_column="q", progress=False)
    with pytest.raises(BaselineDriftError, match="1 changed") as info:
        check_baseline(drifted, path)
    assert info.value.diff[["index", "text_baseline", "text_new"]].values.tolist() == [
        ["b", "pass", "fail"]
    ]


async def test_a_batch_baseline_file_keeps_an_index_column(
    tmp_path: Path, runtime: AgentRuntime
) -> None:
    await runtime.register_plugin(Plugin(name="grader", actions=[grade]))
    results = await runtime.run_batch("GRADE", ["hi", "hello"], progress=False)
    path = tmp_path / "grades.parquet"
    check_baseline(results, path)
    stored = pd.read_parquet(path)
    assert stored.columns[0] == "index"  # a plain table, as the files written before
    assert stored["index"].tolist() == [0, 1]


def test_the_notebooks_baseline_still_reads(tmp_path: Path) -> None:
    """05-regression-testing's committed file (an ``index`` column) checks an aligned frame."""
    source = Path(__file__).parents[1] / "notebooks" / "sentiment.baseline.parquet"
    stored = pd.read_parquet(source)
    aligned = stored.drop(columns="index").set_axis(stored["index"].to_numpy())
    path = tmp_path / "copy.parquet"
    path.write_bytes(source.read_bytes())
    columns = ["success", "text", "error_code"]
    assert check_baseline(aligned, path, key="index", columns=columns).empty
    changed = aligned.copy()
    changed.loc[2, "text"] = "positive"
    diff = compare_runs(stored, changed, columns=columns)
    assert diff[["index", "changed_columns"]].values.tolist() == [[2, "text"]]


def test_a_key_may_name_an_index_level() -> None:
    old = pd.DataFrame({"text": ["a", "b"]}, index=pd.Index(["x", "y"], name="id"))
    new = pd.DataFrame({"text": ["a", "B"]}, index=pd.Index(["x", "y"], name="id"))
    assert compare_runs(old, new, key="id")[["id", "text_new"]].values.tolist() == [["y", "B"]]
    assert compare_runs(old, new)["index"].tolist() == ["y"]  # the default: the index itself
