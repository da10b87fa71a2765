"""elizaOS TypeScript plugins as eliza_nb plugins: ``runtime.register_npm_plugin(spec)``.

:class:`NodePlugins` installs a package (:mod:`eliza_nb.npm`), has the runtime's one Node
process load it (:mod:`eliza_nb.node_bridge`) and registers a :class:`~eliza_nb.Plugin` whose
actions, providers, evaluators, models and test suites call across. They are ordinary parts:
each run goes through the dispatcher, so it is recorded, traced, masked and cut by
``timeout=`` like any other, and ``%eliza actions``, ``run_batch``, the widgets, the agent loop
and ``run_plugin_tests`` see them.

Example (needs Node 18+ and npm; the package is installed once into the shared cache)::

    plugin = await runtime.register_npm_plugin("@elizaos/plugin-bootstrap@1.7.2")
    state = await runtime.compose_state("hi", ["TIME"], only_include=True)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eliza_nb import npm
from eliza_nb.errors import ElizaError, PluginError
from eliza_nb.node_bridge import NodeBridge
from eliza_nb.node_runtime import NodeHost, NodeRuntime
from eliza_nb.node_shapes import (
    content_to_js,
    example_from_js,
    memory_to_js,
    options_to_js,
    provider_result_from_js,
    result_from_js,
    state_to_js,
)
from eliza_nb.plugin import Action, Evaluator, Plugin, PluginConfig, Provider
from eliza_nb.suites import TestCase, TestSuite
from eliza_nb.types import ActionExample

if TYPE_CHECKING:
    from eliza_nb.types import Memory, State

__all__ = ["LOAD_TIMEOUT", "NodePlugins"]

log = logging.getLogger("eliza_nb.bridge")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")
#: Seconds Node may take to import a package (bootstrap takes about 0.2 s).
LOAD_TIMEOUT = 60.0


class NodePlugins:
    """The TypeScript plugins of one runtime and the Node process that runs them.

    The process starts with the first ``register``; it is started again (and every package
    loaded again) on the first call after it died.
    """

    def __init__(self, runtime: NodeHost) -> None:
        self.runtime = runtime
        self.bridge: NodeBridge | None = None
        #: Package folder -> plugin name, in load order (what a restarted process loads).
        self.packages: dict[str, str] = {}
        self._parts: tuple[Any, ...] = ()

    async def register(self, spec: str) -> Plugin:
        """Install ``spec`` (an npm spec or a folder), load it in Node, register its plugin.

        Raises:
            PluginError: Node or npm is missing or too old, the package cannot be installed,
                it exports no plugin, or loading it threw (each says what to do).
            ValidationError: ``spec`` is not a package spec.
        """
        package = await asyncio.to_thread(npm.install, spec)
        bridge = self._bridge()
        folder = str(package.folder)
        try:
            manifest = await asyncio.to_thread(
                bridge.request_sync,
                "load",
                {"key": folder, "folder": folder, "name": package.name},
                LOAD_TIMEOUT,
            )
        except ElizaError as exc:
            raise _load_error(str(spec), exc) from None
        plugin = build_plugin(self, folder, manifest, package.version)
        await self.runtime.register_plugin(plugin)
        self.packages[folder] = plugin.name
        return plugin

    def _bridge(self) -> NodeBridge:
        if self.bridge is None:
            self.bridge = NodeBridge(npm.find_node(), NodeRuntime(self.runtime), self._on_start)
        return self.bridge

    def _on_start(self) -> list[dict[str, Any]]:
        """What a new Node process is told first: who the agent is, then every package."""
        rt = self.runtime
        character = _character(rt)
        init = {"op": "init", "agentId": rt.agent_id, "character": character}
        loads = [{"op": "load", "key": k, "folder": k, "name": n} for k, n in self.packages.items()]
        self._parts = tuple(map(id, rt.registry.plugins.values()))
        return [init, *loads, {"op": "parts", **_listing(self, rt.registry)}]

    async def request(self, op: str, payload: dict[str, Any], extra: Any = None) -> Any:
        """Send one call to Node, after telling it of any change in the registered parts."""
        bridge = self._bridge()
        self._sync_parts(bridge)
        return await bridge.request(op, payload, extra)

    def _sync_parts(self, bridge: NodeBridge) -> None:
        registry = self.runtime.registry
        stamp = tuple(map(id, registry.plugins.values()))
        if stamp == self._parts or not bridge.running:
            return  # unchanged, or the next request starts Node and _on_start lists the parts
        self._parts = stamp
        bridge.notify({"op": "parts", **_listing(self, registry)})

    def unload(self, folder: str) -> None:
        """Forget a package (its plugin was unregistered): a restarted process skips it."""
        self.packages.pop(folder, None)
        if self.bridge is not None:
            self.bridge.notify({"op": "unload", "key": folder})

    def close(self) -> None:
        """Stop the Node process (the runtime is closing)."""
        if self.bridge is not None:
            self.bridge.close()


def _character(rt: NodeHost) -> dict[str, Any]:
    """The character as TS code reads it, without its settings and secrets."""
    if rt.character is None:
        return {"name": rt.agent_id, "bio": [], "templates": {}}
    data = rt.character.model_dump(mode="json", exclude={"settings"})
    return {"templates": {}, **data}


def _listing(node: NodePlugins, registry: Any) -> dict[str, list[dict[str, Any]]]:
    """Every registered part as TS code lists them; ``key`` marks those Node holds itself."""
    keys = {name: folder for folder, name in node.packages.items()}

    def describe(part: Any, owner: str) -> dict[str, Any]:
        out = {"name": part.name, "description": part.description, "key": keys.get(owner)}
        if hasattr(part, "similes"):
            out["similes"] = part.similes
            out["examples"] = [
                [{"name": t.user, "content": content_to_js(t.content)} for t in c]
                for c in part.examples
            ]
        return out

    return {
        "actions": [describe(a, o) for a, o in _unique_actions(registry)],
        "providers": [describe(p, o) for p, o in registry.providers],
        "evaluators": [describe(e, o) for e, o in registry.evaluators],
    }


def _unique_actions(registry: Any) -> list[tuple[Action, str]]:
    """Each registered action once (the registry keys each by its name and every simile)."""
    return list({id(a): (a, o) for a, o in registry.actions.values()}.values())


# -- the plugin --------------------------------------------------------------------------------
def build_plugin(node: NodePlugins, key: str, manifest: Mapping[str, Any], version: str) -> Plugin:
    """The eliza_nb ``Plugin`` whose parts call the TS plugin ``manifest`` describes."""
    name = str(manifest["name"])
    seen = {str(a["name"]).upper() for a in manifest.get("actions", [])}
    plugin = Plugin(
        name=name,
        description=str(manifest.get("description") or ""),
        version=version if _SEMVER.match(version) else "0.0.0",
        actions=[_action(node, key, a, seen) for a in manifest.get("actions", [])],
        providers=[_provider(node, key, p) for p in manifest.get("providers", [])],
        evaluators=[_evaluator(node, key, e) for e in manifest.get("evaluators", [])],
        config=_config(manifest.get("config")),
        models={t: _model(node, key, t) for t in manifest.get("models", [])},
        tests=_suites(node, key, manifest.get("tests", [])),
        on_unload=lambda: node.unload(key),
    )
    if manifest.get("hasInit"):
        plugin.init = _init(node, key)
    return plugin


def _call(key: str, name: str, message: Memory, state: State | None) -> dict[str, Any]:
    return {"key": key, "name": name, "message": memory_to_js(message), "state": state_to_js(state)}


def _action(node: NodePlugins, key: str, spec: Mapping[str, Any], seen: set[str]) -> Action:
    name = str(spec["name"])

    async def handler(
        runtime: Any, message: Memory, state: State | None, options: dict[str, Any], callback: Any
    ) -> Any:
        payload = _call(key, name, message, state)
        payload["options"] = options_to_js(options)
        payload["responses"] = _responses(options.get("responses"), message)
        return result_from_js(await node.request("action", payload, callback), name)

    async def validate(runtime: Any, message: Memory, state: State | None) -> bool:
        return bool(await node.request("validate", _call(key, name, message, state)))

    return Action(
        name=name,
        handler=handler,
        description=str(spec.get("description") or ""),
        similes=_unique(spec.get("similes") or [], seen),
        examples=_examples(spec.get("examples") or []),
        validate=validate if spec.get("hasValidate") else None,
    )


def _responses(responses: Any, message: Memory) -> list[dict[str, Any]]:
    """The agent's decided responses (elizaOS's sixth handler argument) as memories."""
    out = []
    for content in responses or []:
        reply = message.model_copy(update={"content": content, "user_id": message.agent_id})
        out.append(memory_to_js(reply))
    return out


def _provider(node: NodePlugins, key: str, spec: Mapping[str, Any]) -> Provider:
    name = str(spec["name"])

    async def get(runtime: Any, message: Memory, state: State | None) -> Any:
        return provider_result_from_js(
            await node.request("provider", _call(key, name, message, state))
        )

    return Provider(
        name=name,
        get=get,
        description=str(spec.get("description") or ""),
        position=int(spec.get("position") or 0),
        dynamic=bool(spec.get("dynamic")),
        private=bool(spec.get("private")),
    )


def _evaluator(node: NodePlugins, key: str, spec: Mapping[str, Any]) -> Evaluator:
    name = str(spec["name"])

    async def handler(
        runtime: Any, message: Memory, state: State | None, options: Any, callback: Any
    ) -> Any:
        payload = _call(key, name, message, state)
        return result_from_js(await node.request("evaluator", payload, callback), name)

    async def validate(runtime: Any, message: Memory, state: State | None) -> bool:
        return bool(await node.request("evaluator_validate", _call(key, name, message, state)))

    return Evaluator(
        name=name,
        handler=handler,
        description=str(spec.get("description") or ""),
        similes=_unique(spec.get("similes") or [], {name.upper()}),
        examples=_examples(spec.get("examples") or []),
        validate=validate if spec.get("hasValidate") else None,
        always_run=bool(spec.get("alwaysRun")),
    )


def _model(node: NodePlugins, key: str, model_type: str) -> Any:
    async def handler(runtime: Any, params: dict[str, Any]) -> Any:
        return await node.request("model", {"key": key, "name": model_type, "params": params})

    return handler


def _init(node: NodePlugins, key: str) -> Any:
    async def init(config: dict[str, Any], runtime: Any) -> None:
        await node.request("plugin_init", {"key": key, "name": "init", "config": config})

    return init


def _suites(node: NodePlugins, key: str, suites: list[Mapping[str, Any]]) -> list[TestSuite]:
    def case(i: int, j: int, name: str) -> TestCase:
        async def fn(runtime: Any) -> None:
            await node.request("test", {"key": key, "name": name, "suite": i, "test": j})

        return TestCase(name, fn)

    return [
        TestSuite(str(s["name"]), [case(i, j, str(t)) for j, t in enumerate(s["tests"])])
        for i, s in enumerate(suites)
    ]


def _config(config: Any) -> PluginConfig:
    """A TS plugin's ``config`` (setting name -> default) as the settings it may read."""
    if not isinstance(config, Mapping):
        return PluginConfig()
    names = [str(k) for k in config]
    defaults = {str(k): v for k, v in config.items() if v is not None}
    return PluginConfig(optional=names, defaults=defaults)


def _unique(similes: list[Any], seen: set[str]) -> list[str]:
    """Similes no other part of the plugin claims (TS plugins may repeat one); ``seen`` grows."""
    out = []
    for simile in similes:
        text = str(simile).strip()
        if text and text.upper() not in seen:
            out.append(text)
            seen.add(text.upper())
    return out


def _examples(conversations: list[Any]) -> list[list[ActionExample]]:
    out = []
    for convo in conversations:
        try:
            out.append([ActionExample.model_validate(example_from_js(t)) for t in convo])
        except (ValueError, TypeError, AttributeError):
            log.debug("skipped an example the bridge cannot read: %r", convo)
    return out


def _load_error(spec: str, exc: ElizaError) -> PluginError:
    code = exc.details.get("js_code") if isinstance(exc.details, dict) else None
    if code == "NO_PLUGIN":
        what = exc.message.removeprefix("Error: ")
        return PluginError(
            f"{spec}: {what}; export a Plugin object (default or named)", plugin=spec
        )
    return PluginError(f"{spec} could not be loaded in Node: {exc.message}", plugin=spec)
