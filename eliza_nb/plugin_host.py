"""The plugin host: plugins in and out of a runtime, all or nothing, with their hooks and parts.

It owns registration (checking a plugin, its dependencies and required settings, ``init`` and
``on_load``, starting services and clients), replacing a plugin of the same name, unregistering,
the dependency order of :func:`order_plugins`, the running services and clients, and the
lifecycle hooks that must never raise into the runtime (``on_unload``, ``on_config_change``,
``on_error``: a failure is logged and written to the error log).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from eliza_nb._calls import call_hook
from eliza_nb._checks import printable, shown
from eliza_nb.errors import Code, ConfigurationError, PluginError, ValidationError
from eliza_nb.events import EventType
from eliza_nb.handler_output import error_info
from eliza_nb.plugin import Plugin, Service

if TYPE_CHECKING:
    from eliza_nb.events import EventEmitter
    from eliza_nb.models import ModelRegistry
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings

__all__ = ["LOCAL_PLUGIN", "PluginHost", "order_plugins"]

log = logging.getLogger("eliza_nb")

#: The plugin that ``register_action`` / ``register_provider`` / ... add parts to by default.
LOCAL_PLUGIN = "local"


class PluginHost:
    """Registers plugins into a registry and keeps their services and clients running.

    Args:
        owner: The runtime handed to ``init``, ``on_load``, services and clients.
        registry: Where the plugins' actions, providers and evaluators are found.
        settings: The runtime's settings (required keys, defaults, secrets).
        recorder: Where hook failures are written (``runtime.metrics``).
        models, events: The per-plugin tables of model handlers and event handlers.
    """

    def __init__(
        self,
        owner: object,
        registry: Registry,
        settings: Settings,
        recorder: MetricsRecorder,
        models: ModelRegistry,
        events: EventEmitter,
    ) -> None:
        self.owner = owner
        self.registry = registry
        self.settings = settings
        self.recorder = recorder
        self.models = models
        self.events = events
        #: Running services by ``service_type``: (service, owning plugin).
        self.services: dict[str, tuple[Service, str]] = {}
        #: Started clients by owning plugin.
        self.clients: dict[str, list[Any]] = {}

    # -- in -----------------------------------------------------------------------------
    async def register(self, plugin: Plugin) -> None:
        """Register ``plugin``, all or nothing; a plugin of the same name is replaced.

        Raises:
            ConfigurationError: required settings are missing (all are named).
            ValidationError / PluginError: the plugin is malformed, clashes with another,
                misses a dependency, or its ``init``/``on_load``/a service failed. The runtime
                is left as it was.
        """
        self.registry.check(plugin)
        self._check_dependencies(plugin)
        self._check_settings(plugin)
        old = self.registry.plugins.get(plugin.name)
        if old is not None:
            await self._unload(old)
        try:
            await self._load(plugin)
        except BaseException:
            if old is not None:  # put the replaced plugin back: the runtime is as it was
                await self._load(old)
            raise
        log.info("registered plugin %s %s", plugin.name, plugin.version)
        payload = {"plugin": plugin.name, "version": plugin.version}
        await self.events.emit(EventType.PLUGIN_REGISTERED, payload)

    async def register_all(self, plugins: Iterable[Plugin]) -> None:
        """Register several plugins in dependency order; all or nothing.

        Raises:
            ValidationError: ``plugins`` is not a list (or other iterable) of plugins.
        """
        if isinstance(plugins, Plugin | str | bytes | Mapping) or not isinstance(plugins, Iterable):
            raise ValidationError(
                f"register_plugins expects a list of plugins, got {type(plugins).__name__}",
                field="plugins",
            )
        ordered = order_plugins(list(plugins), self.registry.plugins)
        fresh: list[str] = []
        try:
            for plugin in ordered:
                new = plugin.name not in self.registry.plugins
                await self.register(plugin)
                if new:
                    fresh.append(plugin.name)
        except BaseException:
            for name in reversed(fresh):  # all or nothing: drop what this call added
                await self.unregister(name)
            raise

    async def register_part(self, field: str, part: Any, plugin_name: str) -> None:
        """Add one action, provider or evaluator (``field`` names the list) to a plugin."""
        current = self.registry.plugins.get(plugin_name) or Plugin(name=plugin_name)
        parts = [p for p in getattr(current, field) if p.name != getattr(part, "name", None)]
        # replace() keeps the plugin's services, clients and hooks: only one list changes.
        changes: dict[str, Any] = {field: [*parts, part]}
        new = dataclasses.replace(current, **changes)
        self.registry.check(new)
        self.registry.add(new)

    def plugin_settings(self, plugin: Plugin) -> dict[str, Any]:
        """The resolved value of every setting ``plugin.config`` names (what ``init`` gets)."""
        cfg = plugin.config
        keys = dict.fromkeys([*cfg.required, *cfg.optional, *cfg.defaults])
        return {k: self.settings.get(k, cfg.defaults.get(k)) for k in keys}

    def _check_dependencies(self, plugin: Plugin) -> None:
        missing = [d for d in plugin.dependencies if d not in self.registry.plugins]
        if missing:
            raise PluginError(
                f"Plugin {plugin.name!r} depends on {', '.join(missing)}, not registered: "
                "register it first, or pass all of them to register_plugins([...]).",
                plugin=plugin.name,
                details={"missing": missing},
            )

    def _check_settings(self, plugin: Plugin) -> None:
        self.settings.mark_secret(plugin.config.secrets)
        saved = self.settings.defaults.get(plugin.name)
        self.settings.defaults[plugin.name] = dict(plugin.config.defaults)
        try:
            missing = [k for k in plugin.config.required if not self.settings.has(k)]
            for key in (*plugin.config.required, *plugin.config.optional):
                self.settings.get(key)  # resolving a secret registers it with the masker
        finally:
            if saved is None:
                del self.settings.defaults[plugin.name]
            else:
                self.settings.defaults[plugin.name] = saved
        if missing:
            raise ConfigurationError(
                f"Plugin {plugin.name!r}: Missing required settings: {', '.join(missing)}. "
                "Set them with runtime.set_setting, AgentRuntime(settings=...) "
                "or the environment.",
                details={"plugin": plugin.name, "missing": missing},
            )

    async def _load(self, plugin: Plugin) -> None:
        # init, on_load and services read their plugin's defaults through get_setting.
        self.settings.defaults[plugin.name] = dict(plugin.config.defaults)
        started: list[Any] = []
        try:
            await self._start(plugin, started)
        except Exception as exc:
            self.settings.defaults.pop(plugin.name, None)
            for part in reversed(started):
                await self._quietly(part.stop())
            # "from None": a chained cause would print the unmasked exception text; the
            # masked traceback travels in details instead.
            info = error_info(exc, self.settings.masker, code=Code.PLUGIN_ERROR)
            raise PluginError(
                f"Plugin {plugin.name!r} failed to load: {info.message}",
                plugin=plugin.name,
                details={"error_type": info.error_type, "traceback": info.traceback},
            ) from None
        for part in started:
            if isinstance(part, Service):
                self.services[type(part).service_type] = (part, plugin.name)
        self.clients[plugin.name] = [p for p in started if not isinstance(p, Service)]
        self.registry.add(plugin)
        self.models.add_plugin(plugin)
        self.events.add_plugin(plugin)

    async def _start(self, plugin: Plugin, started: list[Any]) -> None:
        """``init``, ``on_load``, then each service and client; ``started`` collects them."""
        if plugin.init is not None:  # elizaOS 1.x init(config, runtime)
            await call_hook(plugin.init, self.plugin_settings(plugin), self.owner)
        if plugin.on_load is not None:
            await call_hook(plugin.on_load, self.owner)
        for spec in plugin.services:
            svc = spec() if isinstance(spec, type) else spec
            await svc.initialize(self.owner)
            started.append(svc)
        for client in plugin.clients:
            await client.start(self.owner)
            started.append(client)

    # -- out ----------------------------------------------------------------------------
    async def unregister(self, name: str) -> None:
        """Remove a plugin and all its parts, calling ``on_unload`` and stopping services.

        Raises:
            PluginError: no plugin of that name is registered, or a registered plugin depends
                on it (the dependants are named: unregister them first).
        """
        plugin = self.get_plugin(name)
        others = [p for p in self.registry.plugins.values() if p is not plugin]
        dependants = [p.name for p in others if name in p.dependencies]
        if dependants:
            raise PluginError(
                f"Plugin {name!r} is needed by {', '.join(map(repr, dependants))}: "
                "unregister those first.",
                plugin=name,
                details={"dependants": dependants},
            )
        await self._unload(plugin)
        await self.events.emit(EventType.PLUGIN_UNREGISTERED, {"plugin": name})

    async def unload_all(self) -> None:
        """Unload every plugin, the last registered first (closing the runtime)."""
        for plugin in reversed(list(self.registry.plugins.values())):
            await self._unload(plugin)

    async def _unload(self, plugin: Plugin) -> None:
        self.registry.remove(plugin.name)
        self.models.remove_plugin(plugin.name)
        self.events.remove_plugin(plugin.name)
        self.settings.defaults.pop(plugin.name, None)
        for stype, (svc, owner) in list(self.services.items()):
            if owner == plugin.name:
                del self.services[stype]
                await self._quietly(svc.stop())
        for client in self.clients.pop(plugin.name, []):
            await self._quietly(client.stop())
        if plugin.on_unload is not None:
            await self.guarded_hook(plugin, "on_unload", self.owner)

    # -- lookups ------------------------------------------------------------------------
    def get_plugin(self, name: str) -> Plugin:
        """The registered plugin called ``name``.

        Raises:
            PluginError: none is (the registered names are listed).
        """
        plugin = self.registry.plugins.get(name) if isinstance(name, str) else None
        if plugin is None:
            known = ", ".join(sorted(self.registry.plugins)) or "none"
            raise PluginError(
                f"No plugin named {shown(name)} (registered: {known})", plugin=printable(name)
            )
        return plugin

    def get_service(self, service_type: str | type[Service]) -> Any:
        """The running service of that type (a ``service_type`` string or class), or None."""
        key = (
            service_type
            if isinstance(service_type, str)
            else getattr(service_type, "service_type", None)
        )
        if not isinstance(key, str):
            raise ValidationError(
                "get_service expects a service_type string or a Service class, "
                f"got {type(service_type).__name__}",
                field="service_type",
            )
        entry = self.services.get(key)
        return entry[0] if entry else None

    # -- hooks that never raise ---------------------------------------------------------
    async def on_error(self, plugin: str, exc: BaseException) -> None:
        """Call the ``on_error`` hook of ``plugin`` (if it has one) with a handler's exception."""
        owner = self.registry.plugins.get(plugin)
        if owner is not None and owner.on_error is not None:
            await self.guarded_hook(owner, "on_error", exc)

    async def config_changed(self, key: str, value: Any) -> None:
        """Tell every plugin about a changed setting through ``on_config_change``."""
        for plugin in list(self.registry.plugins.values()):
            if plugin.on_config_change is not None:
                await self.guarded_hook(plugin, "on_config_change", {key: value})

    async def guarded_hook(self, plugin: Plugin, hook: str, arg: Any) -> None:
        """Run a lifecycle hook; if it raises, log it and record it, never propagate."""
        try:
            await call_hook(getattr(plugin, hook), arg)
        except Exception as exc:
            info = self.recorder.failure(
                None, plugin.name, hook, error_info(exc, code=Code.PLUGIN_ERROR)
            )
            log.error("%s.%s raised: %s", plugin.name, hook, info.message)

    async def _quietly(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception as exc:  # stopping must go on for the other parts
            log.error("error while stopping: %s", printable(exc))  # the record is masked


def order_plugins(plugins: list[Plugin], registered: Collection[str] = ()) -> list[Plugin]:
    """``plugins`` ordered so that each comes after its dependencies.

    Among plugins whose dependencies are met, the higher ``priority`` goes first, then the
    given order. Dependencies may also be satisfied by ``registered`` plugin names.

    Raises:
        PluginError: a plugin is listed twice, a dependency is neither in ``plugins`` nor
            registered, or the dependencies form a cycle (the cycle is named).
    """
    by_name = _by_name(plugins)
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


def _by_name(plugins: list[Plugin]) -> dict[str, Plugin]:
    by_name: dict[str, Plugin] = {}
    for p in plugins:
        if not isinstance(p, Plugin):
            raise ValidationError(
                f"register_plugins expects Plugin objects, got {type(p).__name__}", field="plugins"
            )
        if p.name in by_name:
            raise PluginError(f"Plugin {p.name!r} is listed twice", plugin=p.name)
        by_name[p.name] = p
    return by_name


def _find_cycle(waiting: dict[str, set[str]]) -> list[str]:
    """A dependency cycle among plugins that all wait on something: ``[a, b, a]``."""
    path: list[str] = []
    node = min(waiting)
    while node not in path:
        path.append(node)
        node = min(waiting[node])
    return [*path[path.index(node) :], node]
