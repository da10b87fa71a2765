"""``--expect CODE`` of ``%eliza run``, ``send`` and ``chain``: an intended failure, asserted.

A notebook that teaches a failure shows it with ``--expect CODE``. When a result (of a chain:
any step; of ``send`` or ``--repeat``: any run) fails with that code, the magic shows what it
always shows (the failed result card) and the cell passes in every client: JupyterLab's Run
All, nbval, papermill and ``jupyter execute`` alike, since the cell has no error output. An
error that is raised rather than recorded (``%eliza run`` of an unknown name raises
``ACTION_NOT_FOUND``) is printed as one line of text instead.

When the failure does not come (the run succeeds, or fails with another code) the magic
raises :class:`ExpectationFailed`: one line saying what was expected and what came, so each of
those clients fails the cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from eliza_nb.errors import ActionCancelledError, Code, ElizaError
from eliza_nb.types import ActionResult

__all__ = ["EXPECTATION_FAILED", "ExpectationFailed", "expecting", "first_failure"]

T = TypeVar("T")

#: The code of :class:`ExpectationFailed` (named, like every code, in ``Code``).
EXPECTATION_FAILED = Code.EXPECTATION_FAILED


class ExpectationFailed(ElizaError, AssertionError):
    """``--expect CODE`` was given and no failure of that code came.

    An ``AssertionError`` too, so pytest (and nbval) report it as a failed check.
    """

    default_code = EXPECTATION_FAILED


def expecting(code: str | None, prog: str, run: Callable[[], T]) -> T | None:
    """Call ``run`` (a magic's work) and hold its outcome to ``--expect code``.

    Args:
        code: The expected error code; None calls ``run`` and returns what it returns.
        prog: The magic, for the messages (``"%eliza run"``).
        run: Returns an ``ActionResult``, a list of them, or None (nothing ran).

    Returns:
        What ``run`` returned when one of its results failed with ``code``; None when ``run``
        raised an ``ElizaError`` of that code (printed as one line instead).

    Raises:
        ExpectationFailed: every result succeeded, or failed (or raised) with another code.
        ActionCancelledError: the user interrupted the run (unless ``CANCELLED`` is expected):
            that is no outcome of the run to judge.
    """
    if code is None:
        return run()
    try:
        outcome = run()
    except ActionCancelledError as error:
        if error.code != code:
            raise
        print(_raised(error))
        return None
    except ElizaError as error:
        if error.code != code:
            raise ExpectationFailed(f"{prog}: expected {code}, got {_raised(error)}") from error
        print(_raised(error))  # text, not an error output: the cell passes everywhere
        return None
    results = _results(outcome)
    if first_failure(results, code) is None:
        raise ExpectationFailed(f"{prog}: expected {code}, {_came(results)}")
    return outcome


def first_failure(results: Sequence[ActionResult], code: str | None) -> ActionResult | None:
    """The first result that failed with ``code`` (None: none did, or no code is expected)."""
    return next((r for r in results if not r.success and r.error_code == code), None)


def _results(outcome: object) -> list[ActionResult]:
    if isinstance(outcome, ActionResult):
        return [outcome]
    if isinstance(outcome, list):
        return [r for r in outcome if isinstance(r, ActionResult)]
    return []


def _raised(error: ElizaError) -> str:
    """An error as IPython shows ours, on one line and without colour."""
    return f"{type(error).__name__}: {error}"


def _came(results: Sequence[ActionResult]) -> str:
    """What came instead of the expected failure, for the one-line message."""
    if not results:
        return "but no action ran"
    failed = [r for r in results if not r.success]
    if not failed:
        names = ", ".join(dict.fromkeys(r.action for r in results))
        if len(results) == 1:
            return f"but {names} succeeded"
        return f"but each of the {len(results)} runs succeeded ({names})"
    first = failed[0]
    came = f"got {first.error_code} from {first.action}"
    lines = first.error.message.splitlines() if first.error else []
    return f"{came}: {lines[0]}" if lines else came
