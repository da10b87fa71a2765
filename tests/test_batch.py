"""run_batch: inputs, result frame, per-row failures, bounded concurrency, interrupts, progress."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from eliza_nb import ActionNotFoundError, AgentRuntime, Plugin, ValidationError, action
from eliza_nb.batch import BATCH_COLUMNS, BatchInputs, run_batch


@action(name="SHOUT", similes=["YELL"])
async def shout(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    text = message.content.text
    if text == "boom":
        raise ValueError(f"cannot shout with key {runtime.get_setting('API_KEY')}")
    if text == "slow":
        await asyncio.Event().wait()  # never set: only a timeout ends it
    return {"text": text.upper(), "data": dict(options) or None}


@action(name="SYNC_COUNT")
def sync_count(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return message.content.text


@pytest.fixture
async def rt(runtime: AgentRuntime) -> AgentRuntime:
    runtime.settings.set("API_KEY", "sk-batch-secret")
    await runtime.register_plugin(Plugin(name="batch", actions=[shout, sync_count]))
    return runtime


async def test_list_of_texts_gives_one_row_per_input_in_order(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", ["a", "b", "c"], progress=False)
    assert list(out.columns) == list(BATCH_COLUMNS)
    assert out.index.tolist() == [0, 1, 2]
    assert out["text"].tolist() == ["A", "B", "C"]
    assert out["success"].tolist() == [True, True, True]
    assert out["error_code"].tolist() == [None, None, None]
    assert out.attrs == {"action": "SHOUT", "total": 3, "interrupted": False}


async def test_result_dtypes_are_fixed(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", ["a", "boom"], progress=False)
    dtypes = {c: str(t) for c, t in out.dtypes.items()}
    assert dtypes == {
        "success": "bool",
        "text": "object",
        "data": "object",
        "error_code": "object",
        "error_message": "object",
        "duration_ms": "float64",
        "run_id": "Int64",
    }


async def test_run_ids_are_the_recorded_runs(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", ["a", "boom", "c"], progress=False)
    metrics = rt.metrics_frame()
    assert len(metrics) == 3
    assert sorted(out["run_id"].tolist()) == sorted(metrics["run_id"].tolist())
    by_id = metrics.set_index("run_id")
    assert by_id.loc[out["run_id"][1], "error_code"] == "HANDLER_ERROR"


async def test_dicts_give_text_and_options(rt: AgentRuntime) -> None:
    inputs = [{"text": "a", "limit": 1}, {"text": "b"}, {"limit": 3}]
    out = await rt.run_batch("SHOUT", inputs, progress=False)
    assert out["text"].tolist() == ["A", "B", None]
    assert out["data"].tolist() == [{"limit": 1}, None, None]
    assert out["error_code"][2] == "VALIDATION_ERROR"
    assert out["error_message"][2] == "input has no 'text' key"
    assert pd.isna(out["run_id"][2])  # it never ran
    assert len(rt.metrics.runs) == 2


async def test_option_columns_restrict_dict_keys(rt: AgentRuntime) -> None:
    inputs = [{"q": "a", "limit": 1, "expected": "A"}]
    out = await rt.run_batch(
        "SHOUT", inputs, text_column="q", option_columns=["limit"], progress=False
    )
    assert out["data"][0] == {"limit": 1}


async def test_dataframe_keeps_its_index_and_named_option_columns(rt: AgentRuntime) -> None:
    frame = pd.DataFrame(
        {"question": ["x", "y"], "limit": [5, 6], "expected": ["X", "Z"]}, index=["q1", "q2"]
    )
    out = await rt.run_batch(
        "SHOUT", frame, text_column="question", option_columns=["limit"], progress=False
    )
    assert out.index.tolist() == ["q1", "q2"]
    assert out["data"].tolist() == [{"limit": 5}, {"limit": 6}]
    assert type(out["data"]["q1"]["limit"]) is int  # plain Python values reach the handler
    joined = frame.join(out["text"])  # aligned with the input: a plain join
    assert (joined["text"] == joined["expected"]).tolist() == [True, False]


async def test_dataframe_without_option_columns_passes_no_options(rt: AgentRuntime) -> None:
    frame = pd.DataFrame({"text": ["x"], "limit": [5]})
    out = await rt.run_batch("SHOUT", frame, progress=False)
    assert out["data"].tolist() == [None]


async def test_series_input(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", pd.Series(["p", "q"], index=[10, 20]), progress=False)
    assert out.index.tolist() == [10, 20]
    assert out["text"].tolist() == ["P", "Q"]


async def test_missing_column_names_the_columns(rt: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match=r"no column 'question'.*columns: text") as info:
        await rt.run_batch("SHOUT", pd.DataFrame({"text": ["x"]}), text_column="question")
    assert info.value.field == "text_column"
    with pytest.raises(ValidationError, match="no column 'nope'"):
        await rt.run_batch("SHOUT", pd.DataFrame({"text": ["x"]}), option_columns=["nope"])


@pytest.mark.parametrize("inputs", ["just text", {"text": "a"}, 42])
async def test_inputs_of_another_kind_are_refused(rt: AgentRuntime, inputs: Any) -> None:
    with pytest.raises(ValidationError, match="list of texts, a list of dicts or a DataFrame"):
        await rt.run_batch("SHOUT", inputs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"timeout": -1}, "timeout"),
        ({"backend": "spark"}, "backend"),
    ],
)
async def test_bad_arguments_are_refused(rt: AgentRuntime, kwargs: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        await rt.run_batch("SHOUT", ["a"], **kwargs)
    assert info.value.field == field


async def test_unknown_action_raises_before_anything_runs(rt: AgentRuntime) -> None:
    with pytest.raises(ActionNotFoundError, match="SHOUT"):
        await rt.run_batch("SHOUTT", ["a", "b"])
    assert rt.metrics.runs == []


async def test_simile_finds_the_action(rt: AgentRuntime) -> None:
    out = await rt.run_batch("yell", ["a"], progress=False)
    assert out.attrs["action"] == "SHOUT"


async def test_empty_inputs_give_an_empty_frame(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", [], progress=False)
    assert out.empty
    assert list(out.columns) == list(BATCH_COLUMNS)


async def test_failures_and_timeouts_are_rows_and_the_batch_goes_on(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", ["a", "boom", "slow", "d"], timeout=0.05, progress=False)
    assert out["success"].tolist() == [True, False, False, True]
    assert out["error_code"].tolist() == [None, "HANDLER_ERROR", "TIMEOUT", None]
    assert out["text"].tolist() == ["A", None, None, "D"]
    assert set(rt.errors_frame()["code"]) == {"HANDLER_ERROR", "TIMEOUT"}


async def test_error_messages_are_masked(rt: AgentRuntime) -> None:
    out = await rt.run_batch("SHOUT", ["boom"], progress=False)
    assert out["error_message"][0] == "cannot shout with key ***"
    assert "sk-batch-secret" not in out.to_string()


async def test_order_is_input_order_whatever_the_completion_order(runtime: AgentRuntime) -> None:
    finished: list[int] = []

    @action(name="STAGGER")
    async def stagger(rt: Any, message: Any, state: Any, options: Any, cb: Any) -> str:
        n = int(message.content.text)
        for _ in range(10 - n):  # later inputs finish first
            await asyncio.sleep(0)
        finished.append(n)
        return str(n)

    await runtime.register_action(stagger)
    out = await runtime.run_batch(
        "STAGGER", [str(i) for i in range(10)], concurrency=10, progress=False
    )
    assert finished != sorted(finished)
    assert out["text"].tolist() == [str(i) for i in range(10)]


async def test_concurrency_is_bounded_by_a_fixed_worker_pool(runtime: AgentRuntime) -> None:
    seen = {"now": 0, "peak": 0, "tasks": 0}

    @action(name="TRACK")
    async def track(rt: Any, message: Any, state: Any, options: Any, cb: Any) -> None:
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        seen["tasks"] = max(seen["tasks"], len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen["now"] -= 1

    await runtime.register_action(track)
    out = await runtime.run_batch("TRACK", ["x"] * 1000, concurrency=7, progress=False)
    assert out["success"].all()
    assert seen["peak"] == 7
    assert seen["tasks"] <= 7 + 1  # the workers and the test's own task: not one per input


async def test_a_worker_that_never_suspends_still_lets_the_loop_run(runtime: AgentRuntime) -> None:
    marks: list[int] = []

    @action(name="SYNC_MARK")
    def sync_mark(rt: Any, message: Any, state: Any, options: Any, cb: Any) -> None:
        if not rt.metrics.runs:  # the first run asks the loop for a turn
            asyncio.get_running_loop().call_soon(lambda: marks.append(len(rt.metrics.runs)))

    await runtime.register_action(sync_mark)
    out = await runtime.run_batch("SYNC_MARK", ["x"] * 5000, concurrency=1, progress=False)
    assert len(out) == 5000
    assert marks[0] < 5000  # the callback ran during the batch, not after it


async def test_cancelling_the_task_returns_the_rows_done(runtime: AgentRuntime) -> None:
    holder: dict[str, asyncio.Task[Any]] = {}
    gate = asyncio.Event()

    @action(name="STOP_AT_3")
    async def stop_at_3(rt: Any, message: Any, state: Any, options: Any, cb: Any) -> str:
        n = int(message.content.text)
        if n == 3:
            holder["task"].cancel()
        if n > 3:
            await gate.wait()  # never set: these are in flight when the cancel lands
        return str(n)

    await runtime.register_action(stop_at_3)
    task = asyncio.ensure_future(
        runtime.run_batch("STOP_AT_3", [str(i) for i in range(100)], concurrency=4, progress=False)
    )
    holder["task"] = task
    out = await task
    assert not task.cancelled()
    assert out.attrs["interrupted"] is True
    assert out.attrs["total"] == 100
    assert out["text"].tolist() == ["0", "1", "2", "3"]
    assert "CANCELLED" in runtime.metrics_frame()["error_code"].tolist()  # the one in flight


@contextlib.contextmanager
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, as in a kernel cell or a plain script (not asyncio.run).

    Entered inside the test: pytest-asyncio's runner installs its own handler around it.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@action(name="CTRL_C_AT_2")
async def ctrl_c_at_2(rt: Any, message: Any, state: Any, options: Any, cb: Any) -> str:
    n = int(message.content.text)
    if n == 2:
        signal.raise_signal(signal.SIGINT)  # what the notebook's stop button sends
    if n == 0 or n > 2:
        await asyncio.Event().wait()  # never set: in flight when the interrupt lands
    return str(n)


async def test_sigint_stops_the_batch_and_returns_the_rows_done(runtime: AgentRuntime) -> None:
    await runtime.register_action(ctrl_c_at_2)
    with default_sigint():
        out = await runtime.run_batch(
            "CTRL_C_AT_2", [str(i) for i in range(50)], concurrency=3, progress=False
        )
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert out.attrs["interrupted"] is True
    assert out.index.tolist() == [1, 2]
    assert "CANCELLED" in runtime.metrics_frame()["error_code"].tolist()  # input 0, in flight


async def test_sigint_under_asyncio_runner_returns_the_rows_done(runtime: AgentRuntime) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if getattr(getattr(handler, "func", None), "__name__", "") != "_on_sigint":
        pytest.skip("the test loop is not run by asyncio.Runner")
    await runtime.register_action(ctrl_c_at_2)  # the runner cancels this test's task
    out = await runtime.run_batch(
        "CTRL_C_AT_2", [str(i) for i in range(50)], concurrency=3, progress=False
    )
    assert out.attrs["interrupted"] is True
    assert out.index.tolist() == [1, 2]


async def test_progress_bar_counts_rows(
    rt: AgentRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    await rt.run_batch("SHOUT", ["a", "b", "c"], progress=True)
    err = capsys.readouterr().err
    assert "SHOUT" in err
    assert "3/3" in err


async def test_no_progress_bar_when_disabled(
    rt: AgentRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    await rt.run_batch("SHOUT", ["a"], progress=False)
    assert capsys.readouterr().err == ""


async def test_action_events_are_emitted_while_someone_listens(rt: AgentRuntime) -> None:
    completed: list[str] = []
    rt.on("ACTION_COMPLETED", lambda payload: completed.append(payload["result"].text))
    await rt.run_batch("SHOUT", ["a", "b"], progress=False)
    assert completed == ["A", "B"]


async def test_the_magic_s_call_shape_works(rt: AgentRuntime) -> None:
    frame = pd.DataFrame({"question": ["hi"]})
    out = await rt.run_batch("SHOUT", frame, text_column="question", concurrency=2, progress=False)
    assert out["text"].tolist() == ["HI"]


async def test_module_function_equals_the_method(rt: AgentRuntime) -> None:
    out = await run_batch(rt, "SHOUT", ["z"], progress=False, room_id="r9")
    assert out["text"].tolist() == ["Z"]
    assert rt.metrics_frame()["room_id"].tolist() == ["r9"]


def test_blocking_use_through_run_sync(runtime: AgentRuntime) -> None:
    runtime.run_sync(runtime.register_action(sync_count))
    out = runtime.run_sync(runtime.run_batch("SYNC_COUNT", ["a", "b"], progress=False))
    assert out["text"].tolist() == ["a", "b"]


def test_inputs_cut_into_parts_keep_their_options() -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "k": [1, 2, 3]})
    batch = BatchInputs.from_inputs(frame, option_columns=["k"])
    assert list(batch.part(1, 3).rows()) == [(0, "b", {"k": 2}), (1, "c", {"k": 3})]
    assert batch.part(1, 3).labels is None


async def test_the_result_is_aligned_with_the_input_index(rt: AgentRuntime) -> None:
    frame = pd.DataFrame(
        {"text": ["a", "boom", "c"]},
        index=pd.MultiIndex.from_tuples([("x", 1), ("x", 2), ("y", 1)], names=["k", "n"]),
    )
    out = await rt.run_batch("SHOUT", frame, progress=False)
    pd.testing.assert_index_equal(out.index, frame.index)  # names and levels kept
    joined = frame.join(out[["success", "error_code"]])
    assert joined["success"].tolist() == [True, False, True]


async def test_reset_index_gives_positions_and_the_labels_as_a_column(rt: AgentRuntime) -> None:
    frame = pd.DataFrame({"text": ["a", "b"]}, index=[10, 20])
    out = (await rt.run_batch("SHOUT", frame, progress=False)).reset_index()
    assert list(out.columns) == ["index", *BATCH_COLUMNS]
    assert out.index.tolist() == [0, 1]
    assert out["index"].tolist() == [10, 20]
    assert frame.index.get_indexer([20]).tolist() == [1]
