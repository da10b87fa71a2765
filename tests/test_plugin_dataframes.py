"""The dataframes example plugin: describe, filter and plot DataFrames found by name."""

from __future__ import annotations

import base64
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import EntryPoint
from typing import Any

import pandas as pd
import pytest

from eliza_nb import AgentRuntime
from eliza_nb.plugins import dataframes
from eliza_nb.plugins.dataframes import create_plugin
from eliza_nb.testing import create_test_runtime

MakeRuntime = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
def ns() -> dict[str, Any]:
    """A stand-in for the kernel's user namespace."""
    return {
        "sales": pd.DataFrame(
            {
                "region": ["EU", "US", "EU", "APAC"],
                "amount": [120, 80, 200, None],
                "units": [3, 2, 5, 1],
            }
        ),
        "users": pd.DataFrame({"name": ["ada", "bob"]}),
        "series": pd.Series([1, 2, 3]),
        "answer": 42,
        "threshold": 100,
        "shout": print,
    }


@pytest.fixture
async def make_runtime() -> AsyncIterator[MakeRuntime]:
    made: list[AgentRuntime] = []

    async def make(plugin: Any = dataframes.plugin, **settings: Any) -> AgentRuntime:
        made.append(await create_test_runtime(settings=settings, plugins=[plugin]))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.aclose()


@pytest.fixture
async def rt(make_runtime: MakeRuntime, ns: dict[str, Any]) -> AgentRuntime:
    return await make_runtime(create_plugin(namespace=ns))


def code_of(result: Any) -> str:
    assert not result.success, result
    assert result.error is not None
    return str(result.error.code)


def test_module_exposes_a_plugin_found_by_entry_point() -> None:
    entry = EntryPoint("dataframes", "eliza_nb.plugins.dataframes:plugin", "eliza_nb.plugins")
    loaded = entry.load()
    assert loaded is dataframes.plugin
    assert [a.name for a in loaded.actions] == [
        "DESCRIBE_DATAFRAME",
        "FILTER_DATAFRAME",
        "PLOT_DATAFRAME",
    ]


# -- finding the DataFrame --------------------------------------------------------------
async def test_missing_name_suggests_the_closest(rt: AgentRuntime) -> None:
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "sale")
    assert code_of(result) == "DATAFRAME_NOT_FOUND"
    assert "Did you mean: sales?" in result.error.message
    assert "DataFrames available: sales, users." in result.error.message


async def test_no_name_at_all(rt: AgentRuntime) -> None:
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "")
    assert code_of(result) == "VALIDATION_ERROR"
    assert "Say which DataFrame" in result.error.message


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("series", "is a Series, not a pandas DataFrame. Use .to_frame()"),
        ("answer", "is a int, not a pandas DataFrame."),
    ],
)
async def test_not_a_dataframe(rt: AgentRuntime, name: str, hint: str) -> None:
    result = await rt.execute_action("DESCRIBE_DATAFRAME", name)
    assert code_of(result) == "NOT_A_DATAFRAME"
    assert hint in result.error.message


async def test_option_namespace_comes_first(rt: AgentRuntime) -> None:
    other = {"sales": pd.DataFrame({"x": [1]})}
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "sales", options={"namespace": other})
    assert result.text.startswith("sales: 1 rows x 1 columns")


async def test_namespace_from_a_setting(make_runtime: MakeRuntime, ns: dict[str, Any]) -> None:
    rt = await make_runtime(DATAFRAME_NAMESPACE=ns)
    assert (await rt.execute_action("DESCRIBE_DATAFRAME", "users")).success
    result = await rt.execute_action(
        "DESCRIBE_DATAFRAME", "users", options={"namespace": ["not", "a", "dict"]}
    )
    assert code_of(result) == "VALIDATION_ERROR"


async def test_kernel_namespace_is_used_in_ipython(
    make_runtime: MakeRuntime, ns: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = types.SimpleNamespace(user_ns=ns)
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    rt = await make_runtime()
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "sales")
    assert result.success, result.error
    fake.get_ipython = lambda: None  # type: ignore[attr-defined]
    assert code_of(await rt.execute_action("DESCRIBE_DATAFRAME", "sales")) == "NO_NAMESPACE"


async def test_without_a_kernel_or_namespace(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    rt = await make_runtime()
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "sales")
    assert code_of(result) == "NO_NAMESPACE"
    assert "run in a Jupyter kernel" in result.error.message


# -- DESCRIBE_DATAFRAME -----------------------------------------------------------------
async def test_describe(rt: AgentRuntime) -> None:
    result = await rt.execute_action("DESCRIBE_DATAFRAME", "describe dataframe: sales")
    assert result.success, result.error
    lines = result.text.splitlines()
    assert lines[0] == "sales: 4 rows x 3 columns"
    assert "- amount (float64): 1 missing" in lines
    assert "- units (int64)" in lines
    assert isinstance(result.data, pd.DataFrame)
    assert result.data.loc["count", "units"] == 4
    assert result.responses[0].text == result.text


async def test_describe_by_option_and_of_an_empty_frame(
    rt: AgentRuntime, ns: dict[str, Any]
) -> None:
    ns["empty"] = pd.DataFrame()
    result = await rt.execute_action("DESCRIBE_DATAFRAME", options={"name": "empty"})
    assert result.text == "empty: 0 rows x 0 columns"
    assert result.data.empty


async def test_a_routed_message_describes(rt: AgentRuntime) -> None:
    [result] = await rt.process_message("describe dataframe users")
    assert result.action == "DESCRIBE_DATAFRAME"
    assert result.text.startswith("users: 2 rows x 1 columns")


# -- FILTER_DATAFRAME -------------------------------------------------------------------
async def test_filter_with_the_rest_of_the_message(rt: AgentRuntime) -> None:
    result = await rt.execute_action("FILTER_DATAFRAME", "sales amount > 100")
    assert result.success, result.error
    assert result.data["amount"].tolist() == [120, 200]
    assert result.text.startswith("2 of 4 rows of sales match 'amount > 100'.\n")
    assert "region" in result.text  # a preview of the rows follows


async def test_filter_with_options_columns_and_into(rt: AgentRuntime, ns: dict[str, Any]) -> None:
    result = await rt.execute_action(
        "FILTER_DATAFRAME",
        options={
            "name": "sales",
            "query": "region == 'EU'",
            "columns": "region, units",
            "into": "eu_sales",
        },
    )
    assert list(result.data.columns) == ["region", "units"]
    assert "stored as 'eu_sales'" in result.text
    pd.testing.assert_frame_equal(ns["eu_sales"], result.data)


async def test_filter_reads_plain_variables_only(rt: AgentRuntime) -> None:
    result = await rt.execute_action("FILTER_DATAFRAME", "sales amount >= @threshold")
    assert result.data["amount"].tolist() == [120, 200]
    result = await rt.execute_action("FILTER_DATAFRAME", "sales @shout('hi')")
    assert code_of(result) == "INVALID_QUERY"


@pytest.mark.parametrize("query", ["amount >", "nope > 1", "amount.__class__", "@missing > 1"])
async def test_bad_queries(rt: AgentRuntime, query: str) -> None:
    result = await rt.execute_action("FILTER_DATAFRAME", f"sales {query}")
    assert code_of(result) == "INVALID_QUERY"
    assert repr(query) in result.error.message


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({}, "needs a query"),
        ({"columns": ["nope"]}, "No column 'nope'"),
        ({"columns": 3}, "column name or a list"),
        ({"query": "amount > 1", "into": "not a name"}, "must be a Python name"),
    ],
)
async def test_bad_filter_options(rt: AgentRuntime, options: dict[str, Any], needle: str) -> None:
    result = await rt.execute_action("FILTER_DATAFRAME", "sales", options=options)
    assert code_of(result) == "VALIDATION_ERROR"
    assert needle in result.error.message


async def test_into_needs_a_writable_namespace(rt: AgentRuntime, ns: dict[str, Any]) -> None:
    frozen = types.MappingProxyType(ns)
    result = await rt.execute_action(
        "FILTER_DATAFRAME", "sales units > 1", options={"namespace": frozen, "into": "x"}
    )
    assert "writable namespace" in result.error.message


# -- PLOT_DATAFRAME ---------------------------------------------------------------------
async def test_plot_returns_a_figure_and_a_png(rt: AgentRuntime) -> None:
    from matplotlib.figure import Figure

    result = await rt.execute_action(
        "PLOT_DATAFRAME", "sales", options={"kind": "bar", "x": "region", "y": "units"}
    )
    assert result.success, result.error
    assert isinstance(result.data, Figure)
    assert result.text == "Plotted sales as a bar chart: sales: bar."
    [png] = result.responses[0].attachments
    assert png["content_type"] == "image/png"
    assert base64.b64decode(png["data"]).startswith(b"\x89PNG")


@pytest.mark.parametrize("kind", ["line", "hist", "box", "area", "barh"])
async def test_plot_kinds(rt: AgentRuntime, kind: str) -> None:
    result = await rt.execute_action("PLOT_DATAFRAME", "sales", options={"kind": kind})
    assert result.success, result.error


async def test_scatter_and_title(rt: AgentRuntime) -> None:
    result = await rt.execute_action(
        "PLOT_DATAFRAME",
        "sales",
        options={"kind": "scatter", "x": "units", "y": "amount", "title": "Units vs amount"},
    )
    assert result.data.axes[0].get_title() == "Units vs amount"


async def test_plot_leaves_pyplot_alone(rt: AgentRuntime) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    await rt.execute_action("PLOT_DATAFRAME", "sales")
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    ("name", "options", "code", "needle"),
    [
        ("sales", {"kind": "pie3d"}, "VALIDATION_ERROR", "not one of line"),
        ("sales", {"kind": "scatter", "x": "units"}, "VALIDATION_ERROR", "one x and one y"),
        ("sales", {"y": "nope"}, "VALIDATION_ERROR", "No column 'nope'"),
        ("users", {}, "NOTHING_TO_PLOT", "Cannot plot this data"),
    ],
)
async def test_bad_plots(
    rt: AgentRuntime, name: str, options: dict[str, Any], code: str, needle: str
) -> None:
    result = await rt.execute_action("PLOT_DATAFRAME", name, options=options)
    assert code_of(result) == code
    assert needle in result.error.message


async def test_plot_without_matplotlib(rt: AgentRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    result = await rt.execute_action("PLOT_DATAFRAME", "sales")
    assert code_of(result) == "MISSING_DEPENDENCY"
    assert "pip install matplotlib" in result.error.message
