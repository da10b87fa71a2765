"""Model handlers: the ``models`` of an elizaOS 1.x plugin and who serves each model type.

A plugin offers models as ``models={ModelType.TEXT_LARGE: handler, ...}``; a handler is
``handler(runtime, params)`` (sync or async) where ``params`` is a dict (``prompt``, ``system``,
``temperature``, ``max_tokens``, ``stop_sequences`` for text; ``text`` for embeddings).
``await runtime.use_model(ModelType.TEXT_LARGE, prompt="...")`` calls the handler of the
plugin with the highest ``priority`` (the first registered wins a tie).

A :class:`ModelSource` (a cassette, :class:`eliza_nb.testing.Cassette`) may be *interposed*
above every plugin for a while: it then serves every type a plugin serves, and the types it
holds on its own (a replayed cassette needs no model plugin), and it decides per call whether
to answer itself or to ask the entry below it. The table of plugins is never changed, so
withdrawing the source restores the registry exactly.

Example:
    >>> from eliza_nb import AgentRuntime, ModelType, Plugin
    >>> upper = lambda rt, params: params["prompt"].upper()
    >>> shout = Plugin(name="shout", models={ModelType.TEXT_SMALL: upper})
    >>> rt = AgentRuntime(use_env=False)
    >>> rt.run_sync(rt.register_plugin(shout))
    >>> rt.run_sync(rt.use_model("TEXT_SMALL", prompt="hi"))
    'HI'
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._calls import accepted_arity
from eliza_nb._checks import shown
from eliza_nb._handler_table import HandlerTable
from eliza_nb._tables import table
from eliza_nb.errors import Code, ElizaError, ValidationError
from eliza_nb.handler_output import error_info
from eliza_nb.protocols import PluginRuntime
from eliza_nb.tracing import NO_TRACER, Tracer

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.types import Memory

__all__ = [
    "MODEL_COLUMNS",
    "TEXT_MODELS",
    "ModelEntry",
    "ModelHandler",
    "ModelRegistry",
    "ModelRuntime",
    "ModelSource",
    "ModelType",
    "call_model",
    "embed_memory",
    "embed_text",
    "model_error_code",
    "model_key",
    "normalize_models",
]

log = logging.getLogger("eliza_nb")
ModelHandler = Callable[..., Any]


class ModelType(StrEnum):
    """The model types of elizaOS 1.x (plugins may serve other names too)."""

    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"
    TEXT_EMBEDDING = "TEXT_EMBEDDING"
    OBJECT_SMALL = "OBJECT_SMALL"
    OBJECT_LARGE = "OBJECT_LARGE"


TEXT_MODELS = (ModelType.TEXT_LARGE, ModelType.TEXT_SMALL)
"""The text models the agent loop asks, in order of preference."""

MODEL_COLUMNS = (
    ("model_type", "object"),
    ("plugin", "object"),
    ("priority", "int64"),
    ("handler", "object"),
    ("serving", "bool"),
)


def model_key(value: object) -> str:
    """The canonical name of a model type: a ``ModelType`` or a string, any case.

    Raises:
        ValidationError: ``value`` is not a non-empty string.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"a model type must be a ModelType or a name, got {shown(value)}", field="model_type"
        )
    return str(value).strip().upper()


def normalize_models(plugin: str, models: object) -> dict[str, ModelHandler]:
    """Check a plugin's ``models`` mapping when the plugin is created; keys become canonical.

    Raises:
        ValidationError: not a mapping, a bad key, or a handler that is not callable or cannot
            take ``(runtime, params)``.
    """
    if not isinstance(models, Mapping):
        raise ValidationError(
            f"Plugin {plugin!r}: field 'models' must be a dict of model type "
            f"-> handler, got {type(models).__name__}",
            field="models",
            plugin=plugin,
        )
    out: dict[str, ModelHandler] = {}
    for key, handler in models.items():
        name = model_key(key)
        if not callable(handler) or accepted_arity(handler, 2) < 2:
            raise ValidationError(
                f"Plugin {plugin!r}: model {name} must be a function handler(runtime, params)",
                field="models",
                plugin=plugin,
            )
        out[name] = handler
    return out


class _Serving(Protocol):
    """What ``add_plugin`` reads of a ``Plugin``."""

    @property
    def name(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def models(self) -> Mapping[str, ModelHandler]: ...


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model handler offered by one plugin."""

    model_type: str
    handler: ModelHandler
    plugin: str
    priority: int
    order: int


class ModelSource(Protocol):
    """What :meth:`ModelRegistry.interpose` puts above every plugin (a cassette).

    It serves every model type some plugin serves, and the ones it ``holds`` without any;
    ``answer`` gets the entry that would have served the call without it (None if no plugin
    serves that type), to call it or not.
    """

    @property
    def name(self) -> str:
        """Shown as the serving plugin (``models_frame``, error messages)."""
        ...

    def holds(self, model_type: str) -> bool:
        """True if it serves ``model_type`` even when no plugin does."""
        ...

    def held_types(self) -> Iterable[str]:
        """The model types it ``holds``."""
        ...

    def close(self) -> None:
        """Stop serving (the runtime closes its source when it closes)."""
        ...

    async def answer(
        self,
        runtime: PluginRuntime,
        model_type: str,
        params: dict[str, Any],
        below: ModelEntry | None,
    ) -> Any:
        """Answer one call (``below`` is the entry that serves it without this source)."""
        ...


class ModelRegistry:
    """Which plugin serves which model type; ``runtime.models``."""

    def __init__(self) -> None:
        # Per model type, the highest priority first; the first registered wins a tie.
        self._entries: HandlerTable[ModelEntry] = HandlerTable(_plugin, _rank)
        self._order = itertools.count()
        self._source: ModelSource | None = None

    def add(self, model_type: str, handler: ModelHandler, plugin: str, priority: int = 0) -> None:
        """Offer ``handler`` for ``model_type`` on behalf of ``plugin`` (replacing its own)."""
        key = model_key(model_type)
        entry = ModelEntry(key, handler, plugin, priority, next(self._order))
        self._entries.add(key, entry, replace=True)

    def add_plugin(self, plugin: _Serving) -> None:
        """Offer every model of ``plugin`` at the plugin's priority."""
        for key, handler in plugin.models.items():
            self.add(key, handler, plugin.name, plugin.priority)

    def remove_plugin(self, name: str) -> None:
        """Withdraw every model a plugin offered."""
        self._entries.remove_owner(name)

    @property
    def source(self) -> ModelSource | None:
        """The interposed source (a cassette), or None."""
        return self._source

    def interpose(self, source: ModelSource) -> None:
        """Put ``source`` above every plugin until :meth:`withdraw`.

        Raises:
            ValidationError: another source is interposed already.
        """
        if self._source is not None and self._source is not source:
            raise ValidationError(
                f"{self._source.name} already serves these models; withdraw it first",
                field="source",
            )
        self._source = source

    def withdraw(self, source: ModelSource) -> None:
        """Remove ``source`` if it is the interposed one (the plugins serve again)."""
        if self._source is source:
            self._source = None

    def resolve(self, model_type: str) -> ModelEntry | None:
        """The entry that serves ``model_type`` (highest priority), or None.

        Raises:
            ValidationError: ``model_type`` is not a name.
        """
        exact = self._entries.get(model_type) if isinstance(model_type, str) else ()
        return self._serving(model_type if exact else model_key(model_type))

    def has(self, model_type: str) -> bool:
        """True if some plugin (or the interposed source) serves ``model_type``."""
        if model_type in self._entries:
            return True
        return self._source is not None and self._source.holds(model_type)

    def text_model(self, *, small: bool = False) -> ModelEntry | None:
        """The model the agent loop asks: TEXT_LARGE if served, else TEXT_SMALL, else None.

        ``small=True`` prefers TEXT_SMALL (the should-respond step's choice, as in elizaOS).
        """
        for key in reversed(TEXT_MODELS) if small else TEXT_MODELS:
            entry = self._serving(key)
            if entry is not None:
                return entry
        return None

    def types(self) -> list[str]:
        """Every served model type, sorted."""
        keys = [key for key, _ in self._entries.items()]
        if self._source is None:
            return keys
        return sorted({*keys, *self._source.held_types()})

    def _serving(self, key: str) -> ModelEntry | None:
        """The entry ``use_model`` calls for a canonical ``key``: the source's, if interposed."""
        entries = self._entries.get(key)
        top = entries[0] if entries else None
        source = self._source
        if source is None or (top is None and not source.holds(key)):
            return top
        return _interposed(source, key, top)

    def frame(self) -> pd.DataFrame:
        """One row per offered handler: ``model_type, plugin, priority, handler, serving``.

        ``serving`` is True for the handler ``use_model`` calls (an interposed source's row
        comes first).
        """
        rows = []
        for key in self.types():
            serving = self._serving(key)
            for i, e in enumerate([serving, *self._entries.get(key)]):
                if e is not None and (i == 0 or e is not serving):
                    rows.append((key, e.plugin, e.priority, _handler_name(e.handler), i == 0))
        return table(rows, MODEL_COLUMNS)

    def __repr__(self) -> str:
        served = ", ".join(f"{k}={e.plugin}" for k in self.types() if (e := self._serving(k)))
        return f"ModelRegistry({served or 'empty'})"


class ModelRuntime(PluginRuntime, Protocol):
    """A runtime as embedding sees it: what plugins see, and the models it serves."""

    @property
    def models(self) -> ModelRegistry:
        """Which plugin serves which model type."""
        ...


def _plugin(entry: ModelEntry) -> str:
    return entry.plugin


def _rank(entry: ModelEntry) -> tuple[int, int]:
    return -entry.priority, entry.order


def _handler_name(handler: ModelHandler) -> str:
    return str(getattr(handler, "__qualname__", None) or repr(handler))


def _interposed(source: ModelSource, key: str, below: ModelEntry | None) -> ModelEntry:
    """An entry whose handler lets ``source`` answer, knowing what ``below`` would have done."""

    async def handler(runtime: PluginRuntime, params: dict[str, Any]) -> Any:
        return await source.answer(runtime, key, params, below)

    handler.__qualname__ = f"{type(source).__name__}.answer"
    priority = below.priority if below is not None else 0
    return ModelEntry(model_key(key), handler, source.name, priority, -1)  # a str, not an enum


async def call_model(runtime: PluginRuntime, entry: ModelEntry, params: dict[str, Any]) -> Any:
    """Call one model handler with ``(runtime, params)``, awaiting it if needed.

    What the model answers enters the runtime here, so it is masked (an embedding, a vector
    of numbers, carries no text and is returned as it is).
    """
    tracer: Tracer = getattr(runtime, "tracer", NO_TRACER)  # a runtime may not trace
    with tracer.span("model", entry.model_type, **_model_attributes(entry, params)) as span:
        try:
            value = entry.handler(runtime, params)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            if span is not None:
                span.fail(model_error_code(exc))
            raise
        if entry.model_type == ModelType.TEXT_EMBEDDING:
            return value
        value = runtime.settings.masker.mask_value(value)
        if span is not None:
            span.set(answer=value)
        return value


def model_error_code(exc: BaseException) -> str:
    """The code a failed model call is recorded with: an ``ElizaError``'s own (``API_ERROR``,
    ``CASSETTE_MISS``...), else ``MODEL_ERROR``."""
    return exc.code if isinstance(exc, ElizaError) else Code.MODEL_ERROR


def _model_attributes(entry: ModelEntry, params: Mapping[str, Any]) -> dict[str, Any]:
    """A model span's inputs: the plugin, the model type and the parameters (the prompt...);
    an embedding's text is left out (it is the memory's, which its own span holds)."""
    attributes: dict[str, Any] = {"plugin": entry.plugin, "model_type": entry.model_type}
    if entry.model_type != ModelType.TEXT_EMBEDDING:
        attributes["params"] = {k: v for k, v in params.items() if k != "text"} or None
    return attributes


async def embed_text(runtime: ModelRuntime, text: str) -> list[float] | None:
    """The embedding of ``text`` from the runtime's ``TEXT_EMBEDDING`` model; None without one.

    Raises:
        ValidationError: the model answered something other than a list of numbers.
        Whatever the model handler raises.
    """
    entry = runtime.models.resolve(ModelType.TEXT_EMBEDDING)
    if entry is None:
        return None
    vector = await call_model(runtime, entry, {"text": text})
    if not isinstance(vector, list | tuple) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in vector
    ):
        raise ValidationError(
            f"{entry.plugin}: TEXT_EMBEDDING must return a list of numbers, "
            f"got {type(vector).__name__}",
            field="embedding",
        )
    return [float(x) for x in vector]


async def embed_memory(runtime: ModelRuntime, memory: Memory) -> Memory:
    """``memory`` with its embedding filled in, when an embedding model is registered.

    A memory that has an embedding, has no text, or meets no model comes back unchanged. A
    failing model is logged (code ``EMBEDDING_ERROR`` in the error log) and the memory is kept
    without an embedding: storing a message matters more than indexing it.
    """
    if memory.embedding is not None or not memory.content.text:
        return memory
    if not runtime.models.has(ModelType.TEXT_EMBEDDING):
        return memory
    try:
        vector = await embed_text(runtime, memory.content.text)
    except Exception as exc:
        info = error_info(exc, code=Code.EMBEDDING_ERROR)
        info = runtime.metrics.failure(None, "", ModelType.TEXT_EMBEDDING.value, info)
        log.warning("embedding failed, memory stored without one: %s", info.message)
        return memory
    return memory.model_copy(update={"embedding": vector})
