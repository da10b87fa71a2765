"""What a handler hands back (callback contents, return value, exception) as result parts.

This is where plugin output enters the runtime, so it is where secrets are masked: a secret
value leaves the runtime only through ``get_setting``, and whatever a handler passes to
``callback`` or returns is masked here, before any result, record, card or memory holds it.
Exceptions are masked when they are recorded (``MetricsRecorder.failure``).
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Awaitable, Generator
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from eliza_nb._checks import from_pydantic
from eliza_nb.errors import Code, ElizaError
from eliza_nb.settings import Masker
from eliza_nb.types import ActionResult, Content, ErrorInfo, Memory

__all__ = ["Callback", "error_info", "fold_return", "mask_content", "mask_memory", "to_content"]

_RESULT_KEYS = frozenset({"success", "data", "error", "values"})


class _Done:
    """An already-finished awaitable: ``await callback(...)`` costs nothing."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


def to_content(value: Any) -> Content:
    """Coerce what a handler reports (Content, dict, str) into ``Content``."""
    if isinstance(value, Content):
        return value
    if isinstance(value, str):
        return Content(text=value)
    if isinstance(value, dict):
        try:
            return Content.model_validate(value)
        except PydanticValidationError as exc:
            raise from_pydantic(exc, "callback content", field="content") from None
    raise TypeError(f"callback expects Content, dict or str, got {type(value).__name__}")


class Callback:
    """The ``callback(content, attachments=None)`` a handler reports through.

    Each call records the content at once and returns an awaitable, so both ``callback(c)``
    (sync handler) and ``await callback(c)`` (async handler, as in elizaOS) work.
    """

    __slots__ = ("masker", "responses")

    def __init__(self, responses: list[Content], masker: Masker | None = None) -> None:
        self.responses = responses
        self.masker = masker

    def __call__(self, content: Any, attachments: list[Any] | None = None) -> Awaitable[None]:
        item = to_content(content)
        if attachments:
            item = item.model_copy(update={"attachments": [*item.attachments, *attachments]})
        if self.masker is not None:
            item = mask_content(item, self.masker)
        self.responses.append(item)
        return _DONE


def mask_content(content: Content, masker: Masker) -> Content:
    """``content`` with the secrets in its text, fields and extra keys masked (itself if none)."""
    fields = dict(content)  # declared fields and extra keys
    clean = masker.mask_value(fields)
    return content if clean is fields else content.model_copy(update=clean)


def mask_memory(memory: Memory, masker: Masker) -> Memory:
    """``memory`` with the secrets in its content masked (itself if none): what is stored."""
    content = mask_content(memory.content, masker)
    return memory if content is memory.content else memory.model_copy(update={"content": content})


def fold_return(value: Any, result: ActionResult, masker: Masker | None = None) -> str | None:
    """Fold a handler's return value into ``result`` (text, values, data, success), masked.

    Returns the failure message when the value reports a failure, else None (and sets
    ``result.success``). ``None`` takes the last response's text; ``str`` is the text;
    ``Content`` (or a plain dict) gives its text and extra keys as data; a dict with
    ``success``/``text``/``values``/``data``/``error`` keys (or an ``ActionResult``) is taken as
    a result, as in elizaOS 1.7; ``False`` is a failure; anything else is data. The failure
    message is masked when it is recorded.

    When the handler gives no text, the text is a response's (see :func:`_response_text`).
    """
    if value is None or value is True:
        result.text, result.success = _response_text(result, returned=False), True
        return None
    success, text, values, data, err = _fold(value)
    result.quiet = isinstance(value, ActionResult) and value.quiet
    if masker is not None:
        text = masker.mask(text) if isinstance(text, str) else text
        values, data = masker.mask_value(values), masker.mask_value(data)
    if text is None:
        text = _response_text(result, returned=True)
    result.text, result.data, result.success = text, data, success
    if values:
        result.values = values
    return err


def _response_text(result: ActionResult, *, returned: bool) -> str | None:
    """The text of a run whose handler gave none: one of the texts it passed to ``callback``.

    A handler that returns nothing is done when its last reply is sent: that reply is the
    text. One that returns a result without a text (elizaOS's ``callback`` then ``return
    {"success": True, "data": ...}``) said what it had to say first: the first reply is the
    text. Either way an empty reply is no text. Already masked: the callback masks contents.
    """
    if not result.responses:
        return None
    text = result.responses[0 if returned else -1].text
    return text or None


def _fold(value: Any) -> tuple[bool, str | None, dict[str, Any], Any, str | None]:
    """(success, text, values, data, error) for every return value but None and True."""
    if isinstance(value, str):
        return True, value, {}, None, None
    if isinstance(value, ActionResult):
        err = value.error.message if value.error else None
        return value.success, value.text, dict(value.values), value.data, err
    if value is False:
        return False, None, {}, None, "handler returned False"
    if isinstance(value, dict) and _RESULT_KEYS & value.keys():
        return _fold_result(value)
    if isinstance(value, dict):
        value = Content.model_validate(value)
    if isinstance(value, Content):
        extra = value.model_extra or None
        return True, value.text or None, {}, extra, None
    return True, None, {}, value, None


def _fold_result(value: dict[str, Any]) -> tuple[bool, str | None, dict[str, Any], Any, str | None]:
    error = value.get("error")
    # {"error": ...} without "success" reports a failure, not a success with a note.
    success = bool(value.get("success", not error))
    message = None if success else str(error or "handler reported failure")
    values = value.get("values")
    if values is not None and not isinstance(values, dict):
        raise TypeError(f"a result's 'values' must be a dict, got {type(values).__name__}")
    return success, value.get("text"), dict(values or {}), value.get("data"), message


def _safe_str(exc: BaseException) -> str:
    try:  # an exception whose __str__ raises must still be recorded, not escape
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() failed>"


def error_info(
    exc: BaseException, masker: Masker | None = None, *, code: str | None = None
) -> ErrorInfo:
    """An ``ErrorInfo`` for an exception (an ElizaError keeps its own code).

    Recording it (``MetricsRecorder.failure``) masks it; ``masker`` masks it now, for an
    error that is raised rather than recorded.
    """
    if code is None:
        code = exc.code if isinstance(exc, ElizaError) else Code.HANDLER_ERROR
    message = exc.message if isinstance(exc, ElizaError) else _safe_str(exc)
    trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    mask = masker.mask if masker is not None else str
    return ErrorInfo(
        code=code,
        message=mask(message or type(exc).__name__),
        error_type=type(exc).__name__,
        traceback=mask(trace),
    )
