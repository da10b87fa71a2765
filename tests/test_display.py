"""Rich display (eliza_nb.reprs): compact HTML cards and plain-text twins, every text escaped."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from eliza_nb import (
    ActionResult,
    AgentRuntime,
    Content,
    ElizaError,
    ErrorInfo,
    Plugin,
    Service,
    State,
    action,
    provider,
    reprs,
)

EVIL = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


@action(description=f"does {EVIL}", similes=["<SAY>"])
def echo(runtime, message, state, options, callback):  # type: ignore[no-untyped-def]
    return message.content.text


@provider(description="p")
def clock(runtime, message, state):  # type: ignore[no-untyped-def]
    return "noon"


class Store(Service):
    service_type = "store"

    async def initialize(self, runtime: AgentRuntime) -> None:
        return None


def ok_result() -> ActionResult:
    return ActionResult(
        7, "ECHO", "demo", True, text=EVIL, responses=[Content(text=EVIL)], duration_ms=12.345
    )


def failed_result() -> ActionResult:
    info = ErrorInfo(code="HANDLER_ERROR", message=EVIL, error_type="ValueError")
    return ActionResult(8, "ECHO", "demo", False, error=info, duration_ms=1.0)


def test_result_card_shows_action_badge_text_responses_and_duration() -> None:
    html = ok_result()._repr_html_()
    assert "ECHO" in html and "success" in html and "12.3 ms" in html and "run 7" in html
    assert html.count(ESCAPED) == 2  # the text and the response
    assert "<script>" not in html


def test_failed_result_card_shows_the_error_code_escaped() -> None:
    html = failed_result()._repr_html_()
    assert "HANDLER_ERROR" in html and ESCAPED in html and "<script>" not in html
    assert "#c62828" in html  # the red badge


def test_plain_text_repr_of_a_result() -> None:
    assert repr(failed_result()).startswith("ActionResult(action='ECHO', failed HANDLER_ERROR")


def test_plugin_card_and_text() -> None:
    plugin = Plugin(
        name="demo", description=EVIL, actions=[echo], providers=[clock], services=[Store]
    )
    html = plugin._repr_html_()
    assert "demo" in html and "v0.1.0" in html and ESCAPED in html and "<script>" not in html
    assert "ECHO" in html and "clock" in html and "store" in html
    assert reprs.plugin_text(plugin).splitlines() == [
        f"Plugin 'demo' v0.1.0: {EVIL}",
        "  actions: ECHO",
        "  providers: clock",
        "  services: store",
    ]


def test_state_card_and_text() -> None:
    state = State(values={"clock": EVIL}, actions=["ECHO"])
    html = state._repr_html_()
    assert ESCAPED in html and "ECHO" in html and "<script>" not in html
    assert reprs.state_text(state).splitlines() == [
        "State",
        f"  clock: {EVIL}",
        "  actions: ECHO",
        "  recent messages: 0",
    ]


def test_runtime_card(eliza_runtime: AgentRuntime) -> None:
    eliza_runtime.run_sync(eliza_runtime.register_plugin(Plugin(name="demo", actions=[echo])))
    eliza_runtime.run("ECHO", "x")
    html = eliza_runtime._repr_html_()
    assert "demo" in html and "ECHO" in html and "1 (0 failed)" in html
    assert repr(eliza_runtime).startswith("AgentRuntime(agent='agent', plugins=[demo], runs=1")


def test_action_info_escapes_description_and_similes() -> None:
    html = reprs.action_info_html(echo)
    assert ESCAPED in html and "&lt;SAY&gt;" in html
    assert "No actions registered" in reprs.action_info_html(None)


def test_history_lists_newest_first_and_escapes() -> None:
    html = reprs.history_html([ok_result(), failed_result()])
    assert html.index("<td>8</td>") < html.index("<td>7</td>")
    assert "<script>" not in html and "HANDLER_ERROR" in html
    assert reprs.history_html([]) == ""


def test_frame_html_escapes_and_says_when_empty() -> None:
    html = reprs.frame_html(pd.DataFrame({"message": [EVIL]}), "nothing")
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert reprs.frame_html(pd.DataFrame({"message": []}), "No <runs>") == "<i>No &lt;runs&gt;</i>"


def test_durations_plot_is_a_png(eliza_runtime: AgentRuntime) -> None:
    eliza_runtime.run_sync(eliza_runtime.register_plugin(Plugin(name="demo", actions=[echo])))
    for _ in range(3):
        eliza_runtime.run("ECHO")
    assert reprs.durations_png(eliza_runtime.metrics_frame()).startswith(b"\x89PNG")


def test_library_errors_render_as_one_line_with_their_code() -> None:
    (line,) = ElizaError("Quota exceeded", code="QUOTA")._render_traceback_()
    assert "ElizaError" in line and "[QUOTA] Quota exceeded" in line


def test_the_renderers_import_neither_ipython_nor_ipywidgets() -> None:
    # A fresh interpreter: this one has imported IPython already (the fixtures need it).
    code = (
        "import sys, eliza_nb.reprs, eliza_nb.types, eliza_nb.plugin; "
        "print(sorted(m for m in ('IPython', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_long_text_is_cut_with_a_show_all_fold_holding_the_rest() -> None:
    long = "word " * 2400  # 12,000 characters
    result = ActionResult(1, "ECHO", "demo", True, text=long + EVIL, duration_ms=0.068229)
    html = reprs.result_html(result)
    assert html.count("show all 12,027 characters") == 1 and "0.0682 ms" in html
    head, rest = html.split("<details", 1)
    assert head.count("word") <= reprs.CARD_TEXT_LIMIT // 5 + 1
    assert ESCAPED in rest and "<script>" not in html  # the rest is there, escaped


def test_a_failure_card_folds_only_the_handlers_frames() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{reprs.__file__.replace("reprs.py", "dispatcher.py")}", line 248, in _execute\n'
        "    value = action.handler(\n"
        '  File "/tmp/ipykernel_9834/3028829332.py", line 24, in fail\n'
        '    raise RuntimeError("<b>")\n'
        "RuntimeError: <b>"
    )
    info = ErrorInfo(
        code="HANDLER_ERROR", message="<b>", error_type="RuntimeError", traceback=trace
    )
    html = reprs.result_html(ActionResult(2, "FAIL", "demo", False, error=info))
    folded = html[html.index("<details>") :]
    assert "File &quot;&lt;cell&gt;&quot;, line 24, in fail" in folded
    assert "dispatcher.py" not in folded and "ipykernel_" not in folded and "<b>" not in folded


def test_frame_html_rounds_for_people_and_the_frame_keeps_its_precision(
    eliza_runtime: AgentRuntime,
) -> None:
    frame = pd.DataFrame(
        {
            "p50_ms": [0.068229],
            "success_rate": [1 / 3],
            "at": [pd.Timestamp("2026-12-02 07:01:19.599460", tz="UTC")],
        }
    )
    html = reprs.frame_html(frame, "none")
    assert "0.0682" in html and "33.3%" in html and "p50 (ms)" in html
    assert ".599" not in html and "+00:00" not in html
    assert frame["p50_ms"][0] == 0.068229
