"""run_batch(backend="dask"): a LocalCluster of two worker processes runs the partitions.

Plugins reach the workers two ways: by reference (this module is importable there) and by value
(a plugin built in a module that exists only here, as a notebook cell's plugin does).
"""

from __future__ import annotations

import os
import threading
import types
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from eliza_nb import AgentRuntime, Plugin, PluginError, ValidationError, action
from eliza_nb.batch import BATCH_COLUMNS
from eliza_nb.distributed import RuntimeSpec, absorb, bounds

distributed = pytest.importorskip("distributed")

DRIVER_PID = os.getpid()


@action(name="WHO")
def who(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
    text = message.content.text
    if text == "boom":
        raise ValueError(f"bad key {runtime.get_setting('API_KEY')}")
    return {"text": text.upper(), "data": {"pid": os.getpid(), **options}}


who_plugin = Plugin(name="who", actions=[who], config={"required": ["API_KEY"]})


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
async def rt(runtime: AgentRuntime) -> AgentRuntime:
    runtime.settings.set("API_KEY", "sk-dask-secret")
    await runtime.register_plugin(who_plugin)
    return runtime


async def test_results_come_back_in_input_order(rt: AgentRuntime, client: Any) -> None:
    texts = [f"t{i}" for i in range(40)]
    out = await rt.run_batch("WHO", texts, backend="dask", client=client, progress=False)
    assert list(out.columns) == list(BATCH_COLUMNS)
    assert out.index.tolist() == list(range(40))
    assert out["text"].tolist() == [t.upper() for t in texts]
    pids = {d["pid"] for d in out["data"]}
    assert DRIVER_PID not in pids  # every row ran in a worker process
    assert out.attrs == {"action": "WHO", "total": 40, "interrupted": False}


async def test_dask_and_local_frames_agree(rt: AgentRuntime, client: Any) -> None:
    frame = pd.DataFrame({"q": ["a", "boom", "c"], "k": [1, 2, 3]}, index=["x", "y", "z"])
    kwargs: dict[str, Any] = {"text_column": "q", "option_columns": ["k"], "progress": False}
    local = await rt.run_batch("WHO", frame, **kwargs)
    remote = await rt.run_batch("WHO", frame, backend="dask", client=client, partitions=2, **kwargs)
    same = ["success", "text", "error_code", "error_message"]
    pd.testing.assert_frame_equal(local[same], remote[same])
    assert remote.index.tolist() == ["x", "y", "z"]  # aligned with the input, like local
    assert [d and d["k"] for d in remote["data"]] == [1, None, 3]
    assert remote["error_message"]["y"] == "bad key ***"  # masked on the worker too


async def test_records_land_in_the_driver_with_fresh_run_ids(rt: AgentRuntime, client: Any) -> None:
    await rt.run_batch("WHO", ["warm"], progress=False)  # run id 1 is taken locally
    texts = ["a", "boom", "c", "d", "boom", "f"]
    out = await rt.run_batch(
        "WHO", texts, backend="dask", client=client, partitions=3, progress=False
    )
    metrics = rt.metrics_frame()
    assert len(metrics) == 1 + len(texts)
    assert metrics["run_id"].is_unique
    assert sorted(out["run_id"]) == sorted(metrics["run_id"][1:])
    errors = rt.errors_frame()
    assert len(errors) == 2
    assert set(errors["run_id"]) == set(out.loc[~out["success"], "run_id"])
    assert set(errors["message"]) == {"bad key ***"}


async def test_a_notebook_defined_plugin_is_shipped_by_value(
    runtime: AgentRuntime, client: Any
) -> None:
    cell = types.ModuleType("notebook_cell")  # not importable on the workers, like __main__
    exec(
        "from eliza_nb import Plugin, action\n"
        "@action(name='REVERSE')\n"
        "async def reverse(runtime, message, state, options, callback):\n"
        "    return message.content.text[::-1]\n"
        "plugin = Plugin(name='cell', actions=[reverse])\n",
        cell.__dict__,
    )
    await runtime.register_plugin(cell.plugin)
    out = await runtime.run_batch(
        "REVERSE", ["abc", "xy"], backend="dask", client=client, progress=False
    )
    assert out["text"].tolist() == ["cba", "yx"]


async def test_settings_travel_to_the_workers(client: Any) -> None:
    rt = AgentRuntime(settings={"API_KEY": "sk-from-driver"}, use_env=False)
    try:

        @action(name="READ_KEY")
        def read_key(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> Any:
            return {"data": runtime.get_setting("API_KEY") == "sk-from-driver"}

        await rt.register_plugin(
            Plugin(name="k", actions=[read_key], config={"required": ["API_KEY"]})
        )
        out = await rt.run_batch("READ_KEY", ["x"], backend="dask", client=client, progress=False)
        assert out["data"].tolist() == [True]
    finally:
        await rt.aclose()


async def test_a_plugin_that_cannot_load_on_the_workers_raises(
    runtime: AgentRuntime, client: Any
) -> None:
    def on_load(rt: Any) -> None:
        if os.getpid() != DRIVER_PID:
            raise RuntimeError("no GPU here")

    @action(name="GPU")
    def gpu(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
        return None

    await runtime.register_plugin(Plugin(name="gpu", actions=[gpu], on_load=on_load))
    with pytest.raises(PluginError, match="no GPU here"):
        await runtime.run_batch("GPU", ["a", "b"], backend="dask", client=client, progress=False)


async def test_an_asynchronous_client_works_too(rt: AgentRuntime, client: Any) -> None:
    async with distributed.Client(client.scheduler.address, asynchronous=True) as aclient:
        out = await rt.run_batch(
            "WHO", ["a", "b", "c"], backend="dask", client=aclient, progress=False
        )
    assert out["text"].tolist() == ["A", "B", "C"]
    assert len(rt.metrics.runs) == 3


async def test_plugins_that_cannot_be_pickled_are_named(runtime: AgentRuntime, client: Any) -> None:
    lock = threading.Lock()

    @action(name="LOCKED")
    def locked(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> bool:
        return lock.locked()

    await runtime.register_plugin(Plugin(name="locked", actions=[locked]))
    with pytest.raises(PluginError, match=r"cannot be sent to the Dask workers.*lock"):
        await runtime.run_batch("LOCKED", ["a"], backend="dask", client=client, progress=False)


async def test_empty_inputs_do_not_touch_the_cluster(rt: AgentRuntime, client: Any) -> None:
    out = await rt.run_batch("WHO", [], backend="dask", client=client, progress=False)
    assert out.empty
    assert list(out.columns) == list(BATCH_COLUMNS)


async def test_client_is_required(rt: AgentRuntime) -> None:
    with pytest.raises(ValidationError, match=r"needs client=distributed\.Client") as info:
        await rt.run_batch("WHO", ["a"], backend="dask")
    assert info.value.field == "client"


async def test_partitions_must_be_positive(rt: AgentRuntime, client: Any) -> None:
    with pytest.raises(ValidationError) as info:
        await rt.run_batch("WHO", ["a"], backend="dask", client=client, partitions=0)
    assert info.value.field == "partitions"


def test_bounds_cut_contiguous_nearly_equal_parts() -> None:
    assert bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert bounds(2, 8) == [(0, 1), (1, 2)]
    assert bounds(5, 1) == [(0, 5)]


def test_absorb_renumbers_runs_and_their_errors() -> None:
    rt = AgentRuntime(use_env=False)
    rt.metrics.run(rt.metrics.new_run_id(), "p", "A", 0.0, 1.0, "default")
    runs = [(1, "p", "A", 0.0, 1.0, True, None, "r"), (2, "p", "A", 0.0, 1.0, False, "X", "r")]
    errors = [(0.0, 2, "p", "A", "X", "E", "m", ""), (0.0, None, "p", "hook", "Y", "E", "m", "")]
    renumber = absorb(rt, runs, errors, [(0.0, "hits", "counter", 1.0)])
    assert renumber == {1: 2, 2: 3}
    assert [r[0] for r in rt.metrics.runs] == [1, 2, 3]
    assert [e[1] for e in rt.metrics.errors] == [3, None]
    assert rt.metrics.counters() == {"hits": 1.0}
    rt.close()


def test_spec_resolves_declared_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "sk-env")
    rt = AgentRuntime()
    rt.run_sync(rt.register_plugin(who_plugin))
    spec = RuntimeSpec.of(rt)
    assert spec.settings == {"API_KEY": "sk-env"}  # the workers need not share the env
    assert [p.name for p in spec.plugins] == ["who"]
    rt.close()


def test_the_dask_extra_holds_what_the_backend_imports() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {r.split(">")[0] for r in extras["dask"]} == {"dask[distributed]", "cloudpickle"}
    assert "eliza_nb[otel,dask]" in extras["dev"]  # dev installs the extras, not copies of them
