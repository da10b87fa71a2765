"""The ElizaError family: stable codes, messages, details, one-line rendering."""

from __future__ import annotations

import pytest

from eliza_nb import errors
from eliza_nb.errors import (
    ActionCancelledError,
    ActionNotFoundError,
    ActionTimeoutError,
    ApiError,
    ConfigurationError,
    ElizaError,
    HandlerError,
    ModelNotFoundError,
    PluginError,
    StoreError,
    ValidationError,
)

CODES = {
    ElizaError: "ELIZA_ERROR",
    ConfigurationError: "CONFIGURATION_ERROR",
    ValidationError: "VALIDATION_ERROR",
    PluginError: "PLUGIN_ERROR",
    HandlerError: "HANDLER_ERROR",
    ActionTimeoutError: "TIMEOUT",
    ActionCancelledError: "CANCELLED",
    ApiError: "API_ERROR",
    StoreError: "STORE_ERROR",
    ModelNotFoundError: "MODEL_NOT_FOUND",
}


@pytest.mark.parametrize(("cls", "code"), CODES.items())
def test_stable_codes(cls: type[ElizaError], code: str) -> None:
    err = cls("something went wrong")
    assert err.code == code
    assert isinstance(err, ElizaError)
    assert isinstance(err, Exception)
    assert err.message == "something went wrong"
    assert str(err) == f"[{code}] something went wrong"


def test_action_not_found_code() -> None:
    err = ActionNotFoundError("ECHOO", ["ECHO"], available=2)
    assert err.code == "ACTION_NOT_FOUND"
    assert isinstance(err, ElizaError)


def test_every_error_class_is_in_all_and_drawn_in_the_docstring() -> None:
    classes = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, ElizaError)
    }
    assert classes == set(errors.__all__) - {"Code", "error_for"}
    doc = errors.__doc__ or ""
    for name in classes:
        assert name in doc, f"{name} is missing from the error tree in errors.py's docstring"


def test_code_and_details_can_be_given() -> None:
    details = {"limit": 10}
    err = ElizaError("Quota exceeded", code="QUOTA", details=details)
    assert err.code == "QUOTA"
    assert err.details == {"limit": 10}
    details["limit"] = 99
    assert err.details == {"limit": 10}, "details must be copied, not aliased"
    assert ElizaError("x").details == {}


def test_repr_names_class_code_and_message() -> None:
    assert repr(PluginError("bad")) == "PluginError(code='PLUGIN_ERROR', message='bad')"


def test_renders_as_one_line_in_ipython() -> None:
    lines = ConfigurationError("Missing required settings: API_KEY")._render_traceback_()
    assert len(lines) == 1
    assert "ConfigurationError" in lines[0]
    assert "[CONFIGURATION_ERROR] Missing required settings: API_KEY" in lines[0]


def test_validation_error_carries_field_and_plugin() -> None:
    err = ValidationError("bad name", field="name", plugin="weather")
    assert (err.field, err.plugin) == ("name", "weather")
    assert err.details == {"field": "name", "plugin": "weather"}
    assert ValidationError("x", details={"extra": 1}).details["extra"] == 1


def test_plugin_error_carries_the_plugin() -> None:
    err = PluginError("clash", plugin="weather", details={"with": "news"})
    assert err.plugin == "weather"
    assert err.details == {"plugin": "weather", "with": "news"}


def test_api_error_status_for_plugin_authors() -> None:
    err = ApiError("Upstream failed", status=503, code="UPSTREAM_DOWN")
    assert err.status == 503
    assert err.code == "UPSTREAM_DOWN"
    assert err.details["status"] == 503
    assert ApiError("no status").status is None


class TestActionNotFound:
    def test_lists_suggestions(self) -> None:
        err = ActionNotFoundError("FETCH_DAT", ["FETCH_DATA", "FETCH_NEWS"], available=3)
        assert err.suggestions == ["FETCH_DATA", "FETCH_NEWS"]
        assert err.name == "FETCH_DAT"
        assert "Did you mean: FETCH_DATA, FETCH_NEWS?" in err.message
        assert err.details == {"name": "FETCH_DAT", "suggestions": ["FETCH_DATA", "FETCH_NEWS"]}

    def test_without_suggestions(self) -> None:
        err = ActionNotFoundError("ZZZ", [], available=3)
        assert err.message == "No action named 'ZZZ'."

    def test_with_nothing_registered_says_what_to_do(self) -> None:
        err = ActionNotFoundError("ECHO", [], available=0)
        assert "register a plugin first" in err.message


def test_can_be_raised_and_caught_by_base() -> None:
    with pytest.raises(ElizaError) as info:
        raise ActionTimeoutError("ECHO timed out")
    assert info.value.code == "TIMEOUT"


def test_error_classes_take_their_code_from_code() -> None:
    codes = {v for k, v in vars(errors.Code).items() if k.isupper()}
    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, ElizaError):
            assert obj.default_code in codes
            assert type(obj.default_code) is str


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("HANDLER_ERROR", HandlerError),
        ("TIMEOUT", ActionTimeoutError),
        ("CANCELLED", ActionCancelledError),
        ("API_ERROR", ApiError),
        ("QUOTA", ElizaError),
    ],
)
def test_a_failed_result_raises_the_error_of_its_code(code: str, cls: type[ElizaError]) -> None:
    from eliza_nb import ActionResult, ErrorInfo

    info = ErrorInfo(code=code, message="it broke", error_type="RuntimeError")
    result = ActionResult(7, "A", "p", False, error=info)
    with pytest.raises(cls) as raised:
        result.raise_for_error()
    assert type(raised.value) is cls
    assert raised.value.code == code and raised.value.message == "it broke"
    assert raised.value.details["run_id"] == 7
    ok = ActionResult(8, "A", "p", True)
    assert ok.raise_for_error() is ok
