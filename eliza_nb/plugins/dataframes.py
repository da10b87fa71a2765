"""DataFrames: describe, filter and plot the pandas DataFrames of the kernel, by name.

In a notebook the agent sees your variables: ``%eliza run DESCRIBE_DATAFRAME sales`` looks
``sales`` up in the kernel's namespace (IPython's ``user_ns``). Outside a kernel, give the
namespace with ``options["namespace"]``, ``create_plugin(namespace=...)`` or the
``DATAFRAME_NAMESPACE`` setting (looked up in that order, before the kernel's).

Actions (the DataFrame's name is ``options["name"]`` or the first word of the message):
    ``DESCRIBE_DATAFRAME`` (``DESCRIBE_DF``): shape, dtypes and missing values as text;
    ``data`` is ``df.describe(include="all")``.
    ``FILTER_DATAFRAME`` (``FILTER_DF``, ``QUERY_DATAFRAME``): rows matching a pandas query
    (``options["query"]`` or the rest of the message, e.g. ``sales amount > 100``);
    ``options["columns"]`` keeps some columns, ``options["into"]`` stores the result in the
    namespace under that name; ``@name`` in a query reads a number or text variable.
    ``PLOT_DATAFRAME`` (``PLOT_DF``): a matplotlib figure (``data``) and a PNG attachment;
    options ``kind`` (line, bar, barh, hist, box, area, scatter), ``x``, ``y``, ``title``.

Error codes: ``DATAFRAME_NOT_FOUND`` (the closest names are suggested), ``NOT_A_DATAFRAME``,
``NO_NAMESPACE``, ``INVALID_QUERY``, ``NOTHING_TO_PLOT``, ``MISSING_DEPENDENCY``
(matplotlib is needed to plot) and ``VALIDATION_ERROR`` for other bad options.

Example:
    >>> import pandas as pd
    >>> from eliza_nb import AgentRuntime
    >>> from eliza_nb.plugins.dataframes import create_plugin
    >>> ns = {"sales": pd.DataFrame({"region": ["EU", "US"], "amount": [120, 80]})}
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugin(create_plugin(namespace=ns)))
    >>> rt.run("FILTER_DATAFRAME", "sales amount > 100").data["region"].tolist()
    ['EU']
    >>> rt.close()
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import io
import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from eliza_nb.errors import ConfigurationError, ElizaError, ValidationError
from eliza_nb.plugin import Action, Plugin, PluginConfig
from eliza_nb.plugins._common import command_pattern, str_option, strip_command
from eliza_nb.types import ActionExample, Content, Memory

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from eliza_nb.runtime import AgentRuntime

__all__ = ["PLOT_KINDS", "create_plugin", "find_dataframe", "plugin"]

PLOT_KINDS = ("line", "bar", "barh", "hist", "box", "area", "scatter")
_SCALARS = (int, float, str, bool, dt.date, dt.datetime, dt.timedelta)
_PREVIEW_ROWS = 5

# The plugin's own error codes (listed in the module docstring), named once.
_NO_NAMESPACE = "NO_NAMESPACE"
_DATAFRAME_NOT_FOUND = "DATAFRAME_NOT_FOUND"
_NOT_A_DATAFRAME = "NOT_A_DATAFRAME"
_INVALID_QUERY = "INVALID_QUERY"
_MISSING_DEPENDENCY = "MISSING_DEPENDENCY"
_NOTHING_TO_PLOT = "NOTHING_TO_PLOT"


# -- finding the DataFrame --------------------------------------------------------------
def _kernel_namespace() -> MutableMapping[str, Any] | None:
    if "IPython" not in sys.modules:  # never import IPython just to look
        return None
    shell = sys.modules["IPython"].get_ipython()
    return shell.user_ns if shell is not None else None


def _namespace(
    runtime: AgentRuntime, options: Mapping[str, Any], default: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    for where, candidate in (
        ("options['namespace']", options.get("namespace")),
        ("create_plugin(namespace=...)", default),
        ("the DATAFRAME_NAMESPACE setting", runtime.get_setting("DATAFRAME_NAMESPACE")),
    ):
        if candidate is not None:
            if not isinstance(candidate, Mapping):
                raise ValidationError(
                    f"{where} must be a dict of names to values", field="namespace"
                )
            return candidate
    kernel = _kernel_namespace()
    if kernel is None:
        raise ConfigurationError(
            "No namespace to find DataFrames in: run in a Jupyter kernel, or pass "
            "options['namespace'] or create_plugin(namespace={...}).",
            code=_NO_NAMESPACE,
        )
    return kernel


def find_dataframe(namespace: Mapping[str, Any], name: str | None) -> pd.DataFrame:
    """The DataFrame called ``name`` in ``namespace``.

    Raises:
        ValidationError: no name given (``VALIDATION_ERROR``), nothing by that name
            (``DATAFRAME_NOT_FOUND``, with the closest DataFrame names), or a value of
            another type (``NOT_A_DATAFRAME``).
    """
    frames = sorted(
        k for k, v in namespace.items() if isinstance(v, pd.DataFrame) and not k.startswith("_")
    )
    listing = f" DataFrames available: {', '.join(frames)}." if frames else " None is defined."
    if not name:
        raise ValidationError(
            f"Say which DataFrame: options['name'] or the first word.{listing}", field="name"
        )
    if name not in namespace:
        close = difflib.get_close_matches(name, frames, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValidationError(
            f"No DataFrame named {name!r}.{hint}{listing}",
            field="name",
            code=_DATAFRAME_NOT_FOUND,
            details={"available": frames},
        )
    value = namespace[name]
    if not isinstance(value, pd.DataFrame):
        hint = " Use .to_frame() to make one." if isinstance(value, pd.Series) else ""
        raise ValidationError(
            f"{name!r} is a {type(value).__name__}, not a pandas DataFrame.{hint}",
            field="name",
            code=_NOT_A_DATAFRAME,
        )
    return value


def _target(message: Memory, options: Mapping[str, Any], pattern: Any) -> tuple[str | None, str]:
    """(DataFrame name, the rest of the message) from options or the message text."""
    rest = strip_command(message.content.text, pattern)
    first, _, remainder = rest.partition(" ")
    name = str_option(options, "name")
    return (name, rest) if name else (first or None, remainder.strip())


def _columns(df: pd.DataFrame, value: Any, field: str) -> list[str]:
    if value is None:
        return []
    names = [c.strip() for c in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, list | tuple):
        raise ValidationError(
            f"option {field!r} must be a column name or a list of them", field=field
        )
    unknown = [c for c in names if c not in df.columns]
    if unknown:
        raise ValidationError(
            f"No column {', '.join(map(repr, unknown))}; columns are: "
            f"{', '.join(map(str, df.columns))}.",
            field=field,
        )
    return list(names)


# -- handlers ---------------------------------------------------------------------------
def _describe_text(name: str, df: pd.DataFrame) -> str:
    rows, cols = df.shape
    lines = [f"{name}: {rows} rows x {cols} columns"]
    missing = df.isna().sum()
    for col in list(df.columns)[:30]:
        gaps = int(missing[col])
        lines.append(f"- {col} ({df[col].dtype})" + (f": {gaps} missing" if gaps else ""))
    if cols > 30:
        lines.append(f"- ... and {cols - 30} more")
    return "\n".join(lines)


def _describe(
    ns: Mapping[str, Any], name: str | None, rest: str, options: Mapping[str, Any]
) -> tuple[str, Any, list[Any]]:
    df = find_dataframe(ns, name)
    summary = df.describe(include="all") if len(df.columns) else pd.DataFrame()
    return _describe_text(str(name), df), summary, []


def _filter(
    ns: Mapping[str, Any], name: str | None, rest: str, options: Mapping[str, Any]
) -> tuple[str, Any, list[Any]]:
    df = find_dataframe(ns, name)
    query = str_option(options, "query") or rest
    columns = _columns(df, options.get("columns"), "columns")
    if not query and not columns:
        raise ValidationError(
            "FILTER_DATAFRAME needs a query ('sales amount > 100') or options['columns'].",
            field="query",
        )
    result = _query(df, query, ns) if query else df
    result = result[columns] if columns else result
    into = str_option(options, "into")
    text = f"{len(result)} of {len(df)} rows of {name}" + (f" match {query!r}" if query else "")
    if into is not None:
        _store(ns, into, result)
        text += f"; stored as {into!r}"
    preview = result.head(_PREVIEW_ROWS).to_string() if len(result) else ""
    return text + "." + (f"\n{preview}" if preview else ""), result, []


def _query(df: pd.DataFrame, query: str, ns: Mapping[str, Any]) -> pd.DataFrame:
    if "__" in query:  # no dunder attribute walks out of the expression
        raise ValidationError(
            f"Query {query!r} may not contain '__'.", field="query", code=_INVALID_QUERY
        )
    try:
        # Only plain values are visible as @name: a query is data, never a call into the kernel.
        scope = {k: v for k, v in ns.items() if isinstance(v, _SCALARS) and not k.startswith("_")}
        return df.query(query, local_dict=scope, global_dict={})
    except Exception as exc:
        raise ValidationError(
            f"Query {query!r} failed: {type(exc).__name__}: {exc}",
            field="query",
            code=_INVALID_QUERY,
        ) from None


def _store(ns: Mapping[str, Any], into: str, value: pd.DataFrame) -> None:
    if not into.isidentifier():
        raise ValidationError(f"option 'into' must be a Python name, got {into!r}", field="into")
    if not isinstance(ns, MutableMapping):
        raise ValidationError("option 'into' needs a writable namespace", field="into")
    ns[into] = value


def _plot(
    ns: Mapping[str, Any], name: str | None, rest: str, options: Mapping[str, Any]
) -> tuple[str, Any, list[Any]]:
    df = find_dataframe(ns, name)
    kind = (str_option(options, "kind") or "line").lower()
    if kind not in PLOT_KINDS:
        raise ValidationError(f"kind {kind!r} is not one of {', '.join(PLOT_KINDS)}", field="kind")
    x = _columns(df, options.get("x"), "x")
    y = _columns(df, options.get("y"), "y")
    if kind == "scatter" and (len(x) != 1 or len(y) != 1):
        raise ValidationError("a scatter plot needs one x and one y column", field="y")
    title = str_option(options, "title") or f"{name}: {kind}"
    fig = _figure(df, kind, x[0] if x else None, (y[0] if len(y) == 1 else y) or None, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    png = {
        "content_type": "image/png",
        "title": title,
        "data": base64.b64encode(buffer.getvalue()).decode(),
    }
    return f"Plotted {name} as a {kind} chart: {title}.", fig, [png]


def _figure(df: pd.DataFrame, kind: str, x: str | None, y: Any, title: str) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ElizaError(
            "PLOT_DATAFRAME needs matplotlib: pip install matplotlib", code=_MISSING_DEPENDENCY
        ) from None
    # A bare Figure (no pyplot) keeps the kernel's global figure state untouched.
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    try:
        df.plot(kind=kind, x=x, y=y, ax=fig.subplots(), title=title)  # type: ignore[call-overload]
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValidationError(
            f"Cannot plot this data as {kind}: {exc}", field="kind", code=_NOTHING_TO_PLOT
        ) from None
    return fig


# -- actions and the plugin -------------------------------------------------------------
_SPECS = {
    "DESCRIBE_DATAFRAME": (
        ["DESCRIBE_DF"],
        _describe,
        "Describe a DataFrame of the kernel: shape, dtypes, missing values, statistics.",
        "describe dataframe sales",
    ),
    "FILTER_DATAFRAME": (
        ["FILTER_DF", "QUERY_DATAFRAME"],
        _filter,
        "Keep the rows of a DataFrame that match a pandas query.",
        "filter dataframe sales amount > 100",
    ),
    "PLOT_DATAFRAME": (
        ["PLOT_DF"],
        _plot,
        "Plot a DataFrame (line, bar, hist, scatter, ...) with matplotlib.",
        "plot dataframe sales",
    ),
}


def _make_action(name: str, namespace: Mapping[str, Any] | None) -> Action:
    similes, run, description, example = _SPECS[name]
    pattern = command_pattern([name, *similes])

    async def handler(
        runtime: AgentRuntime, message: Memory, state: Any, options: dict[str, Any], callback: Any
    ) -> dict[str, Any]:
        ns = _namespace(runtime, options, namespace)
        frame, rest = _target(message, options, pattern)
        text, data, attachments = run(ns, frame, rest, options)
        await callback(Content(text=text, action=name), attachments)
        return {"success": True, "text": text, "data": data}

    return Action(
        name=name,
        handler=handler,
        description=description,
        similes=similes,
        examples=[
            [
                ActionExample(user="{{user1}}", content=Content(text=example)),
                ActionExample(user="{{agent}}", content=Content(text="...", action=name)),
            ]
        ],
    )


def create_plugin(
    namespace: Mapping[str, Any] | None = None, *, name: str = "dataframes"
) -> Plugin:
    """The plugin, looking DataFrames up in ``namespace`` (default: the kernel's, see above)."""
    return Plugin(
        name=name,
        description="Describe, filter and plot pandas DataFrames of the kernel by name.",
        version="0.1.0",
        actions=[_make_action(n, namespace) for n in _SPECS],
        config=PluginConfig(optional=["DATAFRAME_NAMESPACE"]),
    )


plugin = create_plugin()
"""The ``dataframes`` plugin, reading the kernel's namespace (``%eliza register dataframes``)."""
