"""Notebook widgets built from stock ipywidgets: an action runner and a live metrics dashboard.

The dashboard lives in :mod:`eliza_nb.kernel.dashboard` (re-exported here). The action runner
shows a form for an action with typed parameters (:class:`ParametersForm`) and a free-form
options editor for the others.

Both are testable without a browser: every button has a programmatic twin (``runner.run()``,
``runner.select("ACTION")``, ``dashboard.refresh()``), every composite offers ``on_*`` callbacks,
and no failure is swallowed: a handler's shows in the result card, a run that cannot start or a
callback that raises in the widget's output area, each as one line (code and message) with
the handler's own frames of its traceback folded under it (``eliza_nb._tracebacks``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from eliza_nb import reprs
from eliza_nb.errors import ValidationError
from eliza_nb.kernel._args import parse_value
from eliza_nb.kernel._outputs import Callbacks, show_failure
from eliza_nb.kernel.dashboard import REDRAW_INTERVAL, Dashboard, kernel_dashboard
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
        self._on_result = Callbacks(self.output)
        self._on_error = Callbacks(self.output)
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
            show_failure(self.output, exc)
            self._on_error(exc)
            return None
        self._show_result(result)
        return result

    def _show_result(self, result: ActionResult) -> None:
        self.results = [*self.results, result][-self.history_size :]
        self.result.value = reprs.result_html(result)
        # A failed run is told by its card: its code and message on one line, and the
        # handler's own frames folded under it (no second, red copy in the output area).
        self.history.value = reprs.history_html(self.results)
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
