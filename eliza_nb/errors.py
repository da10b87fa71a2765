"""The one exception family of eliza_nb.

Every error the library raises derives from :class:`ElizaError` and carries a stable ``code``
(match on it, never on the message), a human ``message`` that says what to do, and ``details``::

    ElizaError                base: code, message, details; one line in IPython
    ├── ConfigurationError    CONFIGURATION_ERROR  settings missing or of the wrong type
    ├── ValidationError       VALIDATION_ERROR     bad input at a boundary (names the field)
    │   └── InvalidParametersError  INVALID_PARAMETERS  options that do not fit an
    │                                              action's ``parameters`` model
    ├── PluginError           PLUGIN_ERROR         a plugin is malformed, clashes or failed to load
    ├── ActionNotFoundError   ACTION_NOT_FOUND     no action of that name or simile (names the
    │                                              closest ones)
    ├── HandlerError          HANDLER_ERROR        a handler raised a foreign exception or
    │                                              reported a failure (raised by
    │                                              ``ActionResult.raise_for_error``)
    ├── ActionTimeoutError    TIMEOUT              a handler ran past its timeout
    ├── ActionCancelledError  CANCELLED            a run was cancelled (interrupt, task cancel)
    ├── ApiError              API_ERROR            a remote API failed (for plugin authors)
    ├── StoreError            STORE_ERROR          the memory database (or a baseline file)
    │                                              cannot be used
    ├── ModelNotFoundError    MODEL_NOT_FOUND      no plugin serves the requested model type
    ├── BridgeError           BRIDGE_ERROR         the Node process of the TypeScript plugins
    │                                              died or broke the wire (it restarts on
    │                                              the next call)
    ├── SecretError           SECRET_ERROR         no key, a bad key, or a tampered secret
    │                                              (in ``eliza_nb.secrets``)
    └── BaselineDriftError    BASELINE_DRIFT       results drifted from a stored baseline; also
                                                   an AssertionError (``eliza_nb.regression``)

A closed runtime raises ``ElizaError`` with code ``RUNTIME_CLOSED`` from what would run, store
or register something. ``VALIDATION_FAILED`` is a result code, not an exception: an action
whose ``validate`` says no returns ``success=False`` with that code. Every code the library
writes is named once, in :class:`Code`; the exception classes take theirs from it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

__all__ = [
    "ActionCancelledError",
    "ActionNotFoundError",
    "ActionTimeoutError",
    "ApiError",
    "BridgeError",
    "Code",
    "ConfigurationError",
    "ElizaError",
    "HandlerError",
    "InvalidParametersError",
    "ModelNotFoundError",
    "PluginError",
    "StoreError",
    "ValidationError",
    "error_for",
]


class Code:
    """Every error and result code eliza_nb itself writes, named once (plugins may add their own).

    The codes are plain strings: ``result.error_code == Code.TIMEOUT == "TIMEOUT"``.
    """

    ELIZA_ERROR: Final = "ELIZA_ERROR"
    CONFIGURATION_ERROR: Final = "CONFIGURATION_ERROR"
    VALIDATION_ERROR: Final = "VALIDATION_ERROR"
    PLUGIN_ERROR: Final = "PLUGIN_ERROR"
    ACTION_NOT_FOUND: Final = "ACTION_NOT_FOUND"
    HANDLER_ERROR: Final = "HANDLER_ERROR"
    TIMEOUT: Final = "TIMEOUT"
    CANCELLED: Final = "CANCELLED"
    API_ERROR: Final = "API_ERROR"
    STORE_ERROR: Final = "STORE_ERROR"
    MODEL_NOT_FOUND: Final = "MODEL_NOT_FOUND"
    SECRET_ERROR: Final = "SECRET_ERROR"
    BASELINE_DRIFT: Final = "BASELINE_DRIFT"
    #: ``validate`` returned false (a result code, never raised).
    VALIDATION_FAILED: Final = "VALIDATION_FAILED"
    #: A provider raised while the state was composed.
    PROVIDER_ERROR: Final = "PROVIDER_ERROR"
    #: An event handler raised (the emitter goes on).
    EVENT_HANDLER_ERROR: Final = "EVENT_HANDLER_ERROR"
    #: The model's answer could not be used, or the model raised a foreign exception.
    MODEL_ERROR: Final = "MODEL_ERROR"
    #: An embedding model failed while a memory was stored.
    EMBEDDING_ERROR: Final = "EMBEDDING_ERROR"
    #: The runtime was closed: it runs, stores and registers nothing more.
    RUNTIME_CLOSED: Final = "RUNTIME_CLOSED"
    #: Options that do not fit an action's ``parameters`` model (the handler never ran).
    INVALID_PARAMETERS: Final = "INVALID_PARAMETERS"
    #: The agent loop's stages, each blamed for its own failure: composing the state, the
    #: prompt, reading the model's answer, an evaluator.
    STATE_ERROR: Final = "STATE_ERROR"
    PROMPT_ERROR: Final = "PROMPT_ERROR"
    PARSE_ERROR: Final = "PARSE_ERROR"
    EVALUATOR_ERROR: Final = "EVALUATOR_ERROR"
    #: A model (or HTTP) call a cassette in replay mode has no recording of.
    CASSETTE_MISS: Final = "CASSETTE_MISS"
    #: A cassette file is missing, corrupt, of another version, or cannot be written.
    CASSETTE_ERROR: Final = "CASSETTE_ERROR"
    #: No trace has that id.
    TRACE_NOT_FOUND: Final = "TRACE_NOT_FOUND"
    #: ``%eliza ... --expect CODE`` saw no failure of that code (raised by the magics).
    EXPECTATION_FAILED: Final = "EXPECTATION_FAILED"
    #: The Node process serving TypeScript plugins died mid-call or broke the wire.
    BRIDGE_ERROR: Final = "BRIDGE_ERROR"


class ElizaError(Exception):
    """Base of every eliza_nb error.

    Args:
        message: What went wrong and what to do about it.
        code: Overrides the class's stable code (plugin authors may use their own codes).
        details: Extra, JSON-able facts about the failure.

    Example:
        >>> raise ElizaError("Quota exceeded", code="QUOTA", details={"limit": 10})
        Traceback (most recent call last):
        eliza_nb.errors.ElizaError: [QUOTA] Quota exceeded
    """

    default_code: ClassVar[str] = Code.ELIZA_ERROR

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: one line with the code.
        # The full traceback stays available through %tb.
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ConfigurationError(ElizaError):
    """Settings are missing or unusable; the message names every missing key."""

    default_code: ClassVar[str] = Code.CONFIGURATION_ERROR


class ValidationError(ElizaError):
    """Input failed validation at a boundary; ``field`` (and ``plugin`` when known) say where."""

    default_code: ClassVar[str] = Code.VALIDATION_ERROR

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        plugin: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = {"field": field, "plugin": plugin, **(details or {})}
        super().__init__(message, code=code, details=merged)
        self.field = field
        self.plugin = plugin


class InvalidParametersError(ValidationError):
    """Options that do not fit an action's ``parameters`` model.

    ``errors`` holds one ``{"field", "message"}`` dict per problem; the message
    names the action and gives one line per bad field.
    """

    default_code: ClassVar[str] = Code.INVALID_PARAMETERS

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.errors = list(errors or [])
        fields = [e["field"] for e in self.errors]
        super().__init__(message, field="options", details={"fields": fields, **(details or {})})


class PluginError(ElizaError):
    """A plugin is malformed, clashes with another, or failed while loading.

    ``plugin`` is the name of the plugin at fault (pluggy's habit: the error carries its object).
    """

    default_code: ClassVar[str] = Code.PLUGIN_ERROR

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details={"plugin": plugin, **(details or {})})
        self.plugin = plugin


class ActionNotFoundError(ElizaError):
    """No registered action has that name or simile; ``suggestions`` holds the closest names."""

    default_code: ClassVar[str] = Code.ACTION_NOT_FOUND

    def __init__(self, name: str, suggestions: list[str], available: int) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        if available == 0:
            hint = " No actions are registered: register a plugin first."
        super().__init__(
            f"No action named {name!r}.{hint}",
            details={"name": name, "suggestions": suggestions},
        )
        self.name = name
        self.suggestions = suggestions


class HandlerError(ElizaError):
    """A handler raised an exception that is not an ElizaError, or reported a failure.

    A run never raises it (a failed run is a result); ``result.raise_for_error()`` does.
    """

    default_code: ClassVar[str] = Code.HANDLER_ERROR


class ActionTimeoutError(ElizaError):
    """A handler ran longer than its ``timeout``."""

    default_code: ClassVar[str] = Code.TIMEOUT


class ActionCancelledError(ElizaError):
    """A run was cancelled before it finished (an interrupt or a cancelled task)."""

    default_code: ClassVar[str] = Code.CANCELLED


class ApiError(ElizaError):
    """A remote API call failed; ``status`` is the HTTP status when there was one."""

    default_code: ClassVar[str] = Code.API_ERROR

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details={"status": status, **(details or {})})
        self.status = status


class StoreError(ElizaError):
    """The memory database, or a file the library keeps (a baseline), cannot be opened, read
    or written."""

    default_code: ClassVar[str] = Code.STORE_ERROR


class ModelNotFoundError(ElizaError):
    """No registered plugin serves the requested model type."""

    default_code: ClassVar[str] = Code.MODEL_NOT_FOUND


class BridgeError(ElizaError):
    """The Node process that serves a runtime's TypeScript plugins died or broke the wire.

    The call in flight fails with this code; the next call starts a new process and loads the
    plugins again (see :mod:`eliza_nb.node_bridge`).
    """

    default_code: ClassVar[str] = Code.BRIDGE_ERROR


def error_for(code: str, message: str, details: dict[str, Any] | None = None) -> ElizaError:
    """The error of the class whose code is ``code`` (an ``ElizaError`` for any other code).

    Example:
        >>> error_for("TIMEOUT", "too slow")
        ActionTimeoutError(code='TIMEOUT', message='too slow')
    """
    for cls in _BY_CODE:
        if cls.default_code == code:
            return cls(message, details=details)
    return ElizaError(message, code=code, details=details)


# The classes whose constructor takes (message, details=...): what a recorded failure becomes.
_BY_CODE: tuple[type[ElizaError], ...] = (
    HandlerError,
    InvalidParametersError,
    ActionTimeoutError,
    ActionCancelledError,
    ConfigurationError,
    ValidationError,
    PluginError,
    ApiError,
    StoreError,
    ModelNotFoundError,
    BridgeError,
)
