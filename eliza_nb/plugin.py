"""Plugins and their parts: actions, providers, evaluators, services and clients.

A plugin bundles what an agent can do (actions), what it knows (providers), how it reflects
(evaluators) and what it keeps running (services, clients). Parts are checked when they are
created and again when the plugin is registered, so mistakes surface before anything runs.

Example:
    >>> @action(name="HELLO", description="Say hello", similes=["GREET"])
    ... async def hello(runtime, message, state, options, callback):
    ...     return f"Hello, {message.content.text or 'world'}!"
    >>> plugin = Plugin(name="greeter", actions=[hello])
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from eliza_nb._calls import is_async_callable
from eliza_nb._checks import pydantic_problem, shown
from eliza_nb.errors import ValidationError
from eliza_nb.events import normalize_events
from eliza_nb.models import normalize_models
from eliza_nb.parameters import check_parameters_class
from eliza_nb.settings import MASK, is_secret_key
from eliza_nb.suites import TestSuite, normalize_suites
from eliza_nb.types import ActionExample

__all__ = [
    "Action",
    "Client",
    "Evaluator",
    "Plugin",
    "PluginConfig",
    "Provider",
    "Service",
    "action",
    "evaluator",
    "provider",
]

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])
_Part = TypeVar("_Part", "Action", "Evaluator")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


def _fail(kind: str, name: object, fld: str, problem: str) -> ValidationError:
    plugin = name if kind == "Plugin" and isinstance(name, str) else None
    return ValidationError(
        f"{kind} {shown(name)}: field {fld!r} {problem}", field=fld, plugin=plugin
    )


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _fail(kind, name, "name", "must be a non-empty string")
    if not re.search(r"[^\W_]", name):  # "_" or "-" alone would match between any two words
        raise _fail(kind, name, "name", "must contain a letter or digit")
    return name


def _check_callable(kind: str, name: str, fld: str, fn: object, required: bool) -> None:
    if fn is None and not required:
        return
    if fn is None:
        raise _fail(kind, name, fld, "is required: pass a function")
    if not callable(fn):
        raise _fail(kind, name, fld, f"must be callable, got {type(fn).__name__}")


def _check_strings(kind: str, name: str, fld: str, values: object) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise _fail(kind, name, fld, f"must be a list of strings, got {type(values).__name__}")
    if not all(isinstance(v, str) and v for v in values):
        raise _fail(kind, name, fld, "must hold only non-empty strings")
    return list(values)


def _coerce_examples(kind: str, name: str, examples: object) -> list[list[ActionExample]]:
    """Accept ActionExample objects or elizaOS-style dicts ``{"user": ..., "content": {...}}``."""
    if isinstance(examples, str | bytes) or not isinstance(examples, Sequence):
        raise _fail(kind, name, "examples", "must be a list of conversations (lists of turns)")
    out: list[list[ActionExample]] = []
    for i, convo in enumerate(examples):
        if isinstance(convo, str | bytes | dict) or not isinstance(convo, Sequence):
            problem = f"item {i} must be a list of turns, not {shown(convo)}"
            raise _fail(kind, name, "examples", problem)
        try:
            out.append([ActionExample.model_validate(turn) for turn in convo])
        except PydanticValidationError as exc:
            where, what = pydantic_problem(exc)
            raise _fail(kind, name, "examples", f"item {i}: {where or 'turn'}: {what}") from None
    return out


@dataclass(eq=False)
class Action:
    """Something the agent can do.

    Args:
        name: Unique name, matched case-insensitively (``MY_ACTION``).
        handler: ``handler(runtime, message, state, options, callback)``, sync or async. It may
            return a ``Content``, ``dict``, ``str`` or ``ActionResult``-like dict, and report to
            the user through ``callback(content)``.
        description: What it does (shown in widgets and used by the agent loop).
        similes: Other names that run it.
        examples: Conversations showing it in use: lists of ``ActionExample`` (or dicts).
        validate: ``validate(runtime, message, state) -> bool``, sync or async; optional.
        timeout: Default timeout in seconds for this action, if any.
        parameters: A pydantic model class describing the options (elizaOS 1.7's typed
            parameters). The options are validated against it before the handler runs; the
            handler gets the model in ``options["parameters"]``; invalid options fail the run
            with code ``INVALID_PARAMETERS``. Without it, options stay free-form.
        continue_on_error: In a chain (``execute_actions``), a failure of this action does
            not stop the steps after it.
    """

    name: str
    handler: Handler | None = None
    description: str = ""
    similes: list[str] = field(default_factory=list)
    examples: list[list[ActionExample]] = field(default_factory=list)
    validate: Handler | None = None
    timeout: float | None = None
    parameters: type[BaseModel] | None = None
    continue_on_error: bool = False
    handler_is_async: bool = field(init=False, default=False, repr=False)
    validate_is_async: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        _check_name("Action", self.name)
        _check_callable("Action", self.name, "handler", self.handler, required=True)
        _check_callable("Action", self.name, "validate", self.validate, required=False)
        self.similes = _check_strings("Action", self.name, "similes", self.similes)
        self.examples = _coerce_examples("Action", self.name, self.examples)
        if not isinstance(self.description, str):
            raise _fail("Action", self.name, "description", "must be a string")
        if self.timeout is not None and not (
            isinstance(self.timeout, int | float) and self.timeout > 0
        ):
            raise _fail("Action", self.name, "timeout", "must be a positive number of seconds")
        problem = check_parameters_class(self.parameters)
        if problem is not None:
            raise _fail("Action", self.name, "parameters", problem)
        if not isinstance(self.continue_on_error, bool):
            raise _fail("Action", self.name, "continue_on_error", "must be True or False")
        self.handler_is_async = is_async_callable(self.handler)
        self.validate_is_async = is_async_callable(self.validate)

    def validator(self, fn: F) -> F:
        """Decorator: set this action's ``validate(runtime, message, state)`` function."""
        _check_callable("Action", self.name, "validate", fn, required=True)
        self.validate = fn
        self.validate_is_async = is_async_callable(fn)
        return fn


@dataclass(eq=False)
class Provider:
    """Feeds the agent's state: ``get(runtime, message, state)``, sync or async.

    ``get`` returns a :class:`~eliza_nb.ProviderResult` (or a dict of its ``text``,
    ``values``, ``data`` keys), as in elizaOS 1.7; any other value ``v`` is kept as
    ``state.values[name] = v`` and its text joins ``state.text``.

    Args:
        position: Composition order (lower first; ties keep registration order).
        dynamic: Only composed when asked for by name (``compose_state(include=[...])``, or
            named by the model in the agent loop).
        private: Never in the default composition; only when asked for by name.
    """

    name: str
    get: Handler | None = None
    description: str = ""
    position: int = 0
    dynamic: bool = False
    private: bool = False
    get_is_async: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        _check_name("Provider", self.name)
        _check_callable("Provider", self.name, "get", self.get, required=True)
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise _fail("Provider", self.name, "position", "must be an integer")
        for flag in ("dynamic", "private"):
            if not isinstance(getattr(self, flag), bool):
                raise _fail("Provider", self.name, flag, "must be True or False")
        self.get_is_async = is_async_callable(self.get)


@dataclass(eq=False)
class Evaluator:
    """Reflects on a message after actions ran.

    Runs when ``always_run`` is true or its ``validate(runtime, message, state)`` passes;
    ``handler`` has the action signature.
    """

    name: str
    handler: Handler | None = None
    description: str = ""
    similes: list[str] = field(default_factory=list)
    examples: list[list[ActionExample]] = field(default_factory=list)
    validate: Handler | None = None
    always_run: bool = False

    def __post_init__(self) -> None:
        _check_name("Evaluator", self.name)
        _check_callable("Evaluator", self.name, "handler", self.handler, required=True)
        _check_callable("Evaluator", self.name, "validate", self.validate, required=False)
        self.similes = _check_strings("Evaluator", self.name, "similes", self.similes)
        self.examples = _coerce_examples("Evaluator", self.name, self.examples)

    def validator(self, fn: F) -> F:
        """Decorator: set this evaluator's ``validate`` function."""
        _check_callable("Evaluator", self.name, "validate", fn, required=True)
        self.validate = fn
        return fn


class Service(ABC):
    """A long-lived helper a plugin provides, started by the runtime and found by type.

    Subclasses set ``service_type`` and implement ``initialize``; the runtime calls it at
    registration and ``stop()`` at unregistration or close. Reach it with
    ``runtime.get_service(service_type)``.
    """

    service_type: ClassVar[str] = ""

    @abstractmethod
    async def initialize(self, runtime: Any) -> None:
        """Prepare the service (open connections, load data).

        ``runtime`` is the ``AgentRuntime`` registering the plugin. It is typed ``Any``: an
        override may annotate it as ``AgentRuntime`` (mypy refuses that narrowing of a
        ``PluginRuntime``), and this module, below the runtime, does not import it.
        """

    async def stop(self) -> None:  # noqa: B027 - optional hook with a default
        """Release what ``initialize`` acquired. Optional."""


class Client(ABC):
    """A connection to the outside (a chat platform, a queue) started with the runtime."""

    @abstractmethod
    async def start(self, runtime: Any) -> None:
        """Start listening; called at registration (``runtime``: see ``Service.initialize``)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook with a default
        """Stop listening; called at unregistration or close."""


class PluginConfig(BaseModel):
    """The settings a plugin needs.

    ``required`` keys must resolve (see ``AgentRuntime.get_setting``) for registration to
    succeed; ``defaults`` are the last layer of lookup; ``secrets`` marks extra keys whose
    values are masked (keys ending in KEY, TOKEN, SECRET or PASSWORD always are).
    """

    model_config = ConfigDict(extra="forbid")

    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)
    defaults: dict[str, Any] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A default may be a secret (a local API key): a repr must never show it.
        for key, value in super().__repr_args__():
            if key == "defaults" and isinstance(value, dict):
                value = {k: MASK if is_secret_key(k, self.secrets) else v for k, v in value.items()}
            yield key, value


def _check_1x(plugin: Plugin) -> None:
    """Check (and normalize) the elizaOS 1.x fields of a plugin."""
    name = plugin.name
    _check_callable("Plugin", name, "init", plugin.init, required=False)
    plugin.dependencies = _check_strings("Plugin", name, "dependencies", plugin.dependencies)
    if name in plugin.dependencies:
        raise _fail("Plugin", name, "dependencies", "must not name the plugin itself")
    if isinstance(plugin.priority, bool) or not isinstance(plugin.priority, int):
        raise _fail("Plugin", name, "priority", "must be an integer")
    plugin.models = normalize_models(name, plugin.models)
    plugin.events = normalize_events(name, plugin.events)
    plugin.tests = normalize_suites(name, plugin.tests)


@dataclass(eq=False)
class Plugin:
    """A named bundle of actions, providers, evaluators, services and clients.

    Lifecycle hooks are optional and may be sync or async: ``on_load(runtime)``,
    ``on_unload(runtime)``, ``on_config_change(new_settings)``, ``on_error(error)``. A hook may
    take fewer arguments than offered.

    elizaOS 1.x fields: ``init(config, runtime)`` runs at registration with the resolved
    settings; ``models`` maps a ``ModelType`` to ``handler(runtime, params)``; ``events`` maps
    an event name to handlers; ``tests`` holds ``TestSuite`` objects; ``dependencies`` names
    plugins that must be registered first; ``priority`` decides which plugin serves a model.
    All are checked here, when the plugin is created.
    """

    name: str
    description: str = ""
    version: str = "0.1.0"
    actions: list[Action] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    evaluators: list[Evaluator] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)
    config: PluginConfig = field(default_factory=PluginConfig)
    on_load: Handler | None = None
    on_unload: Handler | None = None
    on_config_change: Handler | None = None
    on_error: Handler | None = None
    # elizaOS 1.x: init(config, runtime) at registration, models, events, test suites,
    # dependencies (plugin names, registered first) and priority (higher wins model lookups).
    init: Handler | None = None
    dependencies: list[str] = field(default_factory=list)
    priority: int = 0
    models: dict[str, Handler] = field(default_factory=dict)
    events: dict[str, list[Handler]] = field(default_factory=dict)
    tests: list[TestSuite] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_name("Plugin", self.name)
        if not isinstance(self.version, str) or not _SEMVER.match(self.version):
            raise _fail("Plugin", self.name, "version", "must be a semver string like '1.2.3'")
        if isinstance(self.config, dict):
            try:
                self.config = PluginConfig.model_validate(self.config)
            except PydanticValidationError as exc:
                where, what = pydantic_problem(exc)
                raise _fail("Plugin", self.name, f"config.{where}", what) from None
        elif not isinstance(self.config, PluginConfig):
            raise _fail("Plugin", self.name, "config", "must be a PluginConfig or a dict")
        for hook in ("on_load", "on_unload", "on_config_change", "on_error"):
            _check_callable("Plugin", self.name, hook, getattr(self, hook), required=False)
        for fld in ("actions", "providers", "evaluators", "services", "clients"):
            value = getattr(self, fld)
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise _fail("Plugin", self.name, fld, f"must be a list, got {type(value).__name__}")
            setattr(self, fld, list(value))
        _check_1x(self)

    def _repr_html_(self) -> str:
        from eliza_nb.reprs import plugin_html

        return plugin_html(self)


@overload
def action(name: Handler, /) -> Action: ...


@overload
def action(
    name: str | None = None,
    *,
    description: str | None = None,
    similes: Sequence[str] = (),
    examples: Sequence[Any] = (),
    timeout: float | None = None,
    parameters: type[BaseModel] | None = None,
    continue_on_error: bool = False,
) -> Callable[[Handler], Action]: ...


def action(
    name: str | Handler | None = None,
    *,
    description: str | None = None,
    similes: Sequence[str] = (),
    examples: Sequence[Any] = (),
    timeout: float | None = None,
    parameters: type[BaseModel] | None = None,
    continue_on_error: bool = False,
) -> Action | Callable[[Handler], Action]:
    """Decorator: turn a handler function into an :class:`Action`.

    The name defaults to the function's name in upper case, the description to its docstring.
    ``@action`` without parentheses works too.

    Example:
        >>> @action(similes=["PING"])
        ... def echo(runtime, message, state, options, callback):
        ...     return message.content.text
        >>> echo.name
        'ECHO'
    """
    fields: dict[str, Any] = {"similes": list(similes), "examples": list(examples)}
    fields |= {"timeout": timeout, "parameters": parameters, "continue_on_error": continue_on_error}
    return _handler_part(Action, name, description, fields)


@overload
def provider(name: Handler, /) -> Provider: ...


@overload
def provider(
    name: str | None = None,
    *,
    description: str | None = None,
    position: int = 0,
    dynamic: bool = False,
    private: bool = False,
) -> Callable[[Handler], Provider]: ...


def provider(
    name: str | Handler | None = None,
    *,
    description: str | None = None,
    position: int = 0,
    dynamic: bool = False,
    private: bool = False,
) -> Provider | Callable[[Handler], Provider]:
    """Decorator: turn ``get(runtime, message, state)`` into a :class:`Provider`.

    The name defaults to the function's name; ``@provider`` without parentheses works too.

    Example:
        >>> from eliza_nb import ProviderResult
        >>> @provider(name="TIME", position=-1)
        ... def now(runtime, message, state):
        ...     return ProviderResult(text="It is noon.", values={"time": "12:00"})
        >>> now.position
        -1
    """

    def wrap(fn: Handler) -> Provider:
        doc = description if description is not None else (fn.__doc__ or "").strip()
        flags = {"position": position, "dynamic": dynamic, "private": private}
        return Provider(name=name or fn.__name__, get=fn, description=doc, **flags)  # type: ignore[arg-type]

    if callable(name):  # used bare, as @provider
        fn, name = name, None
        return wrap(fn)
    return wrap


@overload
def evaluator(name: Handler, /) -> Evaluator: ...


@overload
def evaluator(
    name: str | None = None,
    *,
    description: str | None = None,
    similes: Sequence[str] = (),
    examples: Sequence[Any] = (),
    always_run: bool = False,
) -> Callable[[Handler], Evaluator]: ...


def evaluator(
    name: str | Handler | None = None,
    *,
    description: str | None = None,
    similes: Sequence[str] = (),
    examples: Sequence[Any] = (),
    always_run: bool = False,
) -> Evaluator | Callable[[Handler], Evaluator]:
    """Decorator: turn a handler into an :class:`Evaluator` (``@evaluator`` bare works too)."""
    fields = {"similes": list(similes), "examples": list(examples), "always_run": always_run}
    return _handler_part(Evaluator, name, description, fields)


def _handler_part(
    make: Callable[..., _Part],
    name: str | Handler | None,
    description: str | None,
    fields: dict[str, Any],
) -> _Part | Callable[[Handler], _Part]:
    """What ``@action`` and ``@evaluator`` give: the part when used bare, else a decorator.

    The name defaults to the function's name in upper case, the description to its docstring.
    """
    label = None if callable(name) else name

    def wrap(fn: Handler) -> _Part:
        doc = description if description is not None else (fn.__doc__ or "").strip()
        return make(name=label or fn.__name__.upper(), handler=fn, description=doc, **fields)

    return wrap(name) if callable(name) else wrap  # callable: used bare, as @action
