"""AgentRuntime: the agent, composed of a plugin host, a dispatcher, a message loop and records.

``AgentRuntime`` owns its collaborators and delegates to them in a line or two:

- :class:`~eliza_nb.plugin_host.PluginHost` registers and unregisters plugins (services,
  clients, lifecycle hooks, dependency order);
- :class:`~eliza_nb.dispatcher.Dispatcher` runs one action (every path runs actions through it);
- :class:`~eliza_nb.message_loop.MessageLoop` turns input into memories, composes state and
  processes messages (the agent loop when a text model is registered);
- :class:`~eliza_nb.records.MetricsRecorder` (``runtime.metrics``) builds every run and error row;
- :class:`~eliza_nb.reports.Reports` answers the frames and the snapshot;
- the model and event tables of :mod:`eliza_nb.models` and :mod:`eliza_nb.events`.

It also owns the blocking twins (``run_sync``, ``run``) and closing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eliza_nb import observability
from eliza_nb._blocking import run_blocking
from eliza_nb._checks import int_arg, mapping_arg, room_arg, shown
from eliza_nb.character import Character
from eliza_nb.dispatcher import Dispatcher, check_timeout
from eliza_nb.errors import ModelNotFoundError, ValidationError
from eliza_nb.events import EventEmitter, EventHandler, EventType
from eliza_nb.memory import MemoryManager
from eliza_nb.message_loop import MessageLoop
from eliza_nb.models import ModelHandler, ModelRegistry, call_model, model_key
from eliza_nb.node_plugins import NodePlugins
from eliza_nb.plugin import Action, Evaluator, Plugin, Provider, Service
from eliza_nb.plugin_host import LOCAL_PLUGIN, PluginHost
from eliza_nb.record_limits import RecordLimits
from eliza_nb.records import MetricsRecorder
from eliza_nb.registry import Registry
from eliza_nb.reports import Reports
from eliza_nb.settings import MASK, Settings, is_secret_key
from eliza_nb.store import MemoryStore, SQLiteStore
from eliza_nb.suites import run_suites
from eliza_nb.tracing import Tracer, tracing_on
from eliza_nb.types import ActionResult, Memory, State

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.store.base import TimeBound
    from eliza_nb.testing.cassette import Cassette
    from eliza_nb.traces import Trace

__all__ = ["LOCAL_PLUGIN", "AgentRuntime"]

T = TypeVar("T")


class AgentRuntime:
    """The agent: plugins, settings, memories, and a record of every run.

    Args:
        character: A ``Character`` (or a path to an elizaOS character file).
        settings: Explicit settings, the top layer of ``get_setting``.
        database: ``":memory:"`` (default), a SQLite file path, or a ``MemoryStore``.
        use_env: Read settings from the environment and ``.env`` (off for isolated tests).

    Example:
        >>> from eliza_nb import AgentRuntime, Plugin, action
        >>> @action()
        ... def noop(runtime, message, state, options, callback):
        ...     return "done"
        >>> rt = AgentRuntime()
        >>> rt.run_sync(rt.register_plugin(Plugin(name="demo", actions=[noop])))
        >>> rt.run("NOOP").text
        'done'
    """

    def __init__(
        self,
        character: Character | str | Path | None = None,
        settings: Mapping[str, Any] | None = None,
        database: str | Path | MemoryStore = ":memory:",
        *,
        use_env: bool = True,
    ) -> None:
        self.character = _character(character)
        self.agent_id = self.character.name if self.character else "agent"
        char_settings = self.character.settings if self.character else None
        self.settings = Settings(settings, char_settings, use_env=use_env)
        self.store = _store(database)
        limits = RecordLimits.from_settings(self.settings)  # RECORDS_IN_MEMORY, MAX_RECORDS
        self.metrics = MetricsRecorder(self.settings.masker, limits)
        #: Run traces (``eliza_nb.tracing``): on with the TRACING setting, and in the kernel.
        self.tracer = Tracer(self.metrics.span, self.settings.masker, tracing_on(self.settings))
        self.messages = MemoryManager(self, self.store, "messages", self.tracer)
        # One session per start; with a file store the records are flushed there (records.py).
        self.session_id = self.metrics.attach(self.store, self.agent_id)
        self.registry = Registry()
        self.models = ModelRegistry()
        self.events = EventEmitter(self, tracer=self.tracer)
        self.host = PluginHost(
            self, self.registry, self.settings, self.metrics, self.models, self.events
        )
        self.dispatcher = Dispatcher(
            self,
            self.registry,
            self.metrics,
            self.events,
            self.host.on_error,
            self.settings.masker,
            self.tracer,
        )
        self.dispatcher.slow_ms = observability.configure(self.settings)  # SLOW_ACTION_MS
        observability.mask_logs(self.settings.masker)  # log records of the eliza_nb tree
        #: Called with every finished ActionResult (the dashboard widget refreshes on it).
        self.run_listeners: list[Callable[[ActionResult], Any]] = self.dispatcher.listeners
        self.loop = MessageLoop(
            self,
            self.dispatcher,
            self.settings,
            self.models,
            self.events,
            self.messages,
            self.character,
        )
        self.reports = Reports(
            self.metrics, self.store, self.registry, self.settings, self.agent_id
        )
        #: The TypeScript plugins and their Node process (started by register_npm_plugin).
        self.node = NodePlugins(self)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def default_timeout(self) -> float | None:
        """Seconds a run may take when neither the call nor the action says (None: no limit)."""
        return self.dispatcher.default_timeout

    @default_timeout.setter
    def default_timeout(self, value: float | None) -> None:
        self.dispatcher.default_timeout = check_timeout(value)

    # -- settings -----------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        """Resolve a setting: explicit, character secrets, character settings, env, plugin defaults.

        Returns ``default`` when no layer has the key.
        """
        if not isinstance(key, str):
            raise ValidationError(
                f"setting keys are strings, got {type(key).__name__}", field="key"
            )
        return self.settings.get(key, default)

    async def set_setting(self, key: str, value: Any) -> None:
        """Set an explicit setting and tell every plugin through ``on_config_change``."""
        self.settings.set(key, value)
        if key in observability.SETTINGS:
            self.dispatcher.slow_ms = observability.configure(self.settings)
        if key == "TRACING":
            self.tracer.enabled = tracing_on(self.settings)
        await self.host.config_changed(key, value)
        # emit() masks the payload; a secret too short to mask is shown as *** all the same.
        shown = MASK if is_secret_key(key, self.settings.marked) else value
        await self.events.emit(EventType.SETTING_CHANGED, {"key": key, "value": shown})

    # -- plugins ------------------------------------------------------------------------
    async def register_plugin(self, plugin: Plugin) -> None:
        """Register a plugin, all or nothing; a plugin of the same name is replaced.

        Raises:
            ConfigurationError: required settings are missing (all are named).
            ValidationError / PluginError: the plugin is malformed, clashes with another
                plugin, or its ``on_load`` or a service failed. The runtime is left as it was.
        """
        await self.host.register(plugin)

    async def register_plugins(self, plugins: Iterable[Plugin]) -> None:
        """Register several plugins, each after its ``dependencies`` (then by ``priority``).

        All or nothing: if one fails, those this call added are unregistered again.

        Raises:
            PluginError: a dependency is missing or the dependencies form a cycle (named), or
                what ``register_plugin`` raises.
        """
        await self.host.register_all(plugins)

    async def register_npm_plugin(self, spec: str) -> Plugin:
        """Register an elizaOS TypeScript plugin from npm (or a folder), run by Node.

        ``spec`` is an npm spec (``"@elizaos/plugin-bootstrap@1.7.2"``) or the path of a
        folder holding a built plugin package. The package is installed once into a cache
        shared by every project (``eliza_nb.npm.cache_dir()``); one Node process per runtime
        loads it; its actions, providers, evaluators, models and tests become parts of an
        eliza_nb plugin that call across (see :mod:`eliza_nb.node_plugins`). Returns it.

        Raises:
            PluginError: Node 18+ or npm is missing, the package or version does not exist,
                its install failed, or it exports no plugin (each says what to do).
        """
        return await self.node.register(spec)

    async def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and all its parts, calling its ``on_unload`` and stopping services.

        Raises:
            PluginError: no plugin of that name is registered.
        """
        await self.host.unregister(name)

    async def register_action(self, action: Action, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one action under a plugin (``"local"`` by default), replacing a namesake."""
        await self.host.register_part("actions", action, plugin)

    async def register_provider(self, provider: Provider, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one provider under a plugin (``"local"`` by default)."""
        await self.host.register_part("providers", provider, plugin)

    async def register_evaluator(self, evaluator: Evaluator, plugin: str = LOCAL_PLUGIN) -> None:
        """Register one evaluator under a plugin (``"local"`` by default)."""
        await self.host.register_part("evaluators", evaluator, plugin)

    def plugin_settings(self, plugin: Plugin) -> dict[str, Any]:
        """The resolved value of every setting ``plugin.config`` names (what ``init`` gets)."""
        return self.host.plugin_settings(plugin)

    def get_service(self, service_type: str | type[Service]) -> Any:
        """The running service of that type (a ``service_type`` string or class), or None."""
        return self.host.get_service(service_type)

    # -- actions ------------------------------------------------------------------------
    async def execute_action(
        self,
        name: str,
        message: Any = None,
        *,
        options: Mapping[str, Any] | None = None,
        state: State | None = None,
        room_id: str | None = None,
        timeout: float | None = None,
    ) -> ActionResult:
        """Run one action by name or simile and record the run.

        Failures do not raise: validation refusals (``VALIDATION_FAILED``), handler exceptions
        (their code, or ``HANDLER_ERROR``) and timeouts (``TIMEOUT``) come back as
        ``success=False`` results and are written to the error log.

        Raises:
            ActionNotFoundError: no action has that name or simile (the closest are listed).
            ValidationError: ``name``, ``message``, ``options``, ``state`` or ``timeout`` have
                the wrong type (the field is named).
            asyncio.CancelledError: the run was cancelled (it is recorded as ``CANCELLED``).
        """
        action, plugin = self.dispatcher.find(name)
        msg = self.loop.to_memory(message, room_id=room_id)
        return await self.dispatcher.run(
            action, plugin, msg, state=state, options=options, timeout=timeout
        )

    async def run_batch(self, action: str, inputs: Any, **kwargs: Any) -> Any:
        """Run one action over many inputs: a DataFrame of results, one row per input.

        See :func:`eliza_nb.batch.run_batch` for the arguments (``concurrency``, ``timeout``,
        ``progress``, ``text_column``, ``option_columns``, ``backend="dask"``, ``client``, ...).
        """
        from eliza_nb.batch import run_batch

        return await run_batch(self, action, inputs, **kwargs)

    async def run_messages(self, inputs: Any, **kwargs: Any) -> pd.DataFrame:
        """Send many messages through ``process_message`` (each in its own room): one row
        each, ``index, text, actions, reply, responses, success, error_code, trace_id``.

        Under a cassette the frame is the same on every run: keep it as a regression baseline
        with ``check_baseline``. See :func:`eliza_nb.conversations.run_messages`.
        """
        from eliza_nb.conversations import run_messages

        return await run_messages(self, inputs, **kwargs)

    # -- messages -----------------------------------------------------------------------
    def to_memory(
        self, message: Any, *, room_id: str | None = None, user_id: str = "user"
    ) -> Memory:
        """Coerce text, ``Content``, a dict or a ``Memory`` into a ``Memory`` of this agent.

        Raises:
            ValidationError: the message is of another type or malformed (the field is named).
        """
        return self.loop.to_memory(message, room_id=room_id, user_id=user_id)

    async def compose_state(
        self,
        message: Any = None,
        include: Sequence[str] | None = None,
        only_include: bool = False,
        *,
        room_id: str | None = None,
        recent: int = 10,
    ) -> State:
        """Build the agent's ``State`` for a message, as elizaOS 1.7's ``composeState``.

        The providers that are neither ``private`` nor ``dynamic``, plus those ``include``
        names (with ``only_include=True``, just those), run concurrently, each under the
        ``PROVIDER_TIMEOUT`` setting (30 s by default). Their texts are joined in
        ``position`` order into ``state.text``, their ``values`` merged into
        ``state.values``, each ``ProviderResult`` kept in ``state.data["providers"][name]``.
        A provider that raises or times out is written to the error log (code
        ``PROVIDER_ERROR`` / ``TIMEOUT``) and left out; the state is still built.

        Raises:
            ValidationError: ``include`` names a provider that is not registered.
        """
        return await self.loop.compose_state(
            message, include, only_include, room_id=room_id, recent=recent
        )

    async def execute_actions(
        self,
        names: Sequence[str],
        message: Any = None,
        options: Mapping[str, Any] | None = None,
        *,
        state: State | None = None,
        room_id: str | None = None,
        timeout: float | None = None,
    ) -> list[ActionResult]:
        """Run a chain of actions on one message, as elizaOS 1.7 does: the steps' results.

        Each handler gets ``options["action_context"]`` (the results before it) and
        ``options["action_plan"]`` (the steps and their status); a step's ``values`` are
        merged into the state the next step sees. A failed step (an unknown name is a
        recorded ``ACTION_NOT_FOUND``) stops the chain unless its action sets
        ``continue_on_error``: the list holds the results of the steps that ran. Without
        ``state`` it is composed for the message first. See :mod:`eliza_nb.chains`.

        Raises:
            ValidationError: ``names`` is not a list of names, or ``options``, ``state`` or
                ``timeout`` are malformed.
        """
        return await self.loop.execute_actions(
            names, message, options, state=state, room_id=room_id, timeout=timeout
        )

    async def process_message(
        self, message: Any, *, room_id: str | None = None
    ) -> list[ActionResult]:
        """Store a message, route it to an action, run it, then run the evaluators.

        Routing: ``content.action`` if set, else the first action name or simile found in the
        text (words, any case). The action's responses are stored as the agent's memories.
        Evaluators run when ``always_run`` is set or their ``validate`` passes.
        Returns the results of the actions that ran ([] when none matched).

        With a text model registered (``TEXT_LARGE`` or ``TEXT_SMALL``) the model decides
        instead: this becomes the elizaOS agent loop of :func:`eliza_nb.agent.respond`.
        """
        return await self.loop.process_message(message, room_id=room_id)

    async def render_prompt(self, message: Any = None, *, room_id: str | None = None) -> str:
        """The exact prompt the agent loop would send the model for ``message`` (secrets masked).

        What ``%eliza prompt`` shows: the message-handler template (the character's
        ``templates["messageHandlerTemplate"]`` if it has one) filled from the composed state.
        Nothing is stored and no model is called.

        Raises:
            ValidationError: the message is malformed.
        """
        return await self.loop.render_prompt(message, room_id=room_id)

    def mark_group(self, room_id: str, group: bool = True) -> None:
        """Mark ``room_id`` as a group conversation (or not): the agent loop then asks the
        model whether to respond at all (the should-respond step), as elizaOS does in groups.
        """
        room = room_arg(room_id)
        (self.loop.group_rooms.add if group else self.loop.group_rooms.discard)(room)

    # -- models, events, plugin tests ---------------------------------------------------
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
        params = {**mapping_arg(params, "params"), **kwargs}
        entry = self.models.resolve(model_type)
        if entry is None:
            self.registry.require_open()  # a closed runtime serves no model: say why
            key = model_key(model_type)
            served = ", ".join(self.models.types()) or "none"
            raise ModelNotFoundError(
                f"No plugin serves model {key} (served: {served}). Register a model plugin, "
                "e.g. eliza_nb.testing.DeterministicModel().plugin offline or "
                "eliza_nb.plugins.openai_compat.plugin.",
                details={"model_type": key, "served": self.models.types()},
            )
        return await call_model(self, entry, params)

    def register_model(
        self, model_type: str, handler: ModelHandler, *, plugin: str = "local", priority: int = 0
    ) -> None:
        """Serve ``model_type`` with ``handler(runtime, params)``, outside any plugin."""
        if not callable(handler):
            raise ValidationError(
                f"model handler must be callable, got {shown(handler)}", field="handler"
            )
        self.models.add(model_type, handler, plugin, priority)

    def use_cassette(
        self, path: str | Path, mode: str = "replay", *, allow_repeats: bool = True
    ) -> Cassette:
        """Replay (or record) this runtime's model calls and eliza_nb's HTTP calls in ``path``.

        ``mode``: ``"replay"`` answers from the file with no model plugin (an unrecorded call
        raises code ``CASSETTE_MISS``), ``"record"`` records anew, ``"auto"`` replays what is
        there and records the rest. Returns the started :class:`eliza_nb.testing.Cassette`:
        ``with rt.use_cassette("c.json"): ...``, or keep it and call ``close()``.

        Raises:
            ElizaError: ``CASSETTE_ERROR``: the file cannot be read or written, or a cassette
                is in use already.
        """
        from eliza_nb.testing.cassette import Cassette  # the testing kit imports this module

        return Cassette(path, mode, allow_repeats=allow_repeats).start(self)

    def models_frame(self) -> pd.DataFrame:
        """One row per model handler: ``model_type, plugin, priority, handler, serving``."""
        return self.models.frame()

    def on(self, event: str, handler: EventHandler) -> EventHandler:
        """Call ``handler(payload[, runtime])`` on every ``event``; returns the handler."""
        return self.events.on(event, handler)

    async def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> None:
        """Emit an event to its handlers (a failing handler is logged, never raised).

        Raises:
            ValidationError: ``event`` is not a name, or ``payload`` not a dict with string keys.
        """
        data = mapping_arg(payload, "payload")
        if not all(isinstance(key, str) for key in data):
            raise ValidationError("payload keys must be strings", field="payload")
        await self.events.emit(event, data)

    def events_frame(self, last: int | None = None) -> pd.DataFrame:
        """The last events: ``seq, timestamp, event, handlers, failures, payload``."""
        return self.events.frame(last)

    async def run_plugin_tests(
        self, plugin: str | None = None, *, timeout: float | None = None
    ) -> pd.DataFrame:
        """Run the test suites of every registered plugin (or of ``plugin``) in this runtime.

        Returns a DataFrame ``plugin, suite, test, passed, duration_ms, error``; a failing test
        is a row with ``passed=False``, never an exception.

        Raises:
            PluginError: ``plugin`` is not registered.
            ValidationError: ``timeout`` is not a positive, finite number of seconds.
        """
        check_timeout(timeout)
        plugins = (
            list(self.registry.plugins.values())
            if plugin is None
            else [self.host.get_plugin(plugin)]
        )
        return await run_suites(self, plugins, timeout=timeout)

    # -- traces -------------------------------------------------------------------------
    def traces_frame(self, trace_id: str | None = None, last: int | None = None) -> pd.DataFrame:
        """One row per span of the run traces: ``trace_id, span_id, parent_id, kind, name,
        started_at, duration_ms, status, error_code, attributes``. ``trace_id`` picks one
        trace, ``last`` the newest traces. With a database file it holds earlier sessions'.

        Raises:
            ValidationError: ``last`` is not a positive whole number.
        """
        from eliza_nb.traces import traces_frame

        if last is not None:
            int_arg(last, "last", minimum=1)
        return traces_frame(self.metrics.history().span_rows(trace_id, last))

    def trace(self, trace_id: str = "last") -> Trace:
        """The run trace ``trace_id`` (``"last"``: the newest one), shown as a timeline.

        Raises:
            ElizaError: no trace has that id (code ``TRACE_NOT_FOUND``).
        """
        from eliza_nb.traces import Trace, trace_not_found

        history = self.metrics.history()
        if trace_id == "last":
            newest = history.span_rows(last=1)
            trace_id = newest[0][0] if newest else "last"
        elif not isinstance(trace_id, str):
            raise ValidationError(
                f"trace_id must be a trace id string, got {shown(trace_id)}", field="trace_id"
            )
        rows = history.span_rows(trace_id)
        if not rows:
            raise trace_not_found(trace_id, len(history.span_rows(last=1)))
        return Trace(rows)

    # -- frames -------------------------------------------------------------------------
    def metrics_frame(
        self,
        action: str | None = None,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
        session_id: int | None = None,
    ) -> pd.DataFrame:
        """One row per action execution: ``run_id, plugin, action, started_at, duration_ms,
        success, error_code, room_id, session_id``. ``action`` filters by name, ``start``/``end``
        (datetime, ISO string or epoch s) by time, ``session_id`` by runtime session. With a
        database file it holds the runs of earlier sessions too."""
        return self.reports.metrics_frame(action, start=start, end=end, session_id=session_id)

    def errors_frame(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """One row per logged error (secrets masked); filters as in ``metrics_frame``."""
        return self.reports.errors_frame(start=start, end=end, session_id=session_id)

    def memories_frame(
        self,
        room_id: str | None = None,
        *,
        table: str | None = None,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> pd.DataFrame:
        """One row per stored memory, optionally of one room, one table (``"messages"``,
        ``"notes"``, ...) and a time range; the ``table`` column says which."""
        return self.reports.memories_frame(room_id, table=table, start=start, end=end)

    def components_frame(self) -> pd.DataFrame:
        """One row per registered action, provider, evaluator, service, model and event handler
        list (``kind`` says which): ``plugin, kind, name, description, similes, parameters``
        (an action's typed parameters), ``position, dynamic, private`` (a provider's)."""
        return self.reports.components_frame()

    def metrics_summary(
        self, *, start: TimeBound = None, end: TimeBound = None, session_id: int | None = None
    ) -> pd.DataFrame:
        """Per action: runs, successes, failures, success_rate, mean/p50/p95/max ms (then
        min/total ms); over the same history and filters as ``metrics_frame``."""
        return self.reports.metrics_summary(start=start, end=end, session_id=session_id)

    def custom_metrics_frame(self) -> pd.DataFrame:
        """Handlers' own figures from ``runtime.metrics.increment`` / ``record``."""
        return self.reports.custom_metrics_frame()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture for snapshot tests: parts, masked settings, memories, run counts.

        Volatile fields (ids, times, durations) are left out so two runs compare equal.
        """
        return self.reports.snapshot()

    # -- blocking twins -----------------------------------------------------------------
    def run_sync(
        self,
        awaitable: Coroutine[Any, Any, T] | Awaitable[T],
        *,
        interruptible: bool | None = None,
    ) -> T:
        """Run a runtime coroutine to completion from sync code (script, test or kernel cell).

        In a plain script it uses the runtime's own event loop; inside a running loop patched by
        nest-asyncio (the kernel, after ``%load_ext eliza_nb``) it runs in place; inside another
        running loop it runs in a worker thread with a loop of its own.

        In a kernel (or with ``interruptible=True``) an interrupt cancels the run, which is
        recorded as ``CANCELLED``, and raises ``ActionCancelledError`` (one line in IPython);
        a script gets Python's ``KeyboardInterrupt``.
        """
        return run_blocking(awaitable, self._own_loop, interruptible=interruptible)

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def run(self, action: str, message: Any = None, **kwargs: Any) -> ActionResult:
        """Blocking twin of :meth:`execute_action` (same arguments)."""
        return self.run_sync(self.execute_action(action, message, **kwargs))

    # -- closing ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or :meth:`aclose`) has run."""
        return self.registry.closed

    async def aclose(self) -> None:
        """Unload every plugin (``on_unload``, services and clients stopped), close the store.

        Afterwards what would run, store or register something raises ``ElizaError`` with code
        ``RUNTIME_CLOSED``; the frames of this session can still be read.
        """
        if self.registry.closed:
            return
        source = self.models.source
        if source is not None:  # a cassette: it also holds the process's HTTP hook
            source.close()
        await self.host.unload_all()
        self.node.close()
        self.metrics.close()  # the last run records, then the session's end
        self.store.close()
        self.registry.closed = True

    def close(self) -> None:
        """Blocking twin of :meth:`aclose`; also closes the runtime's private loop."""
        self.run_sync(self.aclose())
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()

    def __repr__(self) -> str:
        plugins = ", ".join(self.registry.plugins) or "none"
        failing = self.metrics.write_error
        trouble = f", write_error={failing!r}" if failing else ""
        return (
            f"AgentRuntime(agent={self.agent_id!r}, plugins=[{plugins}], "
            f"runs={self.metrics.run_count}, errors={self.metrics.error_count}{trouble})"
        )

    def _repr_html_(self) -> str:
        from eliza_nb.reprs import runtime_html

        return runtime_html(self)

    async def __aenter__(self) -> AgentRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> AgentRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _character(character: Character | str | Path | None) -> Character | None:
    if isinstance(character, str | Path):
        return Character.from_file(character)
    if character is not None and not isinstance(character, Character):
        raise ValidationError("character must be a Character or a file path", field="character")
    return character


def _store(database: str | Path | MemoryStore) -> MemoryStore:
    if isinstance(database, str | Path):
        return SQLiteStore(database)
    if not callable(getattr(database, "create_memory", None)):
        raise ValidationError(
            f"database must be ':memory:', a file path or a MemoryStore, "
            f"got {type(database).__name__}",
            field="database",
        )
    return database
