"""Name and simile lookup, and the checks that make registration all-or-nothing.

The registry never changes in place while a plugin is checked: ``check`` raises before anything
is touched, and ``add``/``remove`` rebuild the lookup tables from the plugin list.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from typing import Any

from eliza_nb._checks import one_line, shown
from eliza_nb.errors import Code, ElizaError, PluginError, ValidationError
from eliza_nb.plugin import Action, Evaluator, Plugin, Provider, Service

__all__ = ["ENTRY_POINT_GROUP", "PARTS", "Registry", "locate"]

#: The entry-point group installed plugins are found in (``%eliza register NAME``).
ENTRY_POINT_GROUP = "eliza_nb.plugins"
#: What can be registered: a plugin, or one part of the ``local`` plugin.
PARTS = (Plugin, Action, Provider, Evaluator)


def _key(name: str) -> str:
    return name.strip().lower()


def _phrase(name: str) -> str:
    # FETCH_DATA is found in text as "fetch data", "fetch_data" or "fetch-data".
    words = re.split(r"[_\s-]+", name.strip())
    return r"[_\s-]+".join(re.escape(w) for w in words if w)


def _service_type(spec: Any) -> str:
    return str(getattr(spec if isinstance(spec, type) else type(spec), "service_type", ""))


class Registry:
    """Registered plugins and the lookup tables derived from them."""

    def __init__(self) -> None:
        self.plugins: dict[str, Plugin] = {}
        self.actions: dict[str, tuple[Action, str]] = {}
        self.providers: list[tuple[Provider, str]] = []
        self.evaluators: list[tuple[Evaluator, str]] = []
        self._text_pattern: re.Pattern[str] | None = None
        self._by_phrase: dict[str, tuple[Action, str]] = {}
        #: True once the owning runtime is closed: nothing is registered or run any more.
        self.closed = False

    def require_open(self) -> None:
        """Raise if the runtime is closed: the one check of every run, message and registration.

        Raises:
            ElizaError: code ``RUNTIME_CLOSED``.
        """
        if self.closed:
            raise ElizaError(
                "This runtime is closed: create a new AgentRuntime (in a notebook: %eliza reset).",
                code=Code.RUNTIME_CLOSED,
            )

    # -- checks -------------------------------------------------------------------------
    def check(self, plugin: Plugin) -> None:
        """Raise if ``plugin`` is malformed or clashes with another registered plugin."""
        self.require_open()
        if not isinstance(plugin, Plugin):
            raise ValidationError(
                f"register_plugin expects a Plugin, got {type(plugin).__name__}", field="plugin"
            )
        name = plugin.name
        self._check_parts(plugin)
        own = self._keys_of(plugin)
        for other_name, other in self.plugins.items():
            if other_name == name:
                continue  # the same name is replaced, not clashed with
            clash = own & self._keys_of(other)
            if clash:
                raise PluginError(
                    f"Plugin {name!r} clashes with plugin {other_name!r} on "
                    f"{', '.join(sorted(clash))}: rename one of them or unregister "
                    f"{other_name!r} first.",
                    plugin=name,
                )

    @staticmethod
    def _check_parts(plugin: Plugin) -> None:
        kinds: list[tuple[str, type, Iterable[Any]]] = [
            ("actions", Action, plugin.actions),
            ("providers", Provider, plugin.providers),
            ("evaluators", Evaluator, plugin.evaluators),
        ]
        for fld, cls, parts in kinds:
            seen: set[str] = set()
            for part in parts:
                if not isinstance(part, cls):
                    raise ValidationError(
                        f"Plugin {plugin.name!r}: field {fld!r} holds {type(part).__name__}, "
                        f"expected {cls.__name__}",
                        field=fld,
                        plugin=plugin.name,
                    )
                names = [getattr(part, "name", ""), *getattr(part, "similes", [])]
                for n in names:
                    if _key(n) in seen:
                        raise PluginError(
                            f"Plugin {plugin.name!r}: duplicate name {n!r} in {fld}",
                            plugin=plugin.name,
                        )
                    seen.add(_key(n))
        for client in plugin.clients:
            if not callable(getattr(client, "start", None)):
                raise ValidationError(
                    f"Plugin {plugin.name!r}: field 'clients' holds {shown(client)}; expected a "
                    "Client instance (with async start(runtime) and stop())",
                    field="clients",
                    plugin=plugin.name,
                )
        for svc in plugin.services:
            cls = svc if isinstance(svc, type) else type(svc)
            if not (isinstance(cls, type) and issubclass(cls, Service)) or not cls.service_type:
                raise ValidationError(
                    f"Plugin {plugin.name!r}: field 'services' holds {shown(svc)}; expected a "
                    "Service subclass (or instance) with a service_type",
                    field="services",
                    plugin=plugin.name,
                )

    @staticmethod
    def _keys_of(plugin: Plugin) -> set[str]:
        keys = {f"action {_key(n)}" for a in plugin.actions for n in (a.name, *a.similes)}
        keys |= {f"provider {_key(p.name)}" for p in plugin.providers}
        keys |= {f"evaluator {_key(e.name)}" for e in plugin.evaluators}
        # Two plugins with one service_type: get_service could reach only one of them.
        keys |= {f"service {_service_type(s)}" for s in plugin.services}
        return keys

    # -- changes ------------------------------------------------------------------------
    def add(self, plugin: Plugin) -> None:
        """Add (or replace) a checked plugin and rebuild the tables."""
        self.plugins[plugin.name] = plugin
        self._rebuild()

    def remove(self, name: str) -> Plugin | None:
        """Remove a plugin by name; returns it, or None if it was not registered."""
        plugin = self.plugins.pop(name, None)
        self._rebuild()
        return plugin

    def _rebuild(self) -> None:
        self.actions = {}
        self.providers = []
        self.evaluators = []
        for pname, plugin in self.plugins.items():
            for act in plugin.actions:
                for n in (act.name, *act.similes):
                    self.actions[n] = (act, pname)
                    self.actions[_key(n)] = (act, pname)
            self.providers += [(p, pname) for p in plugin.providers]
            self.evaluators += [(e, pname) for e in plugin.evaluators]
        self._by_phrase = {}
        for pname, plugin in self.plugins.items():
            for act in plugin.actions:
                for n in (act.name, *act.similes):
                    self._by_phrase[re.sub(r"[_\s-]+", " ", _key(n))] = (act, pname)
        phrases = sorted({_phrase(k) for k in self._by_phrase}, key=len, reverse=True)
        self._text_pattern = (
            re.compile(r"(?<![\w])(" + "|".join(phrases) + r")(?![\w])", re.IGNORECASE)
            if phrases
            else None
        )

    # -- lookups ------------------------------------------------------------------------
    def find(self, name: str) -> tuple[Action, str] | None:
        """The action (and its plugin name) for a name or simile, any case."""
        return self.actions.get(name) or self.actions.get(_key(name))

    def find_in_text(self, text: str) -> tuple[Action, str] | None:
        """The action whose name or simile appears first in ``text`` (words, any case)."""
        if self._text_pattern is None or not text:
            return None
        match = self._text_pattern.search(text)
        if match is None:
            return None
        return self._by_phrase.get(re.sub(r"[_\s-]+", " ", match.group(1).lower()))

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The registered action names and similes closest to ``name`` (any case), best first.

        One suggestion per action: its name or simile, whichever is closer. A simile is
        suggested as it is spelled, since it runs its action as the name does (a user who
        typed ``YEL`` meant the simile ``YELL`` rather than the action ``SHOUT``).
        """
        spelled: dict[str, tuple[str, str]] = {}  # lowercased -> (as registered, its action)
        for act, _ in self.actions.values():
            for word in (act.name, *act.similes):
                spelled.setdefault(word.lower(), (word, act.name))
        if not spelled:
            return []
        close = difflib.get_close_matches(
            str(name).lower(), list(spelled), n=len(spelled), cutoff=0.5
        )
        best: dict[str, str] = {}  # action -> its closest spelling, in order of closeness
        for word in close:
            best.setdefault(spelled[word][1], spelled[word][0])
        return list(best.values())[:n]

    def action_names(self) -> list[str]:
        """Every registered action name (not similes), sorted."""
        return sorted({a.name for a, _ in self.actions.values()})


def locate(spec: str, namespace: Mapping[str, Any] | None = None) -> Any:
    """The object ``spec`` names, without calling anything it finds (except as below).

    ``spec`` is ``var[.attr...]`` (a name of ``namespace``), ``module:attr[.attr...]``, or the
    name of an installed plugin's entry point (group ``eliza_nb.plugins``); an entry point that
    names a factory (a function, not a plugin or part) is called to make the plugin.

    Raises:
        PluginError: the spec is malformed, its module cannot be imported, an attribute is
            missing, no entry point has that name, or loading the entry point failed.
    """
    head, _, rest = spec.partition(".")
    if namespace is not None and head in namespace and ":" not in spec:
        return _attrs(namespace[head], rest, spec)
    if ":" in spec:
        module, _, attr = spec.partition(":")
        return _attrs(_import(module, spec), attr, spec)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=spec):
        return _load(ep)
    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    raise PluginError(
        f"{shown(spec)} is not a variable, a module:attr path or an installed plugin "
        f"(installed: {', '.join(installed) or 'none'})",
        plugin=spec,
    )


def _import(module: str, spec: str) -> Any:
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise PluginError(f"{shown(spec)}: {shown(module)} is not a module name", plugin=spec)
    try:
        return importlib.import_module(module)
    except Exception as exc:  # importing runs the module's code: anything may come out
        raise PluginError(
            f"cannot import {module!r}: {type(exc).__name__}: {one_line(exc)}", plugin=spec
        ) from None


def _attrs(obj: Any, dotted: str, spec: str) -> Any:
    for part in dotted.split(".") if dotted else ():
        if not part.isidentifier():
            raise PluginError(f"{shown(spec)}: {shown(part)} is not an attribute name", plugin=spec)
        try:
            obj = getattr(obj, part)
        except Exception:
            raise PluginError(f"{shown(spec)}: no attribute {part!r}", plugin=spec) from None
    return obj


def _load(ep: importlib.metadata.EntryPoint) -> Any:
    try:
        found = ep.load()
        if callable(found) and not isinstance(found, (*PARTS, type)):
            found = found()  # the entry point names a factory of the plugin
    except Exception as exc:
        raise PluginError(
            f"the installed plugin {ep.name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {one_line(exc)}",
            plugin=ep.name,
        ) from None
    return found
