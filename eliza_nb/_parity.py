"""The elizaOS 1.x side of ``AgentRuntime``: models, events, plugin tests, dependencies, init.

A mixin, kept apart so runtime.py stays about registration and execution. The logic lives in
:mod:`eliza_nb.models`, :mod:`eliza_nb.events` and :mod:`eliza_nb.suites`; this module wires
them to the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from eliza_nb._calls import call_hook
from eliza_nb.errors import ModelNotFoundError, PluginError, ValidationError
from eliza_nb.events import EventEmitter, EventHandler, EventType
from eliza_nb.models import ModelHandler, ModelRegistry, call_model, model_key
from eliza_nb.plugin import Plugin
from eliza_nb.settings import MASK, is_secret_key
from eliza_nb.suites import run_suites

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.plugin import Action
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.settings import Settings
    from eliza_nb.types import ActionResult, Memory, State

__all__ = ["RuntimeParity", "order_plugins"]

log = logging.getLogger("eliza_nb")


class RuntimeParity:
    """Models, events, plugin test suites and dependency ordering of ``AgentRuntime``."""

    registry: Registry
    settings: Settings
    metrics: MetricsRecorder
    models: ModelRegistry
    events: EventEmitter

    if TYPE_CHECKING:

        async def register_plugin(self, plugin: Plugin) -> None: ...

        async def unregister_plugin(self, name: str) -> None: ...

        async def _execute(
            self,
            action: Action,
            plugin: str,
            msg: Memory,
            state: State | None,
            opts: dict[str, Any],
            limit: float | None,
        ) -> ActionResult: ...

    def _init_parity(self) -> None:
        self.models = ModelRegistry()
        self.events = EventEmitter(cast("AgentRuntime", self))

    # -- models -------------------------------------------------------------------------
    async def use_model(
        self, model_type: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> Any:
        """Call the model handler of the highest-priority plugin serving ``model_type``.

        Parameters come as a dict (``use_model(ModelType.TEXT_SMALL, {"prompt": p})``, as in
        elizaOS) or as keywords (``use_model("TEXT_SMALL", prompt=p)``), or both.

        Raises:
            ModelNotFoundError: no registered plugin serves that model type.
            Whatever the handler raises.
        """
        entry = self.models.resolve(model_type)
        if entry is None:
            key = model_key(model_type)
            served = ", ".join(self.models.types()) or "none"
            raise ModelNotFoundError(
                f"No plugin serves model {key} (served: {served}). Register a model plugin, "
                "e.g. eliza_nb.testing.DeterministicModel().plugin offline or "
                "eliza_nb.plugins.openai_compat.plugin.",
                details={"model_type": key, "served": self.models.types()},
            )
        return await call_model(cast("AgentRuntime", self), entry, {**(params or {}), **kwargs})

    def register_model(
        self, model_type: str, handler: ModelHandler, *, plugin: str = "local", priority: int = 0
    ) -> None:
        """Serve ``model_type`` with ``handler(runtime, params)``, outside any plugin."""
        if not callable(handler):
            raise ValidationError(
                f"model handler must be callable, got {handler!r}", field="handler"
            )
        self.models.add(model_type, handler, plugin, priority)

    def models_frame(self) -> pd.DataFrame:
        """One row per model handler: ``model_type, plugin, priority, handler, serving``."""
        return self.models.frame()

    # -- events -------------------------------------------------------------------------
    def on(self, event: str, handler: EventHandler) -> EventHandler:
        """Call ``handler(payload[, runtime])`` on every ``event``; returns the handler."""
        return self.events.on(event, handler)

    async def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> None:
        """Emit an event to its handlers (a failing handler is logged, never raised)."""
        await self.events.emit(event, payload)

    def events_frame(self, last: int | None = None) -> pd.DataFrame:
        """The last events: ``seq, timestamp, event, handlers, failures, payload``."""
        return self.events.frame(last)

    async def _setting_changed(self, key: str, value: Any) -> None:
        shown = MASK if is_secret_key(key, self.settings.marked) else value
        payload = {"key": key, "value": self.settings.masker.mask_value(shown)}
        await self.events.emit(EventType.SETTING_CHANGED, payload)

    async def _message_received(self, msg: Memory) -> None:
        await self.events.emit(
            EventType.MESSAGE_RECEIVED,
            {
                "room_id": msg.room_id,
                "user_id": msg.user_id,
                "text": msg.content.text,
                "message": msg,
            },
        )

    async def _evaluator_completed(
        self, name: str, plugin: str, msg: Memory, error_code: str | None
    ) -> None:
        payload = {
            "evaluator": name,
            "plugin": plugin,
            "room_id": msg.room_id,
            "success": error_code is None,
            "error_code": error_code,
        }
        await self.events.emit(EventType.EVALUATOR_COMPLETED, payload)

    # -- plugin tests -------------------------------------------------------------------
    async def run_plugin_tests(
        self, plugin: str | None = None, *, timeout: float | None = None
    ) -> pd.DataFrame:
        """Run the test suites of every registered plugin (or of ``plugin``) in this runtime.

        Returns a DataFrame ``plugin, suite, test, passed, duration_ms, error``; a failing test
        is a row with ``passed=False``, never an exception.

        Raises:
            PluginError: ``plugin`` is not registered.
        """
        plugins = list(self.registry.plugins.values())
        if plugin is not None:
            if plugin not in self.registry.plugins:
                known = ", ".join(sorted(self.registry.plugins)) or "none"
                raise PluginError(
                    f"No plugin named {plugin!r} (registered: {known})", plugin=plugin
                )
            plugins = [self.registry.plugins[plugin]]
        return await run_suites(cast("AgentRuntime", self), plugins, timeout=timeout)

    # -- registration -------------------------------------------------------------------
    def plugin_settings(self, plugin: Plugin) -> dict[str, Any]:
        """The resolved value of every setting ``plugin.config`` names (what ``init`` gets)."""
        cfg = plugin.config
        keys = dict.fromkeys([*cfg.required, *cfg.optional, *cfg.defaults])
        return {k: self.settings.get(k, cfg.defaults.get(k)) for k in keys}

    async def _init_plugin(self, plugin: Plugin) -> None:
        if plugin.init is not None:
            await call_hook(plugin.init, self.plugin_settings(plugin), self)

    def _attach_parts(self, plugin: Plugin) -> None:
        self.models.add_plugin(plugin)
        self.events.add_plugin(plugin)

    def _detach_parts(self, name: str) -> None:
        self.models.remove_plugin(name)
        self.events.remove_plugin(name)

    def _check_dependencies(self, plugin: Plugin) -> None:
        missing = [d for d in plugin.dependencies if d not in self.registry.plugins]
        if missing:
            raise PluginError(
                f"Plugin {plugin.name!r} depends on {', '.join(missing)}, not registered: "
                "register it first, or pass all of them to register_plugins([...]).",
                plugin=plugin.name,
                details={"missing": missing},
            )

    async def _register_ordered(self, plugins: Iterable[Plugin]) -> None:
        ordered = order_plugins(list(plugins), self.registry.plugins)
        fresh: list[str] = []
        try:
            for plugin in ordered:
                new = plugin.name not in self.registry.plugins
                await self.register_plugin(plugin)
                if new:
                    fresh.append(plugin.name)
        except BaseException:
            for name in reversed(fresh):  # all or nothing: drop what this call added
                await self.unregister_plugin(name)
            raise

    # -- execution ----------------------------------------------------------------------
    async def _dispatch(
        self,
        action: Action,
        plugin: str,
        msg: Memory,
        state: State | None,
        opts: dict[str, Any],
        limit: float | None,
    ) -> ActionResult:
        """``_execute``, with ACTION_STARTED/COMPLETED around it while someone listens."""
        if self.events.watching_actions:
            return await self._observed(action, plugin, msg, state, opts, limit)
        return await self._execute(action, plugin, msg, state, opts, limit)

    async def _observed(
        self,
        action: Action,
        plugin: str,
        msg: Memory,
        state: State | None,
        opts: dict[str, Any],
        limit: float | None,
    ) -> ActionResult:
        base = {"action": action.name, "plugin": plugin, "room_id": msg.room_id}
        await self.events.emit(
            EventType.ACTION_STARTED, {**base, "text": msg.content.text, "message": msg}
        )
        result = await self._execute(action, plugin, msg, state, opts, limit)
        await self.events.emit(
            EventType.ACTION_COMPLETED,
            {
                **base,
                "run_id": result.run_id,
                "success": result.success,
                "error_code": result.error_code,
                "result": result,
            },
        )
        return result


def order_plugins(plugins: list[Plugin], registered: Collection[str] = ()) -> list[Plugin]:
    """``plugins`` ordered so that each comes after its dependencies.

    Among plugins whose dependencies are met, the higher ``priority`` goes first, then the
    given order. Dependencies may also be satisfied by ``registered`` plugin names.

    Raises:
        PluginError: a plugin is listed twice, a dependency is neither in ``plugins`` nor
            registered, or the dependencies form a cycle (the cycle is named).
    """
    by_name: dict[str, Plugin] = {}
    for p in plugins:
        if not isinstance(p, Plugin):
            raise ValidationError(
                f"register_plugins expects Plugin objects, got {type(p).__name__}", field="plugins"
            )
        if p.name in by_name:
            raise PluginError(f"Plugin {p.name!r} is listed twice", plugin=p.name)
        by_name[p.name] = p
    for p in plugins:
        for dep in p.dependencies:
            if dep not in by_name and dep not in registered:
                raise PluginError(
                    f"Plugin {p.name!r} depends on {dep!r}, which is neither registered nor in "
                    "the list: add it to the list or register it first.",
                    plugin=p.name,
                    details={"missing": [dep]},
                )
    waiting = {p.name: {d for d in p.dependencies if d in by_name} for p in plugins}
    rank = {p.name: (-p.priority, i) for i, p in enumerate(plugins)}
    ordered: list[Plugin] = []
    while waiting:
        ready = [n for n, deps in waiting.items() if not deps]
        if not ready:
            cycle = _find_cycle(waiting)
            raise PluginError(
                f"Plugin dependency cycle: {' -> '.join(cycle)}",
                plugin=cycle[0],
                details={"cycle": cycle},
            )
        name = min(ready, key=rank.__getitem__)
        ordered.append(by_name[name])
        del waiting[name]
        for deps in waiting.values():
            deps.discard(name)
    return ordered


def _find_cycle(waiting: dict[str, set[str]]) -> list[str]:
    """A dependency cycle among plugins that all wait on something: ``[a, b, a]``."""
    path: list[str] = []
    node = min(waiting)
    while node not in path:
        path.append(node)
        node = min(waiting[node])
    return [*path[path.index(node) :], node]
