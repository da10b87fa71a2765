"""Cassettes: record a runtime's model calls (and eliza_nb's HTTP calls) once, replay them offline.

``runtime.use_cassette(path, mode)`` returns a started :class:`Cassette`; use it as a context
manager, or keep it and ``close()`` it later (``Cassette.active()`` finds it again):

- ``"replay"`` (default): every call is answered from the file, with no model plugin and no
  network; a call that was not recorded raises ``ElizaError`` with code ``CASSETTE_MISS``,
  naming the closest recorded call and a diff of its prompt.
- ``"record"``: every call goes to the model (or the server) and is recorded; the file is
  replaced by this session's calls.
- ``"auto"``: replays what the file holds and records what it does not (the file may be new).

Matching: a model call is its model type and its parameters, canonicalised (key order, tuples
and sets do not matter) and masked, minus :data:`IGNORED_PARAMS`; an HTTP call is its method,
URL and body (JSON canonicalised), never its headers. Identical calls are answered in the order
they were recorded; past the last, the last answer repeats (``allow_repeats=True``, so a
notebook cell can be run again) or the call is a miss (``allow_repeats=False``). Only answers
are recorded: a call that raised is not. Secrets the runtime knows are masked
(``runtime.settings.masker``) before anything reaches the file.

The file is JSON with sorted keys and an indent (an embedding on one line), one entry per call
in call order (:mod:`eliza_nb.testing._cassette_file` shows one), rewritten atomically (a
temporary file, then ``os.replace``) after every recorded call, so a crash never leaves half a
cassette; a prompt change shows up as a diff in a code review. Recording creates
missing parent directories. A file that is missing (replay), not JSON, of another shape or
version, or a path that cannot be written raises ``CASSETTE_ERROR`` naming the path.

Example:
    >>> import asyncio, pathlib, tempfile
    >>> from eliza_nb.testing import DeterministicModel, create_test_runtime
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello.json"
    >>> rt = asyncio.run(create_test_runtime(plugins=[DeterministicModel(["Hi!"]).plugin]))
    >>> with rt.use_cassette(path, mode="record"):
    ...     rt.run_sync(rt.use_model("TEXT_LARGE", prompt="Hello"))
    'Hi!'
    >>> offline = asyncio.run(create_test_runtime())  # no model plugin at all
    >>> with offline.use_cassette(path):
    ...     offline.run_sync(offline.use_model("TEXT_LARGE", prompt="Hello"))
    'Hi!'
"""

from __future__ import annotations

import contextvars
import copy
import difflib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from pydantic import BaseModel

import eliza_nb.testing._cassette_file as _file
from eliza_nb.errors import Code, ElizaError
from eliza_nb.models import ModelEntry, ModelRuntime, call_model
from eliza_nb.plugins import _http
from eliza_nb.plugins._http import HttpCall, RawResponse
from eliza_nb.protocols import PluginRuntime
from eliza_nb.settings import Masker
from eliza_nb.testing._cassette_file import CASSETTE_VERSION, cassette_error

__all__ = ["CASSETTE_VERSION", "IGNORED_PARAMS", "Cassette", "canonical"]

IGNORED_PARAMS: Final = frozenset({"request_id", "span_id", "timestamp", "trace_id"})
"""Model parameters that differ on every run, left out of the recorded request."""

Mode = Literal["replay", "record", "auto"]
_MODES: Final = ("replay", "record", "auto")
_DIFF_LINES: Final = 16
# Set while a recorded model call runs: its HTTP requests are the model's business, already
# covered by the model entry, so they are sent as they are (asyncio.to_thread copies it).
_IN_MODEL: contextvars.ContextVar[bool] = contextvars.ContextVar("_IN_MODEL", default=False)
_ACTIVE: list[Cassette] = []  # at most one: the HTTP hook is process-wide


def canonical(value: Any) -> Any:
    """The JSON value a request is matched by: dict keys as text, tuples as lists, sets sorted.

    Enums become their values, pydantic models their JSON dump, classes their dotted name, and
    any other object ``"<TypeName>"`` (a callback has no stable form).

    Example:
        >>> canonical({"b": (1, 2), "a": {"y", "x"}})
        {'b': [1, 2], 'a': ['x', 'y']}
    """
    if isinstance(value, Enum):
        return canonical(value.value)
    if value is None or isinstance(value, bool):
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=_key)
    if isinstance(value, BaseModel):
        return canonical(value.model_dump(mode="json"))
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return f"<{type(value).__qualname__}>"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Cassette:
    """A file of recorded model and HTTP calls; see the module docstring.

    Args:
        path: The JSON file.
        mode: ``"replay"``, ``"record"`` or ``"auto"``.
        allow_repeats: Past the last recording of a call, repeat its answer (else: a miss).

    Raises:
        ElizaError: ``CASSETTE_ERROR``: a bad mode, or the file cannot be read (replay, auto)
            or its directory written (record, auto).
    """

    name = "cassette"

    def __init__(self, path: str | Path, mode: str = "replay", *, allow_repeats: bool = True):
        self.path = Path(path)
        if mode not in _MODES:
            raise cassette_error(self.path, f"mode {mode!r} is not one of {', '.join(_MODES)}")
        self.mode: Mode = mode  # type: ignore[assignment]
        self.allow_repeats = allow_repeats
        loaded = {} if mode == "record" else _file.load(self.path, missing_ok=mode == "auto")
        self.entries: list[dict[str, Any]] = list(loaded.get("entries", []))
        self._served = set(loaded.get("models", [])) | {
            e["request"]["model_type"] for e in self.entries if e["kind"] == "model"
        }
        if mode != "replay":
            _file.check_writable(self.path)
        self._slots: dict[str, list[int]] = {}
        for i, entry in enumerate(self.entries):
            self._slots.setdefault(_key([entry["kind"], entry["request"]]), []).append(i)
        self._used: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._runtime: ModelRuntime | None = None
        self._masker = Masker()
        self._previous: _http.Transport | None = None
        self._dirty = mode == "record"  # a new recording replaces the file even if empty

    # -- starting and stopping ---------------------------------------------------------
    @classmethod
    def active(cls, runtime: ModelRuntime | None = None) -> Cassette | None:
        """The started cassette (of ``runtime``, if given), or None: what ``off`` closes."""
        current = _ACTIVE[0] if _ACTIVE else None
        if current is None or runtime is None or current._runtime is runtime:
            return current
        return None

    def start(self, runtime: ModelRuntime) -> Cassette:
        """Serve ``runtime``'s model calls and every eliza_nb HTTP call until :meth:`close`.

        Raises:
            ElizaError: ``CASSETTE_ERROR``: a cassette is started already (one per process).
        """
        if _ACTIVE:
            raise cassette_error(
                _ACTIVE[0].path, "is in use: close that cassette first (one at a time)"
            )
        self._runtime, self._masker = runtime, runtime.settings.masker
        self._used.clear()  # each start replays the file from its first entry
        runtime.models.interpose(self)
        self._previous = _http.swap_transport(self._transport)
        _ACTIVE.append(self)
        return self

    def close(self) -> None:
        """Stop serving (the registry and HTTP are as before) and write what was recorded.

        Raises:
            ElizaError: ``CASSETTE_ERROR``: the file cannot be written.
        """
        if self._runtime is None:
            return
        runtime, self._runtime = self._runtime, None
        runtime.models.withdraw(self)
        _http.swap_transport(self._previous)
        _ACTIVE.remove(self)
        if self.mode != "replay" and (self._dirty or not self.path.exists()):
            with self._lock:
                self._save(runtime)

    def __enter__(self) -> Cassette:
        if self._runtime is None:  # `with Cassette(path):` alone would serve nothing
            raise cassette_error(self.path, "is not started: use runtime.use_cassette(path)")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        state = "started" if self._runtime is not None else "closed"
        return f"Cassette({str(self.path)!r}, mode={self.mode!r}, entries={len(self)}, {state})"

    # -- the model source (eliza_nb.models.ModelSource) ---------------------------------
    def holds(self, model_type: str) -> bool:
        """True if the file has recordings of ``model_type`` (not while recording anew)."""
        return self.mode != "record" and model_type in self._served

    def held_types(self) -> Iterable[str]:
        """The model types the cassette serves with no model plugin."""
        return sorted(self._served) if self.mode != "record" else []

    async def answer(
        self,
        runtime: PluginRuntime,
        model_type: str,
        params: dict[str, Any],
        below: ModelEntry | None,
    ) -> Any:
        """Answer one model call from the file, or ask ``below`` and record its answer.

        Raises:
            ElizaError: ``CASSETTE_MISS`` (not recorded; replay, or no model to ask),
                ``CASSETTE_ERROR`` (the answer cannot be recorded or written).
        """
        request = self._model_request(model_type, params)
        found = self._replayed("model", request, below is None)
        if found is not None:
            return copy.deepcopy(found[0])
        assert below is not None  # _replayed raised a miss when there is nothing to ask
        token = _IN_MODEL.set(True)
        try:
            value = await call_model(runtime, below, params)
        finally:
            _IN_MODEL.reset(token)
        self._record("model", request, value)
        return value

    def _model_request(self, model_type: str, params: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in params.items() if k not in IGNORED_PARAMS}
        return {"model_type": model_type, "params": self._masked(kept)}

    def _masked(self, value: Any) -> Any:
        try:
            return self._masker.mask_value(canonical(value))
        except RecursionError:
            raise cassette_error(
                self.path, "cannot record a value nested this deep (a cycle?)"
            ) from None

    # -- the HTTP transport (eliza_nb.plugins._http.Transport) ---------------------------
    def _transport(self, call: HttpCall, send: Callable[[], RawResponse]) -> RawResponse:
        if _IN_MODEL.get():
            return send()
        request = {
            "method": call.method.upper(),
            "url": self._masker.mask(call.url),
            "body": self._masked(_file.body_json(call.body)),
        }
        found = self._replayed("http", request, False)
        if found is not None:
            try:
                return _file.raw_response(found[0])
            except ValueError:
                raise cassette_error(self.path, "has an HTTP body that is not base64") from None
        raw = send()
        self._record("http", request, _file.response_json(raw))
        return raw

    # -- matching and recording ---------------------------------------------------------
    def _replayed(
        self, kind: str, request: dict[str, Any], nothing_below: bool
    ) -> tuple[Any] | None:
        """``(answer,)`` from the file, or None to ask the real thing (record, or auto)."""
        key = _key([kind, request])
        with self._lock:
            slots = self._slots.get(key, []) if self.mode != "record" else []
            used = self._used[key]
            if used < len(slots) or (slots and self.allow_repeats):
                self._used[key] += 1
                return (self.entries[slots[min(used, len(slots) - 1)]]["response"],)
        if self.mode == "replay" or nothing_below:
            raise self._miss(kind, request, len(slots))
        return None

    def _record(self, kind: str, request: dict[str, Any], response: Any) -> None:
        try:
            plain = json.loads(json.dumps(response, allow_nan=True))
        except (TypeError, ValueError):
            raise cassette_error(
                self.path, f"cannot record a {type(response).__name__} answer"
            ) from None
        entry = {"kind": kind, "request": request, "response": self._masker.mask_value(plain)}
        with self._lock:
            key = _key([kind, request])
            self._slots.setdefault(key, []).append(len(self.entries))
            self._used[key] += 1
            self.entries.append(entry)
            self._save(self._runtime)

    def _save(self, runtime: ModelRuntime | None) -> None:
        """Write the file (called under the lock): masked again, for secrets learned since."""
        if runtime is not None:
            self._served.update(runtime.models.types())  # replay serves what was served
        doc = {"version": CASSETTE_VERSION, "models": sorted(self._served)}
        doc["entries"] = self._masker.mask_value(self.entries)
        _file.write_atomic(self.path, _file.dumps(doc) + "\n")
        self._dirty = False

    # -- a miss ---------------------------------------------------------------------------
    def _miss(self, kind: str, request: dict[str, Any], recorded: int) -> ElizaError:
        what = request.get("model_type") or f"{request['method']} {request['url']}"
        lines = [f"No recording of this {what} call in cassette {self.path} ({self.mode} mode)."]
        if recorded:
            lines[0] = (
                f"Cassette {self.path} recorded this {what} call {recorded} time(s) and "
                f"allow_repeats is off: call {recorded + 1} is not recorded."
            )
        closest = None if recorded else self._closest(kind, request)
        if closest is not None:
            index, entry = closest
            fields, diff = _difference(entry["request"], request)
            lines.append(f"Closest recorded call: entry {index}, which differs in {fields}:")
            lines.extend(diff)
        elif not recorded:
            lines.append(f"The cassette holds no {kind} call to compare it with.")
        lines.append("Record it: use_cassette(path, mode='record'), or mode='auto' to add calls.")
        details: dict[str, Any] = {"path": str(self.path), "mode": self.mode, "kind": kind}
        details.update(request=request, closest=closest[0] if closest is not None else None)
        return ElizaError("\n".join(lines), code=Code.CASSETTE_MISS, details=details)

    def _closest(self, kind: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        pool = [(i, e) for i, e in enumerate(self.entries) if e["kind"] == kind]
        if kind == "model":  # another prompt to the same model, if there is one
            model = request["model_type"]
            pool = [(i, e) for i, e in pool if e["request"]["model_type"] == model] or pool
        if not pool:
            return None
        wanted = _key(request)

        def likeness(item: tuple[int, dict[str, Any]]) -> float:
            return difflib.SequenceMatcher(None, _key(item[1]["request"]), wanted).ratio()

        return max(pool, key=likeness)


def _difference(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, list[str]]:
    """The names of the fields that differ, and a short diff of the first (the prompt first)."""
    flat_old, flat_new = {**old, **old.get("params", {})}, {**new, **new.get("params", {})}
    fields = sorted(
        k for k in {*flat_old, *flat_new} - {"params"} if flat_old.get(k) != flat_new.get(k)
    )
    if not fields:
        return "no field shown", []
    name = "prompt" if "prompt" in fields else fields[0]
    diff = list(
        difflib.unified_diff(
            _lines(flat_old.get(name)), _lines(flat_new.get(name)), "recorded", "now", n=1
        )
    )
    more = len(diff) - _DIFF_LINES
    diff = [line.rstrip("\n") for line in diff[:_DIFF_LINES]]
    return ", ".join(fields), diff + ([f"... ({more} more diff lines)"] if more > 0 else [])


def _lines(value: Any) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)
    return [line + "\n" for line in text.splitlines()]
