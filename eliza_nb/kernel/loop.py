"""The kernel's event loop: made reentrant once, so that magics can run async handlers.

ipykernel runs every cell inside its own asyncio loop, so a magic (plain sync code) cannot
``asyncio.run`` a handler. ``%load_ext eliza_nb`` patches *that running loop* with
``nest_asyncio2`` (the maintained fork: the archived ``nest-asyncio`` makes cells queued behind
a nested run hang under ipykernel 7). Nothing is patched at import time or outside a kernel: a
plain IPython shell, a script or pytest keep the runtime's own loop. What an interrupt does
to a run is ``AgentRuntime.run_sync``'s business (:mod:`eliza_nb._blocking`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["in_kernel", "patch_kernel_loop"]

log = logging.getLogger("eliza_nb")


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
