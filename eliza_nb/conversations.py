"""Many messages through the agent, one row each: the regression run of an agent loop.

:func:`run_messages` sends each input through ``process_message``, each in a room of its own
(so no row's conversation leaks into another's prompt) and gives one row per input: what the
model decided (``actions``, ``reply``), what the actions said (``responses``), whether all of it
succeeded, and the ``trace_id`` to open when a row drifts. Under a cassette
(``runtime.use_cassette``) it runs offline and gives the same frame every time, which
:func:`eliza_nb.regression.check_baseline` compares with a stored one.

Example:
    >>> from eliza_nb import AgentRuntime, Plugin, action
    >>> from eliza_nb.testing import DeterministicModel
    >>> @action()
    ... def greet(runtime, message, state, options, callback):
    ...     return "hello"
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugins([Plugin(name="p", actions=[greet]),
    ...                                  DeterministicModel().plugin]))
    >>> frame = rt.run_sync(rt.run_messages(["please greet", "just chatting"]))
    >>> frame[["text", "actions", "responses"]].values.tolist()
    [['please greet', 'GREET', 'hello'], ['just chatting', '', '']]
    >>> rt.close()
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._tables import table
from eliza_nb.batch_inputs import BatchInputs
from eliza_nb.errors import ValidationError
from eliza_nb.types import ActionResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MESSAGE_COLUMNS", "run_messages"]

#: The columns of :func:`run_messages`' frame and their dtypes.
MESSAGE_COLUMNS = (
    ("text", "object"),
    ("actions", "object"),
    ("reply", "object"),
    ("responses", "object"),
    ("success", "bool"),
    ("error_code", "object"),
    ("trace_id", "object"),
)
_MODEL_STEPS = frozenset({"TEXT_LARGE", "TEXT_SMALL"})


class _Messaging(Protocol):
    async def process_message(
        self, message: Any, *, room_id: str | None = None
    ) -> list[ActionResult]: ...


async def run_messages(
    runtime: _Messaging,
    inputs: Any,
    *,
    text_column: str = "text",
    concurrency: int = 1,
    room_prefix: str = "row",
) -> pd.DataFrame:
    """Send every input through ``process_message``; one row per input, in input order.

    The frame is aligned with the input: its index is the input's index (``0..n-1`` for a
    list), so ``inputs.join(frame)`` works; ``frame.reset_index()`` puts the labels in an
    ``index`` column over positions.

    Args:
        runtime: The agent.
        inputs: A list of texts, a Series, or a DataFrame (``text_column``).
        text_column: Where a DataFrame's texts are.
        concurrency: How many messages are in flight at once (each has its own room).
        room_prefix: Row ``i``'s room is ``f"{room_prefix}-{label}"``.

    Columns: ``text``, ``actions`` (the actions that ran,
    comma-separated), ``reply`` (what the model said), ``responses`` (what the actions said,
    ``" | "``-separated), ``success``, ``error_code`` (the first failure), ``trace_id``.

    Raises:
        ValidationError: ``inputs`` is not one of those, or ``concurrency`` is not a positive
            whole number.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(
            f"concurrency must be a positive whole number, got {concurrency!r}",
            field="concurrency",
        )
    batch = BatchInputs.from_inputs(inputs, text_column)
    labels = list(batch.labels) if batch.labels is not None else list(range(len(batch)))
    gate = asyncio.Semaphore(concurrency)

    async def one(position: int, text: Any) -> tuple[Any, ...]:
        async with gate:
            room = f"{room_prefix}-{labels[position]}"
            results = await runtime.process_message(text, room_id=room)
        return _row(text, results)

    rows = await asyncio.gather(*(one(pos, text) for pos, text, _ in batch.rows()))
    frame = table(rows, MESSAGE_COLUMNS)
    if batch.labels is not None:  # aligned with the input, as run_batch's frame
        frame.index = batch.labels
    return frame


def _row(text: Any, results: list[ActionResult]) -> tuple[Any, ...]:
    decided = [r for r in results if r.action in _MODEL_STEPS]
    acted = [r for r in results if r.action not in _MODEL_STEPS]
    said = [c.text for r in acted for c in r.responses] or [r.text for r in acted if r.text]
    failed = next((r.error_code for r in results if not r.success), None)
    trace = next((r.trace_id for r in results if r.trace_id), None)
    return (
        text,
        ",".join(r.action for r in acted),
        decided[0].text if decided else None,
        " | ".join(said),
        failed is None,
        failed,
        trace,
    )
