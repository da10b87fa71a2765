"""Registration: plugins in and out, all or nothing, with their hooks, services and clients.

A mixin of ``AgentRuntime``, kept apart so runtime.py stays about executing actions.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from eliza_nb._calls import call_hook
from eliza_nb._execution import error_info
from eliza_nb._parity import RuntimeParity
from eliza_nb.errors import ConfigurationError, PluginError, ValidationError
from eliza_nb.events import EventType
from eliza_nb.plugin import Action, Evaluator, Plugin, Provider, Service

if TYPE_CHECKING:
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Settings

__all__ = ["LOCAL_PLUGIN", "RuntimeRegistration"]

log = logging.getLogger("eliza_nb")
LOCAL_PLUGIN = "local"


class RuntimeRegistration(RuntimeParity):
    """``register_plugin``, ``unregister_plugin``, ``register_action`` ... of ``AgentRuntime``."""

    registry: Registry
    settings: Settings
    metrics: MetricsRecorder
    _services: dict[str, tuple[Service, str]]
    _clients: dict[str, list[Any]]

    # -- registration -------------------------------------------------------------------
    async def register_plugin(self, plugin: Plugin) -> None:
        """Register a plugin, all or nothing; a plugin of the same name is replaced.

        Raises:
            ConfigurationError: required settings are missing (all are named).
            ValidationError / PluginError: the plugin is malformed, clashes with another
                plugin, or its ``on_load`` or a service failed. The runtime is left as it was.
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
        await self.emit(
            EventType.PLUGIN_REGISTERED, {"plugin": plugin.name, "version": plugin.version}
        )

    async def register_plugins(self, plugins: Iterable[Plugin]) -> None:
        """Register several plugins, each after its ``dependencies`` (then by ``priority``).

        All or nothing: if one fails, those this call added are unregistered again.

        Raises:
            PluginError: a dependency is missing or the dependencies form a cycle (named), or
                what ``register_plugin`` raises.
        """
        await self._register_ordered(plugins)

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
        started: list[Any] = []
        # on_load and services read their plugin's defaults through get_setting.
        self.settings.defaults[plugin.name] = dict(plugin.config.defaults)
        try:
            await self._init_plugin(plugin)  # elizaOS 1.x init(config, runtime)
            if plugin.on_load is not None:
                await call_hook(plugin.on_load, self)
            for spec in plugin.services:
                svc = spec() if isinstance(spec, type) else spec
                await svc.initialize(self)
                started.append(svc)
            for client in plugin.clients:
                await client.start(self)
                started.append(client)
        except Exception as exc:
            self.settings.defaults.pop(plugin.name, None)
            for part in reversed(started):
                await self._quietly(part.stop())
            # "from None": a chained cause would print the unmasked exception text; the
            # masked traceback travels in details instead.
            info = error_info(exc, self.settings.masker, code="PLUGIN_ERROR")
            raise PluginError(
                f"Plugin {plugin.name!r} failed to load: {info.message}",
                plugin=plugin.name,
                details={"error_type": info.error_type, "traceback": info.traceback},
            ) from None
        for part in started:
            if isinstance(part, Service):
                self._services[type(part).service_type] = (part, plugin.name)
        self._clients[plugin.name] = [p for p in started if not isinstance(p, Service)]
        self.registry.add(plugin)
        self._attach_parts(plugin)

    async def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and all its parts, calling its ``on_unload`` and stopping services.

        Raises:
            PluginError: no plugin of that name is registered.
        """
        plugin = self.registry.plugins.get(name)
        if plugin is None:
            known = ", ".join(sorted(self.registry.plugins)) or "none"
            raise PluginError(f"No plugin named {name!r} (registered: {known})", plugin=name)
        await self._unload(plugin)
        await self.emit(EventType.PLUGIN_UNREGISTERED, {"plugin": name})

    async def _unload(self, plugin: Plugin) -> None:
        self.registry.remove(plugin.name)
        self._detach_parts(plugin.name)
        self.settings.defaults.pop(plugin.name, None)
        for stype, (svc, owner) in list(self._services.items()):
            if owner == plugin.name:
                del self._services[stype]
                await self._quietly(svc.stop())
        for client in self._clients.pop(plugin.name, []):
            await self._quietly(client.stop())
        if plugin.on_unload is not None:
            await self._guarded_hook(plugin, "on_unload", self)

    async def register_action(self, action: Action, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one action under a plugin (``"local"`` by default), replacing a namesake."""
        await self._register_part("actions", action, plugin)

    async def register_provider(self, provider: Provider, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one provider under a plugin (``"local"`` by default)."""
        await self._register_part("providers", provider, plugin)

    async def register_evaluator(self, evaluator: Evaluator, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one evaluator under a plugin (``"local"`` by default)."""
        await self._register_part("evaluators", evaluator, plugin)

    async def _register_part(self, field: str, part: Any, plugin_name: str) -> None:
        current = self.registry.plugins.get(plugin_name) or Plugin(name=plugin_name)
        parts = [p for p in getattr(current, field) if p.name != getattr(part, "name", None)]
        # replace() keeps the plugin's services, clients and hooks: only one list changes.
        changes: dict[str, Any] = {field: [*parts, part]}
        new = dataclasses.replace(current, **changes)
        self.registry.check(new)
        self.registry.add(new)

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
        entry = self._services.get(key)
        return entry[0] if entry else None

    async def _guarded_hook(self, plugin: Plugin, hook: str, arg: Any) -> None:
        """Run a lifecycle hook; if it raises, log it and record it, never propagate."""
        try:
            await call_hook(getattr(plugin, hook), arg)
        except Exception as exc:
            info = error_info(exc, self.settings.masker, code="PLUGIN_ERROR")
            self.metrics.errors.append(
                (
                    time.time(),
                    None,
                    plugin.name,
                    hook,
                    info.code,
                    info.error_type,
                    info.message,
                    info.traceback,
                )
            )
            log.error("%s.%s raised: %s", plugin.name, hook, info.message)

    async def _quietly(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception as exc:  # stopping must go on for the other parts
            log.error("error while stopping: %s", self.settings.masker.mask(str(exc)))
