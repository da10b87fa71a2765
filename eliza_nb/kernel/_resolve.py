"""What ``%eliza register OBJ`` names, and what of it can be registered.

``OBJ`` is a variable of the user namespace (``var[.attr]``), a ``module:attr`` path, or an
installed plugin's entry-point name (:func:`eliza_nb.registry.locate` finds it). Nothing found
is called, except a factory that an installed plugin's entry point names: registering
``os:abort`` says what it found instead of calling it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from eliza_nb._checks import shown
from eliza_nb.errors import PluginError
from eliza_nb.plugin import Action, Evaluator, Plugin, Provider
from eliza_nb.registry import ENTRY_POINT_GROUP, PARTS, locate

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["ENTRY_POINT_GROUP", "register_one", "registrables", "resolve"]

_EXPECTED = (
    "expected a Plugin, an Action, a Provider, an Evaluator or a list of them, "
    "or the name of an installed plugin"
)


def resolve(namespace: dict[str, Any], spec: str) -> Any:
    """The object ``spec`` names: ``var[.attr]``, ``module:attr`` or an entry-point name.

    Raises:
        UsageError: nothing by that name (what was wrong is said).
    """
    try:
        return locate(spec, namespace)
    except PluginError as exc:
        raise UsageError(f"%eliza register: {exc.message}") from None


def registrables(obj: Any, spec: str = "") -> list[Any]:
    """The parts to register from what was named: a plugin or part, or a list of them.

    Raises:
        UsageError: it is something else (what was found is said).
    """
    items = list(obj) if isinstance(obj, list | tuple) else [obj]
    bad = [item for item in items if not isinstance(item, PARTS)]
    if bad or not items:
        what = obj if not items else bad[0]
        where = f"{spec!r} is {shown(obj)}: " if spec else ""
        raise UsageError(
            f"%eliza register: {where}cannot register a {type(what).__name__}; {_EXPECTED}"
        )
    return items


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
