"""Scale-out: ``run_batch(..., backend="dask", client=client)`` on a Dask distributed cluster.

The inputs are cut into contiguous partitions and each partition runs on a worker through the
same engine as a local batch (a pool of ``concurrency`` coroutines). Every worker thread builds
its own ``AgentRuntime`` from the driver runtime's plugins, character and settings, and keeps it
for the partitions that follow (``on_load`` runs once per worker thread). The results come back
as one DataFrame in input order, indexed like the input (as a local batch's), and each
partition's run, error and custom-metric records are appended to the driver runtime's records
with fresh run ids, so ``metrics_frame()``, ``errors_frame()`` and ``metrics_summary()`` on the
driver cover the whole batch.

Interrupting works as for a local batch (see :mod:`eliza_nb.batch`): the partitions not started
are cancelled on the cluster and the rows of the finished ones are returned (a partition already
running finishes on its worker, since Dask cannot stop a running task, and its rows are dropped).

Pointing it at a real cluster:
    0. Install the extra where the notebook runs and on the workers:
       ``pip install 'eliza_nb[dask]'`` (``dask[distributed]`` and ``cloudpickle``).
    1. Run the scheduler and workers from the notebook's environment (the same Python, eliza_nb
       and plugin packages), e.g. ``dask scheduler`` on one host and
       ``dask worker tcp://SCHEDULER:8786 --nworkers 4 --nthreads 1`` on each worker host, or a
       managed cluster (dask-kubernetes, dask-jobqueue, Coiled) created from the notebook.
    2. Connect from the notebook: ``client = distributed.Client("tcp://SCHEDULER:8786")``.
    3. ``await runtime.run_batch("MY_ACTION", frame, text_column="question", backend="dask",
       client=client)``.

    What travels to the workers (pickled with cloudpickle): the registered plugins, the character,
    the explicit settings, and every setting a plugin declares (``config.required`` and
    ``optional``) as the driver resolves it, secrets included: on a shared network use a
    ``tls://`` scheduler address with a ``distributed.security.Security``. Plugins defined in
    notebook cells are pickled by value; plugins from importable modules are pickled by
    reference, so install them on the workers, ship a single-file module with
    ``client.upload_file("my_plugin.py")``, or call ``cloudpickle.register_pickle_by_value(mod)``
    on the driver. Services are rebuilt on each worker: list service classes, not started
    instances. ``concurrency`` applies per partition; ``partitions`` (default: four per worker
    thread) trades balance against per-partition overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eliza_nb._checks import shown
from eliza_nb.batch import (
    BatchRows,
    NoBar,
    RunControl,
    interrupt_stops,
    progress_bar,
    run_rows,
    to_frame,
)
from eliza_nb.batch_inputs import BatchInputs
from eliza_nb.character import Character
from eliza_nb.errors import ElizaError, PluginError, ValidationError
from eliza_nb.plugin import Plugin
from eliza_nb.records import ErrorRow, RunRow

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.runtime import AgentRuntime

__all__ = ["RuntimeSpec", "run_dask"]

_PARTS_PER_THREAD = 4
_local = threading.local()

# What one partition sends back: its rows, run records, error records, custom metric records.
PartResult = tuple[BatchRows, list[RunRow], list[ErrorRow], list[tuple[float, str, str, float]]]


@dataclass
class RuntimeSpec:
    """Everything a worker needs to build a runtime like the driver's (sent pickled)."""

    plugins: list[Plugin]
    settings: dict[str, Any] = field(default_factory=dict)
    character: Character | None = None
    use_env: bool = True
    default_timeout: float | None = None

    @classmethod
    def of(cls, runtime: AgentRuntime) -> RuntimeSpec:
        """The driver runtime's plugins, character and settings (declared keys resolved)."""
        plugins = list(runtime.registry.plugins.values())
        settings = dict(runtime.settings.explicit)
        for plugin in plugins:
            for key in (*plugin.config.required, *plugin.config.optional):
                value = runtime.get_setting(key)
                if key not in settings and value is not None:
                    settings[key] = value
        return cls(
            plugins, settings, runtime.character, runtime.settings.use_env, runtime.default_timeout
        )

    def build(self) -> AgentRuntime:
        """A fresh runtime with the plugins registered (raises what registration raises)."""
        from eliza_nb.runtime import AgentRuntime

        runtime = AgentRuntime(self.character, self.settings, use_env=self.use_env)
        runtime.default_timeout = self.default_timeout
        runtime.run_sync(runtime.register_plugins(self.plugins))
        return runtime


def _worker_runtime(blob: bytes, token: str) -> AgentRuntime:
    """This worker thread's runtime for ``token``, built on first use and kept."""
    cached: tuple[str, AgentRuntime] | None = getattr(_local, "runtime", None)
    if cached is not None and cached[0] == token:
        return cached[1]
    if cached is not None:  # the driver's plugins changed: the old runtime goes
        _local.runtime = None
        cached[1].close()
    import cloudpickle  # type: ignore[import-untyped]

    spec: RuntimeSpec = cloudpickle.loads(blob)
    runtime = spec.build()
    _local.runtime = (token, runtime)
    return runtime


def run_partition(
    blob: bytes,
    token: str,
    action: str,
    part: BatchInputs,
    concurrency: int,
    timeout: float | None,
    room_id: str | None,
) -> PartResult:
    """Run one partition on a worker; its rows and the records made meanwhile."""
    runtime = _worker_runtime(blob, token)
    act, plugin = runtime.dispatcher.find(action)
    rows, _ = runtime.run_sync(
        run_rows(
            runtime,
            act,
            plugin,
            part,
            concurrency=concurrency,
            timeout=timeout,
            room_id=room_id,
            bar=NoBar(),
        )
    )
    metrics = runtime.metrics
    shipped = (rows, list(metrics.runs), list(metrics.errors), list(metrics.custom))
    metrics.clear()  # the records now belong to the driver
    return shipped


def absorb(
    runtime: AgentRuntime,
    runs: Sequence[Sequence[Any]],
    errors: Sequence[Sequence[Any]],
    custom: Sequence[tuple[float, str, str, float]],
) -> dict[int, int]:
    """Record a worker's records in the driver's, renumbered; the old -> new run id map."""
    return runtime.metrics.absorb(runs, errors, custom)


def bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``range(n)`` into ``parts`` contiguous, nearly equal ``(start, stop)`` pieces."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


class _Cluster:
    """The few client calls we make, for a blocking or an asynchronous ``Client``."""

    def __init__(self, client: Any) -> None:
        if not all(hasattr(client, m) for m in ("submit", "scatter", "cancel", "nthreads")):
            raise ValidationError(
                "backend='dask' needs client=distributed.Client(...) (the extra: pip install "
                f"'eliza_nb[dask]'), got {type(client).__name__}",
                field="client",
            )
        self.client = client
        self.is_async = bool(getattr(client, "asynchronous", False))

    async def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.is_async:
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)  # a blocking client call

    async def result(self, future: Any) -> Any:
        return await future if self.is_async else await asyncio.to_thread(future.result)

    async def threads(self) -> int:
        return sum((await self.call(self.client.nthreads)).values()) or 1


async def run_dask(
    runtime: AgentRuntime,
    action: str,
    inputs: BatchInputs,
    *,
    client: Any,
    concurrency: int,
    timeout: float | None,
    progress: bool,
    room_id: str | None,
    partitions: int | None,
) -> pd.DataFrame:
    """The ``backend="dask"`` branch of :func:`eliza_nb.batch.run_batch` (same frame).

    Raises:
        ValidationError: ``client`` is not a distributed ``Client``, or ``partitions`` < 1.
        PluginError: the plugins cannot be pickled, or a partition failed on the cluster (e.g.
            a plugin module is not importable there); an ``ElizaError`` raised on a worker (a
            missing setting, a failing ``on_load``) comes back as is.
    """
    cluster = _Cluster(client)
    if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
        raise ValidationError(
            f"partitions must be a positive int, got {shown(partitions)}", field="partitions"
        )
    out = BatchRows(len(inputs))
    interrupted = False
    if len(inputs):
        parts = bounds(len(inputs), partitions or _PARTS_PER_THREAD * await cluster.threads())
        bar = progress_bar(len(inputs), progress, action)
        try:
            interrupted = await _run_parts(
                runtime, cluster, action, inputs, parts, out, bar, (concurrency, timeout, room_id)
            )
        finally:
            bar.close()
    return to_frame(inputs.labels, out, action=action, interrupted=interrupted)


async def _run_parts(
    runtime: AgentRuntime,
    cluster: _Cluster,
    action: str,
    inputs: BatchInputs,
    parts: list[tuple[int, int]],
    out: BatchRows,
    bar: Any,
    options: tuple[Any, ...],
) -> bool:
    import cloudpickle

    try:
        blob = cloudpickle.dumps(RuntimeSpec.of(runtime))
    except Exception as exc:  # a started service instance, an open connection, a lock...
        raise PluginError(
            f"the plugins cannot be sent to the Dask workers: {type(exc).__name__}: {exc}. "
            "List service classes rather than started instances, and keep connections out of "
            "plugin objects (open them in on_load or a service).",
        ) from exc
    token = hashlib.sha256(blob).hexdigest()
    client = cluster.client
    [spec] = await cluster.call(client.scatter, [blob], broadcast=True, hash=False)
    pieces = await cluster.call(client.scatter, [inputs.part(a, b) for a, b in parts], hash=False)
    futures = [
        client.submit(run_partition, spec, token, action, piece, *options, pure=False)
        for piece in pieces
    ]
    control = RunControl()
    control.tasks = [asyncio.ensure_future(_collect(runtime, cluster, futures, parts, out, bar))]
    try:
        with interrupt_stops(control):
            return await control.wait()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            await cluster.call(client.cancel, pending)


async def _collect(
    runtime: AgentRuntime,
    cluster: _Cluster,
    futures: list[Any],
    parts: list[tuple[int, int]],
    out: BatchRows,
    bar: Any,
) -> None:
    """Take each partition as it finishes: paste its rows, absorb its records."""
    loop = asyncio.get_running_loop()
    done: asyncio.Queue[int] = asyncio.Queue()

    def notify(i: int) -> Callable[[Any], None]:
        def on_done(_: Any) -> None:  # runs in a dask callback thread
            with contextlib.suppress(RuntimeError):  # a closed loop: the batch is over
                loop.call_soon_threadsafe(done.put_nowait, i)

        return on_done

    for i, future in enumerate(futures):
        future.add_done_callback(notify(i))
    for _ in futures:
        i = await done.get()
        try:
            rows, runs, errors, custom = await cluster.result(futures[i])
        except ElizaError:
            raise
        except Exception as exc:
            raise PluginError(
                f"partition {i} of the batch failed on the cluster: {type(exc).__name__}: "
                f"{exc}. Plugins must be importable on the workers or defined in the notebook.",
                details={"partition": i},
            ) from exc
        renumber = absorb(runtime, runs, errors, custom)
        out.paste(parts[i][0], rows, [None if r is None else renumber[r] for r in rows.run_id])
        bar.update(len(rows.success))
