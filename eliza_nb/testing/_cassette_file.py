"""The cassette file: its shape, reading it, writing it atomically, HTTP messages as JSON.

A cassette (:mod:`eliza_nb.testing.cassette`) is a JSON object, keys sorted, two-space indent,
lists of numbers (embeddings) kept on one line, so that a recording reads, and diffs, as text::

    {
      "entries": [
        {
          "kind": "model",
          "request": {
            "model_type": "TEXT_LARGE",
            "params": {
              "prompt": "Hello"
            }
          },
          "response": "Hi!"
        }
      ],
      "models": [
        "TEXT_LARGE"
      ],
      "version": 1
    }

``models`` lists the model types served while recording (a replay serves them, so the agent
loop takes the same path); an ``"http"`` entry's request is ``method, url, body`` and its
response ``status, reason, headers, body``, a body being ``{"json": ...}``, ``{"text": ...}``
or ``{"base64": ...}``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from email.message import Message
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from eliza_nb._checks import pydantic_problem
from eliza_nb.errors import Code, ElizaError
from eliza_nb.plugins._http import RawResponse

__all__ = [
    "CASSETTE_VERSION",
    "body_json",
    "cassette_error",
    "check_writable",
    "dumps",
    "load",
    "raw_response",
    "response_json",
    "write_atomic",
]

CASSETTE_VERSION: Final = 1
"""The file format this eliza_nb reads and writes."""

# Response headers that change on every run or set state; the others are kept (masked).
_DROPPED_HEADERS: Final = frozenset(
    {"connection", "content-length", "date", "keep-alive", "server", "set-cookie"}
)


# The shape of the file, checked when it is read (strictly: a status "200" is not a number).
class _Body(TypedDict, total=False):
    json: Any
    text: str
    base64: str


class _ModelRequest(TypedDict):
    model_type: str
    params: dict[str, Any]


class _ModelEntry(TypedDict):
    kind: Literal["model"]
    request: _ModelRequest
    response: Any


class _HttpRequest(TypedDict):
    method: str
    url: str
    body: _Body | None


class _HttpResponse(TypedDict):
    status: int
    reason: str
    headers: dict[str, str]
    body: _Body | None


class _HttpEntry(TypedDict):
    kind: Literal["http"]
    request: _HttpRequest
    response: _HttpResponse


class _File(TypedDict):
    version: int
    entries: list[Annotated[_ModelEntry | _HttpEntry, Field(discriminator="kind")]]
    models: NotRequired[list[str]]


_FILE: TypeAdapter[_File] = TypeAdapter(_File)


def cassette_error(path: Path, problem: str) -> ElizaError:
    """The ``CASSETTE_ERROR`` for ``path``: ``"Cassette PATH {problem}."``."""
    return ElizaError(
        f"Cassette {path} {problem}.", code=Code.CASSETTE_ERROR, details={"path": str(path)}
    )


def load(path: Path, *, missing_ok: bool) -> dict[str, Any]:
    """The checked contents of a cassette file ({} for a missing one when ``missing_ok``).

    Raises:
        ElizaError: ``CASSETTE_ERROR``: missing, unreadable, not JSON, of another version or
            shape.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise cassette_error(path, "does not exist: record it first (mode='record')") from None
    except UnicodeDecodeError:
        raise cassette_error(path, "is not UTF-8 text") from None
    except OSError as exc:  # a directory, no permission
        raise cassette_error(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise cassette_error(path, f"is not JSON ({exc})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if isinstance(version, int) and version != CASSETTE_VERSION:
        raise cassette_error(path, f"is version {version}; this eliza_nb reads {CASSETTE_VERSION}")
    try:
        return dict(_FILE.validate_python(doc, strict=True))
    except PydanticValidationError as exc:
        where, what = pydantic_problem(exc)
        raise cassette_error(path, f"is not a cassette: {where or 'file'}: {what}") from None


def check_writable(path: Path) -> None:
    """Create the missing parent directories and fail now if ``path`` cannot be written.

    Raises:
        ElizaError: ``CASSETTE_ERROR``: a directory, or a directory that cannot be written.
    """
    if path.is_dir():
        raise cassette_error(path, "is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise cassette_error(path, f"cannot be written ({exc.strerror or exc})") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once: a crash leaves the old file or the new one.

    Raises:
        ElizaError: ``CASSETTE_ERROR``: the file cannot be written.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 does not suit a file made to be committed
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise cassette_error(path, f"cannot be written ({exc.strerror or exc})") from None


def dumps(value: Any, depth: int = 0) -> str:
    """JSON text, keys sorted, indented, each list of numbers on one line.

    Example:
        >>> print(dumps({"b": [0.5, 1], "a": ["x"]}))
        {
          "a": [
            "x"
          ],
          "b": [0.5, 1]
        }
    """
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(value, dict) and value:
        items = [f"{pad}{_scalar(k)}: {dumps(v, depth + 1)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + f"\n{end}}}"
    if isinstance(value, list) and value and not all(_is_number(v) for v in value):
        return "[\n" + ",\n".join(pad + dumps(v, depth + 1) for v in value) + f"\n{end}]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- HTTP messages as JSON --------------------------------------------------------------
def body_json(body: bytes | None) -> dict[str, Any] | None:
    """A body as the file keeps it: its JSON if it is JSON, else its text, else base64."""
    if body is None:
        return None
    try:
        return {"json": json.loads(body)}
    except ValueError:  # not JSON, or not UTF-8
        pass
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def response_json(raw: RawResponse) -> dict[str, Any]:
    """A response as the file keeps it (minus the headers of :data:`_DROPPED_HEADERS`)."""
    headers = {k: v for k, v in raw.headers.items() if k.lower() not in _DROPPED_HEADERS}
    body = body_json(raw.body)
    return {"status": raw.status, "reason": raw.reason, "headers": headers, "body": body}


def raw_response(data: dict[str, Any]) -> RawResponse:
    """The response a recorded one stands for (a JSON body is sent as compact JSON).

    Raises:
        ValueError: a ``base64`` body is not base64.
    """
    headers = Message()
    for key, value in data["headers"].items():
        headers[key] = value
    body: dict[str, Any] = data["body"] or {}
    if "json" in body:
        raw = json.dumps(body["json"]).encode()
    elif "base64" in body:
        raw = base64.b64decode(body["base64"], validate=True)
    else:
        raw = str(body.get("text", "")).encode()
    return RawResponse(data["status"], data["reason"], headers, raw)
