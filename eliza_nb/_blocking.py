"""Running a runtime coroutine to completion from sync code, and what an interrupt does to it.

``AgentRuntime.run_sync`` (and so ``run``, the magics and the widgets) comes here. Where it runs
depends on the caller: a script has no running loop (the runtime's own loop is used), a Jupyter
kernel after ``%load_ext eliza_nb`` has a running loop patched by nest-asyncio (the run goes in
place), any other running loop gets a worker thread with a loop of its own.

In a kernel an interrupt (the stop button, a ``KeyboardInterrupt``) cancels the run and lets it
finish cancelling, so the dispatcher records it as ``CANCELLED``; the caller then gets
:class:`~eliza_nb.errors.ActionCancelledError`, which IPython shows as one line. A script keeps
Python's ``KeyboardInterrupt``: an ``Exception`` there could be swallowed by ``except Exception``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from eliza_nb.errors import ActionCancelledError

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(
    awaitable: Awaitable[T],
    own_loop: Callable[[], asyncio.AbstractEventLoop],
    *,
    interruptible: bool | None = None,
) -> T:
    """Run ``awaitable`` to completion (see the module docstring for where).

    Args:
        awaitable: The coroutine (or other awaitable) to run.
        own_loop: Returns the loop to use when none is running (the runtime's private loop).
        interruptible: Turn an interrupt into ``ActionCancelledError`` after cancelling the
            run: None (default) does so in a kernel (a nest-asyncio loop), True everywhere but
            in a worker thread (the magics and widgets), False never.

    Raises:
        ActionCancelledError: the run was interrupted (when ``interruptible`` applies).
    """
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    nested = running is not None and getattr(running, "_nest_patched", False)
    if running is not None and not nested:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _as_coroutine(awaitable)).result()
    loop = running if running is not None else own_loop()
    if interruptible or (interruptible is None and nested):
        return _interruptible(loop, awaitable)
    return loop.run_until_complete(awaitable)


def _interruptible(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T]) -> T:
    """``loop.run_until_complete(awaitable)``; an interrupt cancels the run, which is recorded."""
    holder: list[asyncio.Task[Any]] = []
    try:
        return loop.run_until_complete(_tracked(awaitable, holder))
    except KeyboardInterrupt:
        task = holder[0] if holder else None
        if task is not None and not task.done():
            task.cancel()  # interrupted while the loop waited: let the run finish cancelling
            loop.run_until_complete(asyncio.wait([task]))
        elif task is not None and not task.cancelled():
            task.exception()  # interrupted inside the handler: mark the stored error as seen
        raise ActionCancelledError(
            "Interrupted: the run was cancelled and recorded as CANCELLED."
        ) from None


async def _tracked(awaitable: Awaitable[T], holder: list[asyncio.Task[Any]]) -> T:
    # No extra task: the awaitable runs inside the task run_until_complete made, which is
    # remembered so that an interrupt arriving while the loop waits can cancel exactly that run.
    task = asyncio.current_task()
    if task is not None:
        holder.append(task)
    return await awaitable


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
