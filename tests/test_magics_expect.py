"""``--expect CODE`` on ``%eliza run``, ``send`` and ``chain``: the intended failure is shown and
the cell passes; a success or another code fails it with one line."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from eliza_nb import ActionCancelledError, ActionResult, Plugin, action
from eliza_nb.kernel._expect import ExpectationFailed
from eliza_nb.kernel.commands import ChainResults
from eliza_nb.testing.pytest_plugin import TestingShell


@action(description="echoes the text", similes=["SAY"])
def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return message.content.text


@action(description="fails", similes=["FAIL"])
def broken(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom\nsecond line")


@action(description="refuses to run")
def picky(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return "never"


@picky.validator
def never_valid(runtime, message, state):  # type: ignore[no-untyped-def]
    return False


@action(description="the user presses interrupt")
def interrupted(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    raise KeyboardInterrupt


@pytest.fixture
def shell(eliza_shell: TestingShell) -> TestingShell:
    """The testing shell with echo, broken and picky registered."""
    eliza_shell.user_ns["plugin"] = Plugin(
        name="expect", actions=[echo, broken, picky, interrupted]
    )
    eliza_shell.run_cell("%eliza register plugin")
    return eliza_shell


def out(shell: TestingShell, line: str) -> Any:
    """The value of a magic line (what a cell ending in it would display)."""
    return shell.run_cell(line).result


# -- run --------------------------------------------------------------------------------
def test_run_shows_the_expected_failure_and_passes(shell: TestingShell) -> None:
    result = out(shell, "%eliza run BROKEN hi --expect HANDLER_ERROR")
    assert isinstance(result, ActionResult) and result.error_code == "HANDLER_ERROR"
    assert "HANDLER_ERROR" in result._repr_html_()  # the failure card


def test_the_code_may_be_given_in_lower_case(shell: TestingShell) -> None:
    assert out(shell, "%eliza run PICKY --expect validation_failed").error_code == (
        "VALIDATION_FAILED"
    )


def test_run_fails_when_the_action_succeeds(shell: TestingShell) -> None:
    with pytest.raises(ExpectationFailed) as info:
        shell.run_cell("%eliza run ECHO hi --expect TIMEOUT")
    assert info.value.code == "EXPECTATION_FAILED"
    assert info.value.message == "%eliza run: expected TIMEOUT, but ECHO succeeded"


def test_run_fails_on_another_code_and_says_which(shell: TestingShell) -> None:
    with pytest.raises(ExpectationFailed) as info:
        shell.run_cell("%eliza run BROKEN --expect TIMEOUT")
    assert info.value.message == "%eliza run: expected TIMEOUT, got HANDLER_ERROR from BROKEN: boom"


def test_the_failed_expectation_renders_as_one_line(shell: TestingShell) -> None:
    with pytest.raises(ExpectationFailed) as info:
        shell.run_cell("%eliza run ECHO --expect TIMEOUT")
    (line,) = info.value._render_traceback_()
    assert "ExpectationFailed" in line and "[EXPECTATION_FAILED]" in line
    assert isinstance(info.value, AssertionError)  # pytest and nbval: a failed check


def test_a_raised_error_of_the_code_is_printed_as_one_line(
    shell: TestingShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert out(shell, "%eliza run GRET --expect ACTION_NOT_FOUND") is None
    printed = capsys.readouterr().out
    assert printed.startswith("ActionNotFoundError: [ACTION_NOT_FOUND] No action named 'GRET'")
    assert printed.count("\n") == 1 and "\x1b[" not in printed


def test_a_raised_error_of_another_code_fails_naming_both(shell: TestingShell) -> None:
    with pytest.raises(
        ExpectationFailed, match=r"expected TIMEOUT, got ActionNotFoundError: "
    ) as e:
        shell.run_cell("%eliza run GRET --expect TIMEOUT")
    assert e.value.__cause__ is not None and "[ACTION_NOT_FOUND]" in e.value.message


def test_an_interrupt_stays_an_interrupt(shell: TestingShell) -> None:
    with pytest.raises(ActionCancelledError):
        shell.run_cell("%eliza run INTERRUPTED --expect HANDLER_ERROR")
    assert out(shell, "%eliza run INTERRUPTED --expect CANCELLED") is None  # printed


def test_repeat_passes_when_any_run_fails_with_the_code(shell: TestingShell) -> None:
    results = out(shell, "%eliza run BROKEN --repeat 2 --expect HANDLER_ERROR")
    assert [r.error_code for r in results] == ["HANDLER_ERROR"] * 2
    with pytest.raises(ExpectationFailed, match=r"each of the 2 runs succeeded \(ECHO\)"):
        shell.run_cell("%eliza run ECHO --repeat 2 --expect HANDLER_ERROR")


def test_the_cell_form_takes_expect_too(shell: TestingShell) -> None:
    result = shell.run_cell("%%eliza run BROKEN --expect HANDLER_ERROR\nsome text\n").result
    assert result.error_code == "HANDLER_ERROR"


def test_without_expect_nothing_changes(shell: TestingShell) -> None:
    assert out(shell, "%eliza run BROKEN").error_code == "HANDLER_ERROR"  # shown, not raised
    assert out(shell, "%eliza run ECHO hi").success


# -- chain and send ---------------------------------------------------------------------
def test_chain_passes_when_a_step_fails_with_the_code(shell: TestingShell) -> None:
    results = out(shell, "%eliza chain ECHO BROKEN ECHO hi --expect HANDLER_ERROR")
    assert isinstance(results, ChainResults)
    assert [r.action for r in results] == ["ECHO", "BROKEN"] and results.skipped == ["ECHO"]


def test_chain_fails_when_every_step_succeeds(shell: TestingShell) -> None:
    with pytest.raises(ExpectationFailed, match=r"chain: expected HANDLER_ERROR, but each"):
        shell.run_cell("%eliza chain ECHO SAY hi --expect HANDLER_ERROR")


def test_send_shows_the_result_that_failed(shell: TestingShell) -> None:
    result = out(shell, "%eliza send FAIL now --expect HANDLER_ERROR")
    assert result.action == "BROKEN" and result.error_code == "HANDLER_ERROR"


def test_send_fails_when_no_action_runs(shell: TestingShell) -> None:
    with pytest.raises(ExpectationFailed, match=r"send: expected HANDLER_ERROR, but no action ran"):
        shell.run_cell("%eliza send nothing to route here --expect HANDLER_ERROR")


# -- usage ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["'two words'", "1ABC", "'A-B'"])
def test_a_word_that_cannot_be_a_code_is_a_usage_error(shell: TestingShell, code: str) -> None:
    with pytest.raises(UsageError, match=r"--expect: invalid error code value"):
        shell.run_cell(f"%eliza run ECHO --expect {code}")


def test_help_names_the_flag(shell: TestingShell, capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("run", "send", "chain"):
        shell.run_cell(f"%eliza help {sub}")
        assert "--expect CODE" in capsys.readouterr().out, sub
