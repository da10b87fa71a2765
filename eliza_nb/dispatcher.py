"""The dispatcher: one action run, from a found action to its recorded ``ActionResult``.

Every path that runs an action (``execute_action``, ``process_message``, the agent loop,
``run_batch``, the Dask workers, the widgets) goes through :meth:`Dispatcher.run`, the way
pluggy sends every hook call through one ``_multicall``. It owns:

- finding an action by name or simile (:meth:`Dispatcher.find`);
- the one rule for the effective timeout (:meth:`Dispatcher.timeout_for`);
- one run: validate, the handler under its timeout, cancellation and interrupts, folding the
  return value, the run row and the error row (built by the recorder), ``on_error``, the
  slow-run warning and the run listeners;
- ``ACTION_STARTED`` / ``ACTION_COMPLETED`` around the run, in one place, only while someone
  listens (an unobserved run pays one attribute check).

``SystemExit`` and ``KeyboardInterrupt`` are treated alike with and without a timeout: the
timeout is an ``asyncio.timeout`` scope in the caller's task, never a task of its own (a task
would let ``SystemExit`` escape the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb import observability
from eliza_nb._checks import shown
from eliza_nb.errors import (
    ActionNotFoundError,
    ActionTimeoutError,
    Code,
    InvalidParametersError,
    ValidationError,
)
from eliza_nb.events import EventType
from eliza_nb.handler_output import Callback, error_info, fold_return
from eliza_nb.parameters import RESERVED_OPTIONS, check_options
from eliza_nb.tracing import NO_TRACER, Tracer
from eliza_nb.types import ActionResult, ErrorInfo, Memory, State

if TYPE_CHECKING:
    from eliza_nb.events import EventEmitter
    from eliza_nb.plugin import Action
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.registry import Registry
    from eliza_nb.settings import Masker

__all__ = ["Dispatcher", "ErrorHook", "RunListener", "check_state", "check_timeout"]

log = logging.getLogger("eliza_nb")
RunListener = Callable[[ActionResult], Any]
_perf = time.perf_counter
_now = time.time


class ErrorHook(Protocol):
    """Calls the ``on_error`` hook of the plugin that owns a failed action (the plugin host)."""

    def __call__(self, plugin: str, exc: BaseException) -> Awaitable[None]: ...


class Dispatcher:
    """Runs actions and records every run.

    Args:
        owner: The runtime handed to validators and handlers as their first argument.
        registry: Where actions are found.
        recorder: Where run and error rows go (``runtime.metrics``).
        events: The emitter of ``ACTION_STARTED`` / ``ACTION_COMPLETED``.
        on_error: Calls the owning plugin's ``on_error`` after a handler raised.
        masker: The runtime's secret masker (``runtime.settings.masker``).
    """

    __slots__ = (
        "default_timeout",
        "events",
        "listeners",
        "masker",
        "on_error",
        "owner",
        "recorder",
        "registry",
        "slow_ms",
        "tracer",
    )

    def __init__(
        self,
        owner: object,
        registry: Registry,
        recorder: MetricsRecorder,
        events: EventEmitter,
        on_error: ErrorHook,
        masker: Masker,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.owner = owner
        #: Wraps each run in an ``action`` span while it is enabled.
        self.tracer = tracer
        #: Masks what handlers hand back (callback contents, return values) as it enters.
        self.masker = masker
        self.registry = registry
        self.recorder = recorder
        self.events = events
        self.on_error = on_error
        #: Seconds a run may take when neither the call nor the action says (None: no limit).
        self.default_timeout: float | None = None
        #: Runs slower than this many ms are logged as slow (the ``SLOW_ACTION_MS`` setting).
        self.slow_ms = math.inf
        #: Called with every finished ``ActionResult`` (the dashboard refreshes on it).
        self.listeners: list[RunListener] = []

    # -- the rules ----------------------------------------------------------------------
    def find(self, name: str) -> tuple[Action, str]:
        """The action called ``name`` (or with that simile, any case) and its plugin's name.

        Raises:
            ActionNotFoundError: no such action (the closest names are suggested).
            ValidationError: ``name`` is not a string.
            ElizaError: the runtime is closed (code ``RUNTIME_CLOSED``).
        """
        if not isinstance(name, str):
            raise ValidationError(
                f"the action name must be a string, got {type(name).__name__}", field="name"
            )
        entry = self.registry.find(name)
        if entry is None:
            self.registry.require_open()  # a closed runtime has no actions: say why
            raise ActionNotFoundError(name, self.registry.suggest(name), len(self.registry.actions))
        return entry

    def timeout_for(self, action: Action, timeout: float | None = None) -> float | None:
        """The effective timeout of a run: the call's, else the action's, else the default.

        Raises:
            ValidationError: ``timeout`` is not a positive, finite number of seconds.
        """
        if timeout is not None:
            check_timeout(timeout)
        return timeout or action.timeout or self.default_timeout

    # -- running ------------------------------------------------------------------------
    def run(
        self,
        action: Action,
        plugin: str,
        message: Memory,
        *,
        state: State | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, ActionResult]:
        """Run ``action`` (of ``plugin``) on ``message`` and record the run: ``await`` it.

        Failures do not raise: a refusal of ``validate`` (``VALIDATION_FAILED``), a handler
        exception (its code, or ``HANDLER_ERROR``), a reported failure and a timeout
        (``TIMEOUT``) come back as ``success=False`` results and are written to the error log.

        The arguments are checked when it is called, before anything runs; it then returns
        the run's coroutine (one coroutine less per run than an ``async def`` wrapper).

        Raises:
            ValidationError: ``state``, ``options`` or ``timeout`` have the wrong type.
            asyncio.CancelledError / KeyboardInterrupt: (when awaited) the run was cancelled or
                interrupted; it is recorded as ``CANCELLED`` first.
        """
        check_state(state)
        opts = {} if options is None else _options(options)
        limit = self.timeout_for(action, timeout)
        execute = self._observed if self.events.watching_actions else self._execute
        if self.tracer.enabled:
            return self._traced(execute, action, plugin, message, state, opts, limit)
        return execute(action, plugin, message, state, opts, limit)

    def not_found(self, name: str, message: Memory) -> ActionResult:
        """A recorded ``ACTION_NOT_FOUND`` failure for a message that names an unknown action."""
        result = ActionResult(self.recorder.new_run_id(), name, "", False, started=_now())
        missing = ActionNotFoundError(name, self.registry.suggest(name), len(self.registry.actions))
        info = ErrorInfo(
            code=Code.ACTION_NOT_FOUND, message=missing.message, error_type="ActionNotFoundError"
        )
        return self._finish(result, message, info, 0.0)

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
        start = {**base, "text": msg.content.text, "message": msg}
        await self.events.emit(EventType.ACTION_STARTED, start)
        result = await self._execute(action, plugin, msg, state, opts, limit)
        done = {"run_id": result.run_id, "success": result.success, "result": result}
        done["error_code"] = result.error_code
        await self.events.emit(EventType.ACTION_COMPLETED, {**base, **done})
        return result

    async def _traced(
        self,
        execute: Callable[..., Coroutine[Any, Any, ActionResult]],
        action: Action,
        plugin: str,
        msg: Memory,
        state: State | None,
        opts: dict[str, Any],
        limit: float | None,
    ) -> ActionResult:
        """The run as an ``action`` span: a wrapper, the run itself is untouched."""
        shown = {k: v for k, v in opts.items() if k not in RESERVED_OPTIONS}
        with self.tracer.span(
            "action", action.name, plugin=plugin, text=msg.content.text, options=shown
        ) as span:
            result = await execute(action, plugin, msg, state, opts, limit)
            assert span is not None
            result.trace_id = span.trace_id
            span.set(run_id=result.run_id, result=_outcome(result))
            span.fail(result.error_code)
            return result

    async def _execute(
        self,
        action: Action,
        plugin: str,
        msg: Memory,
        state: State | None,
        opts: dict[str, Any],
        limit: float | None,
    ) -> ActionResult:
        run_id = self.recorder.new_run_id()
        result = ActionResult(run_id, action.name, plugin, False, None, None, None, None, _now())
        t0 = _perf()
        try:
            if action.parameters is not None and (bad := _typed(action, opts, result)):
                return self._finish(result, msg, bad, t0)
            if action.validate is not None and not await self.validate(action, msg, state):
                return self._finish(result, msg, _refused(action), t0)
            value = action.handler(
                self.owner, msg, state, opts, Callback(result.responses, self.masker)
            )  # type: ignore[misc]
            # A sync wrapper (lambda, decorator) around an async function returns a coroutine.
            if action.handler_is_async or asyncio.iscoroutine(value):
                value = await (_limited(value, action, limit) if limit else value)
            elif limit and _perf() - t0 > limit:  # a sync handler cannot be interrupted
                raise _late(action, limit)
            err = fold_return(value, result, self.masker)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            return self._stopped(result, msg, exc, t0)
        except GeneratorExit:  # the run's coroutine is being closed: not a handler failure
            raise
        except BaseException as exc:  # SystemExit too: sys.exit() must not stop the loop
            return await self._crashed(result, msg, exc, t0)
        if result.success:
            return self._finish(result, msg, None, t0)
        info = ErrorInfo(code=Code.HANDLER_ERROR, message=err or "", error_type="HandlerFailure")
        return self._finish(result, msg, info, t0)

    async def validate(self, action: Action, msg: Memory, state: State | None) -> bool:
        """What the action's ``validate`` says of ``msg`` (sync or async); True without one."""
        if action.validate is None:
            return True
        ok = action.validate(self.owner, msg, state)
        if action.validate_is_async or asyncio.iscoroutine(ok):
            ok = await ok
        return bool(ok)

    def _stopped(
        self, result: ActionResult, msg: Memory, exc: BaseException, t0: float
    ) -> ActionResult:
        """Record a cancelled or interrupted run, then re-raise (unless the handler did it)."""
        task = asyncio.current_task() if isinstance(exc, asyncio.CancelledError) else None
        if task is not None and not task.cancelling():
            # Nobody cancelled this run: the handler raised CancelledError (an inner task's).
            info = error_info(exc, code=Code.CANCELLED)
            info.message = f"{result.action}: the handler raised CancelledError itself"
            return self._finish(result, msg, info, t0)
        verb = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cancelled"
        info = ErrorInfo(
            code=Code.CANCELLED,
            message=f"{result.action} was {verb}",
            error_type=type(exc).__name__,
        )
        self._finish(result, msg, info, t0)
        raise exc

    async def _crashed(
        self, result: ActionResult, msg: Memory, exc: BaseException, t0: float
    ) -> ActionResult:
        self._finish(result, msg, error_info(exc), t0)
        await self.on_error(result.plugin, exc)
        return result

    def _finish(
        self, result: ActionResult, msg: Memory, info: ErrorInfo | None, t0: float
    ) -> ActionResult:
        """Record the run (and its failure), warn if slow, tell the listeners."""
        duration = (_perf() - t0) * 1000.0 if t0 else 0.0
        result.duration_ms = duration
        recorder = self.recorder
        code = None if info is None else info.code
        recorder.run(
            result.run_id, result.plugin, result.action, result.started, duration, msg.room_id, code
        )
        if info is not None:
            result.error = info = recorder.failure(
                result.run_id, result.plugin, result.action, info
            )
            where = f"{result.plugin}.{result.action}" if result.plugin else result.action
            observability.log_failure(where, info.code, info.message)
        # A cancelled run ended because someone stopped it, not because it was slow.
        if duration > self.slow_ms and code != Code.CANCELLED:
            observability.warn_slow(result.plugin, result.action, duration, self.slow_ms)
        for listener in tuple(self.listeners):  # a copy: a listener may leave the list meanwhile
            try:
                listener(result)
            except Exception as exc:  # a broken listener must not fail the run
                log.error("run listener %r raised: %s", listener, exc)
        return result


def _outcome(result: ActionResult) -> dict[str, Any]:
    """What an action span keeps of its result."""
    outcome: dict[str, Any] = {"success": result.success, "text": result.text}
    if result.values:
        outcome["values"] = result.values
    if result.data is not None:
        outcome["data"] = result.data
    if result.responses:
        outcome["responses"] = [c.text for c in result.responses]
    if result.error is not None:
        outcome["error"] = result.error.message
    return outcome


def check_state(state: Any) -> State | None:
    """``state`` itself, if it is None or a ``State``.

    Raises:
        ValidationError: it is anything else (a dict of values, say).
    """
    if state is not None and not isinstance(state, State):
        raise ValidationError(
            f"state must be a State from compose_state, got {type(state).__name__}",
            field="state",
        )
    return state


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` itself, if it is None or a positive, finite number of seconds.

    Raises:
        ValidationError: it is anything else (a bool, a string, 0, a negative, nan, inf).
    """
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < math.inf
    ):
        raise ValidationError(
            f"timeout must be a positive number of seconds, got {shown(timeout)}", field="timeout"
        )
    return timeout


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(options, Mapping):
        return dict(options)
    raise ValidationError(f"options must be a dict, got {type(options).__name__}", field="options")


def _typed(action: Action, opts: dict[str, Any], result: ActionResult) -> ErrorInfo | None:
    """Validate ``opts`` against the action's parameters; the model goes in ``opts``.

    On failure the problems go in ``result.data["errors"]`` (one dict per field).
    """
    assert action.parameters is not None
    try:
        opts["parameters"] = check_options(action.parameters, opts, action.name)
    except InvalidParametersError as exc:
        result.data = {"errors": exc.errors}
        return ErrorInfo(code=exc.code, message=exc.message, error_type=type(exc).__name__)
    return None


def _refused(action: Action) -> ErrorInfo:
    return ErrorInfo(
        code=Code.VALIDATION_FAILED,
        message=f"{action.name}: validate returned False",
        error_type="ValidationFailed",
    )


def _late(action: Action, limit: float) -> ActionTimeoutError:
    return ActionTimeoutError(
        f"{action.name} timed out after {limit} s; pass a larger timeout= or make the "
        "handler faster"
    )


async def _limited(value: Awaitable[Any], action: Action, limit: float) -> Any:
    """Await ``value`` under ``limit`` seconds, in the caller's own task."""
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await value
    except TimeoutError:
        if scope.expired():  # ours, not a TimeoutError the handler raised itself
            raise _late(action, limit) from None
        raise
