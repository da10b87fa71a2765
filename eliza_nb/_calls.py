"""Deciding once whether a callable is async, and calling hooks with the arguments they take."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["accepted_arity", "call_hook", "is_async_callable"]


def is_async_callable(fn: Any) -> bool:
    """True if calling ``fn`` returns a coroutine (sees through partials and ``__call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - we want the bound __call__ of instances
    )


def accepted_arity(fn: Callable[..., Any], most: int) -> int:
    """How many of ``most`` positional arguments ``fn`` accepts (hooks may omit trailing ones)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return most
    count = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return most
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return min(count, most)


async def call_hook(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async hook with as many leading ``args`` as it accepts; await if needed."""
    value = fn(*args[: accepted_arity(fn, len(args))])
    if inspect.isawaitable(value):
        value = await value
    return value
