"""AgentRuntime: registers plugins, runs actions, composes state, keeps memories and records."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from eliza_nb import observability
from eliza_nb._execution import Callback, error_info, fold_return
from eliza_nb._registration import LOCAL_PLUGIN, RuntimeRegistration
from eliza_nb._views import RuntimeViews
from eliza_nb.character import Character
from eliza_nb.errors import (
    ActionNotFoundError,
    ActionTimeoutError,
    ElizaError,
    ValidationError,
)
from eliza_nb.memory import MemoryManager
from eliza_nb.plugin import Action, Service
from eliza_nb.records import MetricsRecorder
from eliza_nb.registry import Registry
from eliza_nb.settings import Settings
from eliza_nb.store import MemoryStore, SQLiteStore
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory, State, quick_message

__all__ = ["LOCAL_PLUGIN", "AgentRuntime"]

log = logging.getLogger("eliza_nb")
T = TypeVar("T")


class AgentRuntime(RuntimeRegistration, RuntimeViews):
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
        if isinstance(character, str | Path):
            character = Character.from_file(character)
        if character is not None and not isinstance(character, Character):
            raise ValidationError("character must be a Character or a file path", field="character")
        self.character = character
        self.agent_id = character.name if character else "agent"
        self.settings = Settings(
            settings, character.settings if character else None, use_env=use_env
        )
        if not isinstance(database, str | Path) and not callable(
            getattr(database, "create_memory", None)
        ):
            raise ValidationError(
                f"database must be ':memory:', a file path or a MemoryStore, "
                f"got {type(database).__name__}",
                field="database",
            )
        self.store: MemoryStore = (
            SQLiteStore(database) if isinstance(database, str | Path) else database
        )
        self.messages = MemoryManager(self, self.store, "messages")
        self.metrics = MetricsRecorder(self.settings.masker)
        # One session per start; with a file store the records are flushed there (records.py).
        self.session_id = self.metrics.attach(self.store, self.agent_id)
        self._slow_ms = observability.configure(self.settings)  # SLOW_ACTION_MS, ELIZA_DEBUG
        self.registry = Registry()
        self._init_parity()  # models, events (see _parity.py)
        self.default_timeout: float | None = None
        # Called with every finished ActionResult (the dashboard widget refreshes on it).
        self.run_listeners: list[Callable[[ActionResult], Any]] = []
        self._services: dict[str, tuple[Service, str]] = {}
        self._clients: dict[str, list[Any]] = {}
        self._run_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

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
            self._slow_ms = observability.configure(self.settings)
        for plugin in list(self.registry.plugins.values()):
            if plugin.on_config_change is not None:
                await self._guarded_hook(plugin, "on_config_change", {key: value})
        await self._setting_changed(key, value)

    # -- execution ----------------------------------------------------------------------
    def to_memory(
        self, message: Any, *, room_id: str | None = None, user_id: str = "user"
    ) -> Memory:
        """Coerce text, ``Content``, a dict or a ``Memory`` into a ``Memory`` of this agent.

        Raises:
            ValidationError: the message is of another type or malformed (the field is named).
        """
        if room_id is not None:
            room_id = _room_str(room_id) if not isinstance(room_id, str) else room_id
            _check_text(room_id, "room_id")
        if message is None or isinstance(message, str):
            if message and not message.isascii():  # ASCII (the usual case) needs no check
                _check_text(message, "text")
            # The hot path: a fresh message without validation (all fields are known good).
            return quick_message(message or "", user_id, self.agent_id, room_id or "default")
        if isinstance(message, Memory):
            _check_memory(message)
            return message if room_id is None else message.model_copy(update={"room_id": room_id})
        try:
            if isinstance(message, Content):
                content = message
            elif isinstance(message, dict) and "content" in message:
                fields = {"agent_id": self.agent_id, **message}
                if room_id is not None:
                    fields["room_id"] = room_id
                return _check_memory(Memory.model_validate(fields))
            elif isinstance(message, dict):
                content = Content.model_validate(message)
            else:
                raise ValidationError(
                    "message must be text, a dict, Content or Memory, "
                    f"got {type(message).__name__}",
                    field="message",
                )
        except ElizaError:
            raise
        except Exception as exc:
            raise ValidationError(f"message is malformed: {exc}", field="message") from None
        _check_text(content.text, "text")
        return Memory(
            user_id=user_id, agent_id=self.agent_id, room_id=room_id or "default", content=content
        )

    def _find(self, name: str) -> tuple[Action, str]:
        if not isinstance(name, str):
            raise ValidationError(
                f"the action name must be a string, got {type(name).__name__}", field="name"
            )
        entry = self.registry.find(name)
        if entry is None:
            raise ActionNotFoundError(
                str(name), self.registry.suggest(str(name)), len(self.registry.actions)
            )
        return entry

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
            ValidationError: ``name``, ``message``, ``options`` or ``timeout`` have the wrong
                type (the field is named).
            asyncio.CancelledError: the run was cancelled (it is recorded as ``CANCELLED``).
        """
        action, plugin = self._find(name)
        msg = self.to_memory(message, room_id=room_id)
        if options is None:
            opts: dict[str, Any] = {}
        elif isinstance(options, Mapping):
            opts = dict(options)
        else:
            raise ValidationError(
                f"options must be a dict, got {type(options).__name__}", field="options"
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValidationError(
                f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        limit = timeout or action.timeout or self.default_timeout
        return await self._dispatch(action, plugin, msg, state, opts, limit)

    async def run_batch(self, action: str, inputs: Any, **kwargs: Any) -> Any:
        """Run one action over many inputs: a DataFrame of results, one row per input.

        See :func:`eliza_nb.batch.run_batch` for the arguments (``concurrency``, ``timeout``,
        ``progress``, ``text_column``, ``option_columns``, ``backend="dask"``, ``client``, ...).
        """
        from eliza_nb.batch import run_batch

        return await run_batch(self, action, inputs, **kwargs)

    async def _execute(
        self,
        action: Action,
        plugin: str,
        msg: Memory,
        state: State | None,
        opts: dict[str, Any],
        limit: float | None,
    ) -> ActionResult:
        run_id = next(self._run_ids)
        responses: list[Content] = []
        started = time.time()
        t0 = time.perf_counter()
        try:
            if action.validate is not None and not await self._validate(action, msg, state):
                info = ErrorInfo(
                    code="VALIDATION_FAILED",
                    message=f"{action.name}: validate returned False",
                    error_type="ValidationFailed",
                )
                return self._failed(run_id, action, plugin, msg, started, t0, responses, info)
            value = action.handler(self, msg, state, opts, Callback(responses))  # type: ignore[misc]
            # A sync wrapper (lambda, decorator) around an async function returns a coroutine.
            if action.handler_is_async or asyncio.iscoroutine(value):
                value = await (asyncio.wait_for(value, limit) if limit else value)
            elif limit and time.perf_counter() - t0 > limit:
                raise TimeoutError  # a sync handler cannot be interrupted: judged afterwards
            success, text, data, err = fold_return(value, responses)
        except asyncio.CancelledError as exc:
            info = ErrorInfo(
                code="CANCELLED",
                message=f"{action.name} was cancelled",
                error_type="CancelledError",
            )
            task = asyncio.current_task()
            if task is not None and not task.cancelling():
                # Nobody cancelled this run: the handler raised it (a cancelled inner task).
                info = error_info(exc, self.settings.masker, code="CANCELLED")
                info.message = f"{action.name}: the handler raised CancelledError itself"
                return self._failed(run_id, action, plugin, msg, started, t0, responses, info)
            self._failed(run_id, action, plugin, msg, started, t0, responses, info)
            raise
        except KeyboardInterrupt:  # the kernel's interrupt inside a sync handler
            info = ErrorInfo(
                code="CANCELLED",
                message=f"{action.name} was interrupted",
                error_type="KeyboardInterrupt",
            )
            self._failed(run_id, action, plugin, msg, started, t0, responses, info)
            raise
        except TimeoutError as own:
            if limit is None:  # the handler's own TimeoutError (a remote call), not a timeout=
                return await self._crashed(run_id, action, plugin, msg, started, t0, responses, own)
            late = ActionTimeoutError(
                f"{action.name} timed out after {limit} s; pass a larger "
                "timeout= or make the handler faster"
            )
            return await self._crashed(run_id, action, plugin, msg, started, t0, responses, late)
        except (Exception, SystemExit) as exc:  # sys.exit() in a handler must not stop the loop
            return await self._crashed(run_id, action, plugin, msg, started, t0, responses, exc)
        duration = (time.perf_counter() - t0) * 1000.0
        if not success:
            info = ErrorInfo(
                code="HANDLER_ERROR",
                message=self.settings.masker.mask(err or ""),
                error_type="HandlerFailure",
            )
            return self._failed(run_id, action, plugin, msg, started, t0, responses, info)
        self.metrics.runs.append(
            (run_id, plugin, action.name, started, duration, True, None, msg.room_id)
        )
        if duration > self._slow_ms:
            observability.warn_slow(plugin, action.name, duration, self._slow_ms)
        return self._notify(
            ActionResult(
                run_id, action.name, plugin, True, text, data, responses, None, started, duration
            )
        )

    async def _validate(self, action: Action, msg: Memory, state: State | None) -> bool:
        ok = action.validate(self, msg, state)  # type: ignore[misc]
        if action.validate_is_async or asyncio.iscoroutine(ok):
            ok = await ok
        return bool(ok)

    def _failed(
        self,
        run_id: int,
        action: Action,
        plugin: str,
        msg: Memory,
        started: float,
        t0: float,
        responses: list[Content],
        info: ErrorInfo,
    ) -> ActionResult:
        duration = (time.perf_counter() - t0) * 1000.0
        self.metrics.runs.append(
            (run_id, plugin, action.name, started, duration, False, info.code, msg.room_id)
        )
        if duration > self._slow_ms:
            observability.warn_slow(plugin, action.name, duration, self._slow_ms)
        self.metrics.errors.append(
            (
                time.time(),
                run_id,
                plugin,
                action.name,
                info.code,
                info.error_type,
                info.message,
                info.traceback,
            )
        )
        log.warning("%s.%s failed [%s]: %s", plugin, action.name, info.code, info.message)
        return self._notify(
            ActionResult(
                run_id, action.name, plugin, False, None, None, responses, info, started, duration
            )
        )

    def _notify(self, result: ActionResult) -> ActionResult:
        for listener in self.run_listeners:
            try:
                listener(result)
            except Exception as exc:  # a broken listener must not fail the run
                log.error("run listener %r raised: %s", listener, exc)
        return result

    async def _crashed(
        self,
        run_id: int,
        action: Action,
        plugin: str,
        msg: Memory,
        started: float,
        t0: float,
        responses: list[Content],
        exc: BaseException,
    ) -> ActionResult:
        info = error_info(exc, self.settings.masker)
        result = self._failed(run_id, action, plugin, msg, started, t0, responses, info)
        owner = self.registry.plugins.get(plugin)
        if owner is not None and owner.on_error is not None:
            await self._guarded_hook(owner, "on_error", exc)
        return result

    # -- blocking twins -----------------------------------------------------------------
    def run_sync(self, awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        """Run a runtime coroutine to completion from sync code (script, test or kernel cell).

        In a plain script it uses the runtime's own event loop; inside a running loop patched by
        nest-asyncio (the kernel, after ``%load_ext eliza_nb``) it runs in place; inside another
        running loop it runs in a worker thread with a loop of its own.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(awaitable)
        if getattr(running, "_nest_patched", False):
            return running.run_until_complete(awaitable)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _as_coroutine(awaitable)).result()

    def run(self, action: str, message: Any = None, **kwargs: Any) -> ActionResult:
        """Blocking twin of :meth:`execute_action` (same arguments)."""
        return self.run_sync(self.execute_action(action, message, **kwargs))

    # -- closing ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or :meth:`aclose`) has run."""
        return self._closed

    async def aclose(self) -> None:
        """Unload every plugin (``on_unload``, services and clients stopped), close the store."""
        if self._closed:
            return
        for plugin in reversed(list(self.registry.plugins.values())):
            await self._unload(plugin)
        self.metrics.close()  # the last run records, then the session's end
        self.store.close()
        self._closed = True

    def close(self) -> None:
        """Blocking twin of :meth:`aclose`; also closes the runtime's private loop."""
        self.run_sync(self.aclose())
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()

    def __repr__(self) -> str:
        plugins = ", ".join(self.registry.plugins) or "none"
        return (
            f"AgentRuntime(agent={self.agent_id!r}, plugins=[{plugins}], "
            f"runs={len(self.metrics.runs)}, errors={len(self.metrics.errors)})"
        )

    def _repr_html_(self) -> str:
        from eliza_nb.kernel.display import runtime_html

        return runtime_html(self)

    async def __aenter__(self) -> AgentRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> AgentRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _room_str(room_id: Any) -> str:
    if isinstance(room_id, uuid.UUID):
        return str(room_id)
    raise ValidationError(
        f"room_id must be a string, got {type(room_id).__name__}", field="room_id"
    )


def _check_text(text: str, field: str) -> None:
    """Reject lone surrogates: such text can be neither stored (UTF-8) nor sent to a notebook."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"message {field} is not valid Unicode: lone surrogate at position {exc.start}",
            field=field,
        ) from None


def _check_memory(memory: Memory) -> Memory:
    for field in ("room_id", "user_id", "agent_id"):
        _check_text(getattr(memory, field), field)
    _check_text(memory.content.text, "text")
    return memory


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
