"""What ``%eliza register OBJ`` names: a variable, ``module:attr``, or an installed plugin."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from eliza_nb.plugin import Action, Evaluator, Plugin, Provider

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["ENTRY_POINT_GROUP", "register_one", "registrables", "resolve"]

ENTRY_POINT_GROUP = "eliza_nb.plugins"


def registrables(obj: Any) -> list[Any]:
    """The parts to register from what was named: a factory is called, a single part listed."""
    if callable(obj) and not isinstance(obj, Plugin | Action | Provider | Evaluator):
        obj = obj()  # an entry point or module attribute may be a factory function
    return list(obj) if isinstance(obj, list | tuple) else [obj]


async def register_one(runtime: AgentRuntime, item: Any) -> None:
    """Register a Plugin, or one Action/Provider/Evaluator under the ``local`` plugin."""
    if isinstance(item, Plugin):
        await runtime.register_plugin(item)
    elif isinstance(item, Action):
        await runtime.register_action(item)
    elif isinstance(item, Provider):
        await runtime.register_provider(item)
    elif isinstance(item, Evaluator):
        await runtime.register_evaluator(item)
    else:
        raise UsageError(
            f"%eliza register: cannot register a {type(item).__name__}; expected "
            "a Plugin, Action, Provider, Evaluator or a list of them"
        )


def resolve(namespace: dict[str, Any], spec: str) -> Any:
    """The object ``spec`` names: ``var[.attr]``, ``module:attr`` or an entry-point name."""
    head, _, rest = spec.partition(".")
    if head in namespace and ":" not in spec:
        return _attrs(namespace[head], rest, spec)
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            return _attrs(importlib.import_module(module), attr, spec)
        except ImportError as exc:
            raise UsageError(f"%eliza register: cannot import {module!r}: {exc}") from None
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=spec)
    for ep in found:
        return ep.load()
    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    raise UsageError(
        f"%eliza register: {spec!r} is not a variable, a module:attr path or an installed "
        f"plugin (installed: {', '.join(installed) or 'none'})"
    )


def _attrs(obj: Any, dotted: str, spec: str) -> Any:
    for part in filter(None, dotted.split(".")):
        if not hasattr(obj, part):
            raise UsageError(f"%eliza register: {spec!r}: no attribute {part!r}")
        obj = getattr(obj, part)
    return obj
