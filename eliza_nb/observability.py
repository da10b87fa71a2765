"""Logging and slow-run warnings: how much eliza_nb tells you while it works.

Everything is logged under the ``eliza_nb`` logger (``eliza_nb.store``, ``eliza_nb.records``,
``eliza_nb.performance``, ``eliza_nb.runs``, ...), so the standard ``logging`` configuration
applies. As a library should, eliza_nb prints nothing unless asked: the ``eliza_nb`` logger has a
``logging.NullHandler``, so its records never reach ``logging.lastResort`` (the handler that
prints WARNING records to stderr when nobody configured logging). A failed run is not a
warning: it is a row of the results and of ``errors_frame()``, and its card shows it; its log
record (``eliza_nb.runs``) is INFO. A batch with failed rows logs one WARNING summary line.

Three debug modes, as in the elizaOS guide, map to log levels; setting one (``%eliza debug``)
is asking for output, so it adds a console handler when logging is not configured:

======== ============ =====================================================================
mode     level        what you see
======== ============ =====================================================================
none     WARNING      slow runs, one summary line per batch with failed rows, store problems
basic    INFO         also every failed run, plugins registered, databases opened or upgraded
verbose  DEBUG        also every flush of run records and other internals
======== ============ =====================================================================

The names people type are accepted too: ``off``/``on``, ``quiet``/``all``, ``true``/``false``
and the ``logging`` level names (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``).

Set the mode with :func:`set_debug_mode` (``%eliza debug verbose`` in a notebook), or with the
``ELIZA_DEBUG`` setting (a mode) or ``LOG_LEVEL`` setting (a mode or a level name such as
``DEBUG``), read when a runtime starts and when the setting changes.

Log records of the ``eliza_nb`` logger tree (plugins log under ``eliza_nb.plugins.NAME``) are
masked as they are made: :func:`mask_logs` puts a runtime's secret masker in the way of every
such record, its message, arguments and traceback, so no handler (ours, the application's,
pytest's ``caplog``) ever receives a secret value.

A run that takes longer than ``SLOW_ACTION_MS`` milliseconds (default 1000; 0 turns the
warning off) logs a warning under ``eliza_nb.performance``; a cancelled or interrupted run does
not (it was stopped, not slow).
"""

from __future__ import annotations

import logging
import math
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from eliza_nb.errors import ValidationError

__all__ = [
    "DEBUG_MODES",
    "DEFAULT_SLOW_MS",
    "MODE_NAMES",
    "SETTINGS",
    "configure",
    "get_debug_mode",
    "log_failure",
    "mask_logs",
    "set_debug_mode",
    "slow_threshold_ms",
    "warn_slow",
]

LOGGER_NAME = "eliza_nb"
_TREE = LOGGER_NAME + "."
DEBUG_MODES = {"none": logging.WARNING, "basic": logging.INFO, "verbose": logging.DEBUG}
DEBUG_SETTING, LEVEL_SETTING, SLOW_SETTING = "ELIZA_DEBUG", "LOG_LEVEL", "SLOW_ACTION_MS"
#: The settings this module reads; the runtime re-applies them when one changes.
SETTINGS = frozenset({DEBUG_SETTING, LEVEL_SETTING, SLOW_SETTING})
DEFAULT_SLOW_MS = 1000.0

_ALIASES = {
    "none": "none",
    "off": "none",
    "false": "none",
    "0": "none",
    "quiet": "none",
    "basic": "basic",
    "on": "basic",
    "true": "basic",
    "1": "basic",
    "info": "basic",
    "verbose": "verbose",
    "debug": "verbose",
    "2": "verbose",
    "all": "verbose",
}
_LEVELS = {
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
#: Every name :func:`set_debug_mode` accepts (the modes first), for help and completion.
MODE_NAMES = (*DEBUG_MODES, *(a for a in _ALIASES if a not in DEBUG_MODES), *_LEVELS)
_HANDLER_NAME = "eliza_nb-console"
_perf_log = logging.getLogger("eliza_nb.performance")
_runs_log = logging.getLogger("eliza_nb.runs")
log = logging.getLogger("eliza_nb.observability")
# The library convention (logging HOWTO, "Configuring Logging for a Library"): without it, a
# WARNING of ours in an unconfigured process is printed by logging.lastResort.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


class _Settings(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def set_debug_mode(mode: str | int | bool) -> str:
    """Set how much eliza_nb logs and return the mode now in force.

    Args:
        mode: ``"none"``, ``"basic"`` or ``"verbose"``; also a level name (``"DEBUG"``,
            ``"ERROR"``, ...), a ``logging`` level number, or a bool (on = basic).

    When no logging is configured (a fresh notebook), a console handler is added to the
    ``eliza_nb`` logger so the messages show; otherwise they go to your handlers.

    Raises:
        ValidationError: the mode is none of these.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(_level(mode))
    _ensure_handler(logger)
    return get_debug_mode()


def get_debug_mode() -> str:
    """The debug mode of the ``eliza_nb`` logger (``"none"`` for WARNING and above)."""
    level = logging.getLogger(LOGGER_NAME).getEffectiveLevel()
    if level <= logging.DEBUG:
        return "verbose"
    return "basic" if level <= logging.INFO else "none"


def _level(mode: str | int | bool) -> int:
    if isinstance(mode, bool):
        return DEBUG_MODES["basic" if mode else "none"]
    if isinstance(mode, int):
        return mode
    key = str(mode).strip().lower()
    if key in _ALIASES:
        return DEBUG_MODES[_ALIASES[key]]
    if key in _LEVELS:
        return _LEVELS[key]
    raise ValidationError(
        f"Unknown debug mode {mode!r}: use none, basic or verbose, on or off, "
        "or a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)",
        field="mode",
    )


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the *current* ``sys.stderr``: in a kernel, the running cell's output."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it; ignore
        pass


def _ensure_handler(logger: logging.Logger) -> None:
    if any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        return
    if logging.getLogger().handlers:  # the application configured logging: propagate to it
        return
    handler = _CurrentStderr()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    logger.addHandler(handler)  # propagation stays on: logging's last resort is then unused


class _Masking(Protocol):
    def mask(self, text: str) -> str: ...

    def __bool__(self) -> bool: ...


_MASKERS: weakref.WeakSet[Any] = weakref.WeakSet()
_made: list[Callable[..., logging.LogRecord]] = []  # the record factory we wrap, once


def mask_logs(masker: _Masking) -> None:
    """Mask the secrets ``masker`` knows in every record of the ``eliza_nb`` logger tree.

    Installs (once per process) a log record factory that wraps the current one; a masker is
    held weakly, so a closed and dropped runtime stops masking.
    """
    _MASKERS.add(masker)
    if not _made:
        _made.append(logging.getLogRecordFactory())
        logging.setLogRecordFactory(_masked_record)


def _masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _made[0](*args, **kwargs)
    if record.name == LOGGER_NAME or record.name.startswith(_TREE):
        maskers = [m for m in list(_MASKERS) if m]
        if maskers:
            _mask_record(record, maskers)
    return record


def _mask_record(record: logging.LogRecord, maskers: list[_Masking]) -> None:
    try:
        text = record.getMessage()
    except Exception:  # a bad format string is logging's to report, as it would be
        return
    record.msg, record.args = _apply(maskers, text), ()
    if record.exc_info and record.exc_info[0] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        record.exc_text = _apply(maskers, trace)  # formatters use exc_text when it is set


def _apply(maskers: list[_Masking], text: str) -> str:
    for masker in maskers:
        text = masker.mask(text)
    return text


def configure(settings: _Settings) -> float:
    """Apply the logging settings of a runtime; return its slow-run threshold in ms.

    ``ELIZA_DEBUG`` (or else ``LOG_LEVEL``), when set, goes to :func:`set_debug_mode`; an
    unusable value is reported as a warning and ignored.
    """
    raw = settings.get(DEBUG_SETTING) or settings.get(LEVEL_SETTING)
    if raw not in (None, ""):
        try:
            set_debug_mode(raw)
        except ValidationError as exc:
            log.warning("ignoring the debug setting: %s", exc.message)
    return slow_threshold_ms(settings)


def slow_threshold_ms(settings: _Settings) -> float:
    """The ``SLOW_ACTION_MS`` setting as a float (default 1000 ms; 0 or less: never warn)."""
    raw = settings.get(SLOW_SETTING)
    if raw in (None, ""):
        return DEFAULT_SLOW_MS
    try:
        value = float(raw)
    except (TypeError, ValueError):
        log.warning(
            "%s=%r is not a number of milliseconds; using %g", SLOW_SETTING, raw, DEFAULT_SLOW_MS
        )
        return DEFAULT_SLOW_MS
    return value if value > 0 else math.inf


def log_failure(where: str, code: str, message: str) -> None:
    """Log a failed run at INFO under ``eliza_nb.runs``.

    INFO, not WARNING: the failure is already in the result, its card and ``errors_frame()``,
    so it shows only to those who asked (``%eliza debug basic``), and a batch of a thousand
    failing rows does not print a thousand lines.
    """
    _runs_log.info("%s failed [%s]: %s", where, code, message)


def warn_slow(plugin: str, action: str, duration_ms: float, threshold_ms: float) -> None:
    """Log that a run took longer than the threshold (called only for slow runs)."""
    _perf_log.warning(
        "slow action %s.%s took %.0f ms (threshold %g ms, setting %s)",
        plugin,
        action,
        duration_ms,
        threshold_ms,
        SLOW_SETTING,
    )
