"""Notebook widgets built from stock ipywidgets: an action runner and a live metrics dashboard.

The action runner shows a form for an action with typed parameters (:class:`ParametersForm`)
and a free-form options editor for the others.

Both are testable without a browser: every button has a programmatic twin (``runner.run()``,
``runner.select("ACTION")``, ``dashboard.refresh()``), every composite offers ``on_*`` callbacks,
and an exception (a handler's, or a callback's) is shown in the widget's output area as an error
output, never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import math
import time
import traceback
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from eliza_nb import frames, reprs
from eliza_nb.errors import ElizaError, ValidationError
from eliza_nb.kernel._args import parse_value
from eliza_nb.parameters import ParameterField, describe_parameters, parameter_fields

if TYPE_CHECKING:
    from pydantic import BaseModel

    from eliza_nb.plugin import Action
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.types import ActionResult

__all__ = [
    "REDRAW_INTERVAL",
    "ActionRunner",
    "Dashboard",
    "OptionsEditor",
    "ParametersForm",
    "kernel_dashboard",
]

#: Seconds between two redraws of a dashboard, at least.
REDRAW_INTERVAL = 0.5
#: A redraw that took t seconds is followed by none for LOAD_FACTOR * t: redrawing (a PNG
#: plot, ~0.1-0.3 s) takes at most 1 / (LOAD_FACTOR + 1) of the kernel's time.
LOAD_FACTOR = 19
#: How many of the newest runs the dashboard's plot shows.
PLOT_RUNS = 2_000


def _error(ename: str, evalue: str, lines: list[str]) -> dict[str, Any]:
    """An nbformat error output: the front end renders it like a failed cell."""
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines}


def _error_output(exc: BaseException) -> dict[str, Any]:
    """The error output of an exception (an eliza_nb error as its one line with the code)."""
    if isinstance(exc, ElizaError):
        lines = exc._render_traceback_()
    else:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return _error(type(exc).__name__, str(exc), lines)


class _Callbacks:
    """``on_*`` callbacks; one that raises is shown in ``output`` and the others still run."""

    def __init__(self, output: widgets.Output) -> None:
        self._fns: list[Callable[[Any], Any]] = []
        self._output = output

    def register(self, fn: Callable[[Any], Any], remove: bool = False) -> None:
        if remove:
            self._fns.remove(fn)
        elif fn not in self._fns:
            self._fns.append(fn)

    def __call__(self, value: Any) -> None:
        for fn in list(self._fns):
            try:
                fn(value)
            except Exception as exc:
                self._output.outputs += (_error_output(exc),)


class OptionsEditor(widgets.VBox):  # type: ignore[misc]
    """A small key/value editor for handler options; values are parsed as JSON when they can be."""

    def __init__(self) -> None:
        self.rows: list[widgets.HBox] = []
        # A Button in a VBox stretches to the full width unless it is told not to.
        self.add_button = widgets.Button(
            description="+ option", layout={"width": "auto", "align_self": "flex-start"}
        )
        super().__init__(children=[self.add_button])
        self.add_button.on_click(lambda _: self.add())

    def add(self, key: str = "", value: str = "") -> widgets.HBox:
        """Add a row (and return it)."""
        remove = widgets.Button(description="✕", layout={"width": "2.5em"})
        row = widgets.HBox(
            [widgets.Text(key, placeholder="key"), widgets.Text(value, placeholder="value"), remove]
        )
        remove.on_click(lambda _: self._set_rows([r for r in self.rows if r is not row]))
        self._set_rows([*self.rows, row])
        return row

    def clear(self) -> None:
        """Remove every row."""
        self._set_rows([])

    def _set_rows(self, rows: list[widgets.HBox]) -> None:
        self.rows = rows
        self.children = (*rows, self.add_button)

    @property
    def value(self) -> dict[str, Any]:
        """The options as a dict (rows without a key are skipped)."""
        pairs = (row.children for row in self.rows)
        return {k.value.strip(): parse_value(v.value) for k, v, _ in pairs if k.value.strip()}


class ParametersForm(widgets.VBox):  # type: ignore[misc]
    """A form for an action's typed parameters (``Action.parameters``): one input per field.

    A text box for ``str``, IntText / FloatText for numbers, a Checkbox for ``bool``, a
    Dropdown for a ``Literal`` or an ``Enum``, a Textarea of JSON for anything else (lists,
    dicts, models). Defaults are filled in, a required field's label ends in ``*``, and the
    field's type and description are its tooltip. A required number starts at 0 and a
    required choice with nothing chosen; a number or flag whose default is None gets a text
    box, which can be left empty (the widgets for numbers always hold one).

    Example (``Forecast`` as in :mod:`eliza_nb.parameters`):
        >>> form = ParametersForm(Forecast)
        >>> form.inputs["city"].value = "Oslo"
        >>> form.value                               # the options to run with
        {'city': 'Oslo', 'days': 3}
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.fields = {field.name: field for field in parameter_fields(model)}
        #: The input of each field, by field name.
        self.inputs: dict[str, widgets.ValueWidget] = {
            name: _input(field) for name, field in self.fields.items()
        }
        super().__init__(children=list(self.inputs.values()))

    @property
    def value(self) -> dict[str, Any]:
        """The options the inputs give; an empty text box or Textarea, or a Dropdown with
        nothing chosen, is left out (so the default applies, or pydantic says it is required).

        Raises:
            ValidationError: a JSON field holds text that is not JSON (the field is named).
        """
        read = ((name, _read(name, box)) for name, box in self.inputs.items())
        return {name: value for name, value in read if value is not _EMPTY}

    def close(self) -> None:
        """Close the form and its inputs."""
        for box in self.inputs.values():
            box.close()
        super().close()


#: What an input that was left empty reads as (its field is left out of the options).
_EMPTY: Any = object()


def _input(field: ParameterField) -> widgets.ValueWidget:
    """The input widget of one field, holding its default."""
    hint = f"{field.type_label}{', required' if field.required else ''}"
    common: dict[str, Any] = {
        "description": f"{field.name}*" if field.required else field.name,
        "tooltip": f"{hint}: {field.description}" if field.description else hint,
        "style": {"description_width": "initial"},
    }
    kind, default = field.kind, field.default
    if kind in ("integer", "number", "boolean") and default is None and not field.required:
        kind = "text"  # empty: the default None applies; else pydantic converts the text
    if kind == "integer":
        return widgets.IntText(value=default if isinstance(default, int) else 0, **common)
    if kind == "number":
        number = isinstance(default, int | float)
        return widgets.FloatText(value=default if number else 0.0, **common)
    if kind == "boolean":
        return widgets.Checkbox(value=bool(default), indent=False, **common)
    if kind == "choice":
        return _dropdown(field, common)
    placeholder = field.description or field.type_label
    if kind == "json":
        return widgets.Textarea(value=_json_text(default), placeholder=placeholder, **common)
    text = "" if default is None else str(default)
    return widgets.Text(value=text, placeholder=placeholder, **common)


def _dropdown(field: ParameterField, common: dict[str, Any]) -> widgets.Dropdown:
    """The choices, the default chosen; nothing chosen for a required field without one."""
    options = [(_label(choice), choice) for choice in field.choices]
    if not field.required and field.default is None:
        options.insert(0, ("(none)", None))
    values = [value for _, value in options]
    chosen = not field.required and field.default in values
    return widgets.Dropdown(
        options=options, index=values.index(field.default) if chosen else None, **common
    )


def _label(choice: Any) -> str:
    return str(choice.value) if isinstance(choice, enum.Enum) else str(choice)


def _json_text(default: Any) -> str:
    """A default as the JSON text of its Textarea ("" when it is None or no JSON value)."""
    if default is None:
        return ""
    from pydantic_core import to_jsonable_python

    try:
        return json.dumps(to_jsonable_python(default))
    except (TypeError, ValueError):  # a default pydantic cannot serialize: leave it to the model
        return ""


def _read(name: str, box: widgets.ValueWidget) -> Any:
    """The value of one input for the options (``_EMPTY`` to leave the field out)."""
    value = box.value
    if isinstance(box, widgets.Textarea):  # a JSON field
        return _json_value(name, value) if value.strip() else _EMPTY
    if isinstance(box, widgets.Text):
        return value if value else _EMPTY
    if isinstance(box, widgets.Dropdown):
        return _EMPTY if value is None else value
    return value


def _json_value(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"parameter {name!r} must be JSON: {exc}", field=name) from None


class ActionRunner(widgets.VBox):  # type: ignore[misc]
    """Pick an action, type a message, set options, Run: the result card and the last runs.

    The options are a :class:`ParametersForm` (``runner.form``) for an action with typed
    parameters, else the free-form :class:`OptionsEditor` (``runner.options``); the one shown
    follows the selected action.

    Example:
        >>> runner = ActionRunner(runtime)            # or %eliza ui
        >>> runner.select("ECHO"); runner.text.value = "hi"
        >>> result = runner.run()                      # what the Run button does
    """

    def __init__(self, runtime: AgentRuntime, *, history: int = 10) -> None:
        self.runtime = runtime
        self.history_size = history
        self.results: list[ActionResult] = []
        self.action = widgets.Dropdown(description="Action")
        self.info = widgets.HTML()
        self.text = widgets.Textarea(placeholder="Message text", description="Message")
        self.options = OptionsEditor()
        #: The form of the selected action's parameters (None for an untyped action).
        self.form: ParametersForm | None = None
        self.options_box = widgets.VBox([self.options])
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.clear_button = widgets.Button(description="Clear")
        self.result = widgets.HTML()
        self.output = widgets.Output()
        self.history = widgets.HTML()
        buttons = widgets.HBox([self.run_button, self.clear_button])
        super().__init__(
            children=[
                self.action,
                self.info,
                self.text,
                self.options_box,
                buttons,
                self.result,
                self.output,
                self.history,
            ]
        )
        self._on_result = _Callbacks(self.output)
        self._on_error = _Callbacks(self.output)
        self.action.observe(lambda _: self._show_info(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.clear_button.on_click(lambda _: self.clear())
        self.refresh()

    def on_result(self, fn: Callable[[ActionResult], Any], remove: bool = False) -> None:
        """Call ``fn(result)`` after every run (successful or not)."""
        self._on_result.register(fn, remove)

    def on_error(self, fn: Callable[[BaseException], Any], remove: bool = False) -> None:
        """Call ``fn(exception)`` when a run cannot start (no such action, a form's JSON field
        that holds no JSON).

        A handler's own exception is not one: it comes back as a failed result (``on_result``).
        """
        self._on_error.register(fn, remove)

    def refresh(self) -> None:
        """Re-read the registered actions (keeps the selection when it still exists)."""
        names = self.runtime.registry.action_names()
        current = self.action.value
        self.action.options = names
        self.action.value = current if current in names else (names[0] if names else None)
        self._show_info()

    def select(self, name: str) -> None:
        """Select an action by name or simile, any case.

        Raises:
            ActionNotFoundError: no registered action has that name (the closest are listed).
        """
        self.refresh()
        self.action.value = self.runtime.dispatcher.find(name)[0].name

    def run(self) -> ActionResult | None:
        """Run the selected action with the text and options (what the Run button does).

        Returns the result, or None when the run could not start (shown in the output area).
        """
        try:
            options = self.form.value if self.form is not None else self.options.value
            coro = self.runtime.execute_action(
                self.action.value or "", self.text.value or None, options=options
            )
            result = self.runtime.run_sync(coro, interruptible=True)
        except Exception as exc:
            self.output.outputs += (_error_output(exc),)
            self._on_error(exc)
            return None
        self._show_result(result)
        return result

    def _show_result(self, result: ActionResult) -> None:
        self.results = [*self.results, result][-self.history_size :]
        self.result.value = reprs.result_html(result)
        self.history.value = reprs.history_html(self.results)
        if result.error is not None:
            err = result.error
            evalue = f"[{err.code}] {err.message}"
            self.output.outputs += (_error(err.error_type, evalue, err.traceback.splitlines()),)
        self._on_result(result)

    def clear(self) -> None:
        """Clear the text, options (a form back to its defaults), result card and output area
        (the history stays)."""
        self.text.value = ""
        self.options.clear()
        if self.form is not None:
            self._show_options(self.form.model, fresh=True)
        self.result.value = ""
        self.output.outputs = ()

    def _show_info(self) -> None:
        entry = self.runtime.registry.find(self.action.value) if self.action.value else None
        action: Action | None = entry[0] if entry else None
        model = action.parameters if action is not None else None
        self.info.value = reprs.action_info_html(action, describe_parameters(model))
        self._show_options(model)

    def _show_options(self, model: type[BaseModel] | None, fresh: bool = False) -> None:
        """Show the form of ``model`` (a new one if it changed, or ``fresh``), or the editor."""
        if self.form is not None and self.form.model is model and not fresh:
            return  # the same action again (a refresh): keep what was typed
        if self.form is not None:
            self.form.close()
        self.form = ParametersForm(model) if model is not None else None
        self.options_box.children = (self.form if self.form is not None else self.options,)


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """``metrics_summary()``, the latest errors and a plot of durations per action, kept live.

    It reads this session's runs held in memory (all of them without a file store, the newest
    ``RECORDS_IN_MEMORY`` with one). A run only marks it out of date; it redraws a loop step
    later, at most once every ``interval`` seconds and never more than a twentieth of the time
    (a slow redraw waits 19 times its own length), so a batch costs one redraw per interval,
    not one per run, and no run waits for one. Without a running event loop it redraws at the
    first run after the interval.

    The runtime holds it weakly: a dashboard that is closed (``close()``) or garbage-collected
    stops listening. ``%eliza dashboard`` closes the dashboard it made before.
    """

    def __init__(
        self, runtime: AgentRuntime, *, errors: int = 5, interval: float = REDRAW_INTERVAL
    ) -> None:
        self.runtime = runtime
        self.max_errors = errors
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.errors = widgets.HTML()
        # Shown at its own size: stretched to the page width the PNG would look blurry.
        self.plot = widgets.Image(format="png", layout={"max_width": "640px"})
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.output = widgets.Output()
        super().__init__(
            children=[
                widgets.HBox([self.refresh_button, self.status]),
                self.summary,
                self.plot,
                self.errors,
                self.output,
            ]
        )
        self._on_refresh = _Callbacks(self.output)
        # The run listener: a run only marks the dashboard out of date (it redraws later).
        self._throttle = _Throttle(self._redraw, interval, runtime.run_listeners)
        self.refresh_button.on_click(lambda _: self.refresh())
        self.refresh()

    def on_refresh(self, fn: Callable[[Dashboard], Any], remove: bool = False) -> None:
        """Call ``fn(dashboard)`` after every refresh."""
        self._on_refresh.register(fn, remove)

    def refresh(self) -> None:
        """Redraw the summary, errors and plot from the runtime's records now."""
        self._throttle.run()

    def _redraw(self) -> None:
        try:
            self._draw()
        except Exception as exc:
            self.output.outputs += (_error_output(exc),)
        self._on_refresh(self)

    def _draw(self) -> None:
        recorder = self.runtime.metrics
        held = recorder.recent()  # this session's newest records, a copy: no I/O, no flush
        runs, session = held.runs, held.session_id
        summary = frames.metrics_summary(runs)
        errors = frames.errors_frame(held.errors[-self.max_errors :], session)
        self.summary.value = reprs.frame_html(summary, "No runs yet.")
        latest = reprs.frame_html(errors.drop(columns=["traceback"]), "None.")
        self.errors.value = "<div><b>Latest errors</b></div>" + latest
        plotted = frames.metrics_frame(runs[-PLOT_RUNS:], session)
        self.plot.value = reprs.durations_png(plotted) if runs else b""
        self.plot.layout.display = None if runs else "none"
        total = recorder.run_count
        newest = f" · summary of the newest {len(runs)}" if len(runs) < total else ""
        updated = f"updated {datetime.now():%H:%M:%S}"
        self.status.value = f"<small>{total} runs{newest} · {updated}</small>"

    def close(self) -> None:
        """Stop following the runtime and close the widget and its parts (idempotent)."""
        # Also called by ipywidgets' __del__, maybe of a dashboard whose __init__ failed.
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.detach()
        for child in (*self.children, *getattr(self.children[0], "children", ())):
            child.close()
        super().close()


class _Throttle:
    """A run listener that calls ``fn`` a loop step after a run, at most once per ``interval``
    seconds and no sooner than ``LOAD_FACTOR`` times its last duration after it ended (so at
    most a twentieth of the time).

    It takes its place in ``listeners``. A run while a call is due costs one attribute test.
    The call is scheduled on the running loop; without one, a run after the due time calls at
    once. ``fn`` (a bound method) is held weakly: once its object is garbage-collected, the
    throttle leaves ``listeners`` by itself (and :meth:`detach` makes it leave).
    """

    __slots__ = ("__weakref__", "_fn", "_handle", "_listeners", "_loop", "_next", "interval")

    def __init__(
        self,
        fn: Callable[[], None],
        interval: float,
        listeners: list[Callable[[ActionResult], Any]],
    ) -> None:
        self._fn = weakref.WeakMethod(fn, lambda _: self.detach())
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next = -math.inf  # when (on the clock of _now) the next call may start
        self._listeners = listeners
        listeners.append(self)

    def __call__(self, result: ActionResult | None) -> None:
        """A run finished: ask for a call, unless one is already due on a live loop."""
        loop = self._loop
        if self._handle is not None and loop is not None and not loop.is_closed():
            return
        loop = _running_loop()
        delay = self._next - _now(loop)
        if loop is None:
            self._handle = None
            if delay <= 0:
                self.run()
            return
        self._loop = loop
        self._handle = loop.call_later(max(0.0, delay), self._due)

    def _due(self) -> None:
        self._handle = None
        self.run()

    def run(self) -> None:
        """Call ``fn`` now (a scheduled call is dropped) and note when the next may start."""
        self.cancel()
        fn = self._fn()
        if fn is None:
            return
        loop = _running_loop()
        started = _now(loop)
        try:
            fn()
        finally:
            ended = _now(loop)
            self._next = ended + max(self.interval, LOAD_FACTOR * (ended - started))

    def cancel(self) -> None:
        """Drop the scheduled call, if any."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def detach(self) -> None:
        """Leave the listener list and drop the scheduled call (idempotent)."""
        self.cancel()
        with contextlib.suppress(ValueError):
            self._listeners.remove(self)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _now(loop: asyncio.AbstractEventLoop | None) -> float:
    """The clock the loop's timers use (monotonic seconds), or the monotonic clock."""
    return time.monotonic() if loop is None else loop.time()


def kernel_dashboard(runtime: AgentRuntime) -> Dashboard:
    """A new :class:`Dashboard` for ``%eliza dashboard``; the one this made before is closed.

    Re-running the cell replaces its output; the replaced widget would otherwise live on (the
    widget registry and ``Out`` hold it) and keep redrawing after every run.
    """
    previous = _SHOWN[0]() if _SHOWN else None
    if previous is not None:
        previous.close()
    dashboard = Dashboard(runtime)
    _SHOWN[:] = [weakref.ref(dashboard)]
    return dashboard


#: The dashboard ``kernel_dashboard`` made last (held weakly).
_SHOWN: list[weakref.ref[Dashboard]] = []
