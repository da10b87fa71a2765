"""run_messages: many messages through the agent loop, a regression frame, replayed offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eliza_nb import AgentRuntime, Plugin, ValidationError, action
from eliza_nb.regression import BaselineDriftError, check_baseline
from eliza_nb.testing import DeterministicModel


@action(similes=["HELLO"])
def greet(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    callback({"text": "Greetings!"})


@action()
def boom(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("no")


@pytest.fixture
async def agent() -> Any:
    rt = AgentRuntime(settings={"TRACING": True}, use_env=False)
    await rt.register_plugins(
        [Plugin(name="p", actions=[greet, boom]), DeterministicModel().plugin]
    )
    yield rt
    await rt.aclose()


MESSAGES = pd.DataFrame({"text": ["hello there", "boom please", "nothing"]}, index=["a", "b", "c"])


async def test_one_row_per_message_with_what_was_decided_and_said(agent: AgentRuntime) -> None:
    frame = await agent.run_messages(MESSAGES)
    assert frame.index.tolist() == ["a", "b", "c"]  # aligned with the input
    assert frame[["actions", "responses", "success", "error_code"]].values.tolist() == [
        ["GREET", "Greetings!", True, None],
        ["BOOM", "", False, "HANDLER_ERROR"],
        ["", "", True, None],
    ]
    assert frame["reply"].tolist() == [
        "I heard: hello there",
        "I heard: boom please",
        "I heard: nothing",
    ]
    assert frame["trace_id"].notna().all()
    assert agent.trace(frame["trace_id"]["b"]).root.kind == "message"
    rooms = set(agent.memories_frame()["room_id"])
    assert rooms == {"row-a", "row-b", "row-c"}


async def test_concurrent_rows_give_the_same_frame(agent: AgentRuntime) -> None:
    one = await agent.run_messages(MESSAGES, room_prefix="x")
    many = await agent.run_messages(MESSAGES, room_prefix="y", concurrency=3)
    columns = ["text", "actions", "reply", "responses", "success"]
    pd.testing.assert_frame_equal(one[columns], many[columns])


async def test_a_cassette_run_is_a_regression_baseline(agent: AgentRuntime, tmp_path: Path) -> None:
    cassette, baseline = tmp_path / "c.json", tmp_path / "b.parquet"
    with agent.use_cassette(cassette, "record"):
        first = await agent.run_messages(MESSAGES, room_prefix="rec")
    check_baseline(first, baseline, columns=["actions", "reply", "responses"])
    offline = AgentRuntime(settings={"TRACING": True}, use_env=False)
    try:
        await offline.register_plugin(Plugin(name="p", actions=[greet, boom]))
        with offline.use_cassette(cassette):
            again = await offline.run_messages(MESSAGES, room_prefix="rec")
        check_baseline(again, baseline, columns=["actions", "reply", "responses"])
        await offline.register_action(
            action(name="GREET", similes=["HELLO"])(lambda *a: "Changed!"), "p"
        )
        with offline.use_cassette(cassette):  # fresh rooms: the same prompts as recorded
            drifted = await offline.run_messages(MESSAGES, room_prefix="again")
        with pytest.raises(BaselineDriftError) as info:
            check_baseline(drifted, baseline, columns=["actions", "reply", "responses"])
        rows = drifted.loc[info.value.diff["index"]]  # the diff's keys are the frame's labels
        assert rows.index.tolist() == ["a"]
        assert offline.trace(rows["trace_id"].iloc[0]).root.kind == "message"
    finally:
        await offline.aclose()


async def test_a_list_gives_positions_and_joins_its_frame(agent: AgentRuntime) -> None:
    frame = await agent.run_messages(["hello there", "nothing"])
    assert frame.index.tolist() == [0, 1]
    out = await agent.run_messages(MESSAGES, room_prefix="j")
    joined = MESSAGES.join(out.drop(columns="text"))
    assert joined["actions"].tolist() == ["GREET", "BOOM", ""]


@pytest.mark.parametrize(
    ("inputs", "kwargs", "match"),
    [
        ("hello", {}, "inputs must be a list of texts"),
        (pd.DataFrame({"msg": ["x"]}), {}, "inputs has no column 'text'"),
        (["x"], {"concurrency": 0}, "concurrency must be a positive whole number"),
    ],
)
async def test_bad_inputs_are_clear_errors(
    agent: AgentRuntime, inputs: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        await agent.run_messages(inputs, **kwargs)
