"""How many records a runtime holds in memory: the ``RECORDS_IN_MEMORY`` and ``MAX_RECORDS``
settings, how records leave a list (:func:`cut_oldest`), and the counts of what left.

The recorder (``eliza_nb.records``) applies them; this module imports nothing of eliza_nb.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "DEFAULT_IN_MEMORY",
    "DEFAULT_MAX_RECORDS",
    "RecordCounts",
    "RecordLimits",
    "cut_oldest",
]

log = logging.getLogger("eliza_nb.records")

#: Written runs (and errors) a file-backed recorder keeps in memory (``RECORDS_IN_MEMORY``).
DEFAULT_IN_MEMORY = 100_000
#: The most runs and custom metrics held in memory, each (``MAX_RECORDS``); errors: a tenth.
DEFAULT_MAX_RECORDS = 1_000_000


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """How many records a recorder holds in memory; the settings of the same names.

    Args:
        in_memory: ``RECORDS_IN_MEMORY``: with a file store, how many of the newest written
            runs (errors: a tenth of it) stay in memory too; older ones are read from the
            file. 0 keeps none once written.
        max_records: ``MAX_RECORDS``: the most runs and custom metrics (each; errors: a
            tenth of it) held in memory whatever the store. Past it the oldest are dropped
            and counted
            (:attr:`MetricsRecorder.lost`); with a file store only records that could not be
            written are ever dropped so.

    Lists are cut in chunks, when they pass a limit by a tenth, so that holding them to it
    costs a length check per record.
    """

    in_memory: int = 100_000  # DEFAULT_IN_MEMORY
    max_records: int = 1_000_000  # DEFAULT_MAX_RECORDS

    @property
    def window(self) -> tuple[int, int, int]:
        """The runs, errors and spans a file-backed recorder keeps once written: ``in_memory``
        runs, a tenth as many errors and spans (an error row, with its traceback, weighs about
        five runs; a span, with its prompt or answer, as much)."""
        return self.in_memory, self.in_memory // 10, self.in_memory // 10

    @property
    def caps(self) -> tuple[int, int, int]:
        """The most runs, errors and spans held: ``max_records`` runs, a tenth as many errors
        and spans."""
        tenth = max(1, self.max_records // 10)
        return self.max_records, tenth, tenth

    @classmethod
    def from_settings(cls, settings: _Settings) -> RecordLimits:
        """The limits a runtime's settings give; an unusable value is logged and ignored.

        ``RECORDS_IN_MEMORY`` above ``MAX_RECORDS`` is taken as ``MAX_RECORDS``.
        """
        cap = _count_setting(settings, "MAX_RECORDS", DEFAULT_MAX_RECORDS, 1)
        window = _count_setting(settings, "RECORDS_IN_MEMORY", DEFAULT_IN_MEMORY, 0)
        return cls(min(window, cap), cap)

    @staticmethod
    def high_water(limit: int) -> int:
        """The length at which a list held to ``limit`` is cut back to it."""
        return limit + limit // 10


class _Settings(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def _count_setting(settings: _Settings, key: str, default: int, least: int) -> int:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        value = least - 1
    if isinstance(raw, bool) or (value != raw and not isinstance(raw, str)) or value < least:
        log.warning("%s=%r is not a whole number >= %d; using %d", key, raw, least, default)
        return default
    return value


@dataclass(slots=True)
class RecordCounts:
    """How many runs, errors and custom metrics (of one session)."""

    runs: int = 0
    errors: int = 0
    custom: int = 0


def cut_oldest(rows: list[Any], count: int) -> list[Any]:
    """Remove the first ``count`` rows of ``rows`` in place and return them (oldest first).

    One slice deletion: atomic under the GIL, so another thread appending meanwhile loses
    nothing (appends go to the end).
    """
    if count <= 0:
        return []
    cut = rows[:count]
    del rows[:count]
    return cut
