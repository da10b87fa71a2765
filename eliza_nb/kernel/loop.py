"""The kernel's event loop: made reentrant once, and runs that an interrupt can cancel.

ipykernel runs every cell inside its own asyncio loop, so a magic (plain sync code) cannot
``asyncio.run`` a handler. ``%load_ext eliza_nb`` patches *that running loop* with
``nest_asyncio2`` (the maintained fork: the archived ``nest-asyncio`` makes cells queued behind
a nested run hang under ipykernel 7). Nothing is patched at import time or outside a kernel: a
plain IPython shell, a script or pytest keep the runtime's own loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from eliza_nb.errors import ActionCancelledError

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["in_kernel", "patch_kernel_loop", "run_cancellable"]

log = logging.getLogger("eliza_nb")
T = TypeVar("T")


def in_kernel(shell: Any) -> bool:
    """True if ``shell`` is the shell of a running Jupyter kernel (not a terminal or test shell)."""
    return getattr(shell, "kernel", None) is not None


def patch_kernel_loop(shell: Any) -> bool:
    """Make the kernel's running loop reentrant; True if it is (now or already) patched.

    Does nothing outside a kernel or when no loop runs (a kernel running cells in a thread).
    """
    if not in_kernel(shell):
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if not getattr(loop, "_nest_patched", False):
        import nest_asyncio2

        nest_asyncio2.apply(loop)
        log.debug("nest_asyncio2 applied to the kernel loop %r", loop)
    return True


async def _tracked(coro: Coroutine[Any, Any, T], holder: list[asyncio.Task[Any]]) -> T:
    # No extra task: the coroutine runs inside the task run_sync made, which we remember so
    # that an interrupt arriving while the loop waits can cancel exactly that run.
    task = asyncio.current_task()
    if task is not None:
        holder.append(task)
    return await coro


async def _settle(task: asyncio.Task[Any]) -> None:
    await asyncio.wait([task])


def run_cancellable(runtime: AgentRuntime, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code (a magic or a widget callback).

    On KeyboardInterrupt (the kernel's interrupt button) the run is cancelled and allowed to
    finish cancelling, so the runtime records it as ``CANCELLED``; the loop and the runtime stay
    usable.

    Raises:
        ActionCancelledError: the run was interrupted.
    """
    holder: list[asyncio.Task[Any]] = []
    try:
        return runtime.run_sync(_tracked(coro, holder))
    except KeyboardInterrupt:
        task = holder[0] if holder else None
        if task is not None and not task.done():
            task.cancel()  # interrupted while the loop waited: let the run finish cancelling
            runtime.run_sync(_settle(task))
        elif task is not None and not task.cancelled():
            task.exception()  # interrupted inside the handler: mark the stored error as seen
        raise ActionCancelledError(
            "Interrupted: the run was cancelled and recorded as CANCELLED."
        ) from None
