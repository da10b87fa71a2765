"""The notebooks as a user sees them: JupyterLab and the Voila app in a real, headless Chromium.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; ``make browser`` installs it, and
Playwright never downloads a browser of its own). Each server runs on loopback with a random
token and serves a copy of ``notebooks/`` in a temporary folder, so the committed notebooks are
never touched. Every step leaves a screenshot in ``test-artifacts/browser/``, and each server's
log lies next to them.

The checks are what a user would look for: the result card of ``%eliza run``, the metrics
DataFrame as a table, the action runner rendered, and a click on Run that brings a new result
card and a longer last-runs table. If the widget does not render or Run does nothing, the test
fails; it skips only where no Chromium is installed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from playwright.sync_api import Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium package "
        "(apt-get install chromium); Playwright must not download a browser of its own",
        allow_module_level=True,
    )

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent  # jupyter and voila live next to the venv's python
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_S = 60  # a server answers within this, or the test fails with its log
WAIT_MS = 45_000  # a kernel start plus a whole notebook's run fit in this

_RUN_NAME = re.compile(r"(^|\W)Run$")

# JupyterLab settings for a quiet, predictable page: no news toast over the cells, no update
# check (the machine may have no network), every cell attached to the DOM.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class Server:
    """A Jupyter or Voila server started by a fixture: its address, token, process and log."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


# -- servers -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _jupyter_env(home: Path) -> dict[str, str]:
    """Environment with Jupyter's config, runtime, settings and workspaces under ``home``."""
    settings = home / "lab-settings"
    for name, values in _LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }


def _log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_until(ready: Callable[[], bool], server: Server, what: str) -> None:
    """Poll ``ready`` until it is true; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + STARTUP_S
    while not ready():
        if server.process.poll() is not None:
            pytest.fail(f"{what} exited with {server.process.returncode}:\n{_log_tail(server.log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {STARTUP_S} s:\n{_log_tail(server.log)}")
        time.sleep(0.2)


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return ready


def _listens(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    return ready


def _start(cmd: list[str], env: dict[str, str], log: Path, port: int, token: str) -> Server:
    with log.open("wb") as out:  # the child keeps its own handle
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return Server(f"http://127.0.0.1:{port}", token, process, log)


def _stop(server: Server) -> None:
    """SIGTERM (both servers then shut their kernels down), SIGKILL the group if that hangs."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def served_notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of notebooks/, with the quickstart's outputs cleared and an ``%eliza ui`` cell."""
    folder = tmp_path_factory.mktemp("browser") / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    _prepare_quickstart(folder / "01-quickstart.ipynb")
    return folder


def _prepare_quickstart(path: Path) -> None:
    # Saved outputs would satisfy the checks before anything ran: start from a blank page.
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    if not any(c.cell_type == "code" and "%eliza ui" in c.source for c in nb.cells):
        nb.cells.append(new_markdown_cell("The action runner (added by the browser test):"))
        nb.cells.append(new_code_cell("%eliza ui"))
    if not any(c.cell_type == "code" and "%eliza dashboard" in c.source for c in nb.cells):
        nb.cells.append(new_markdown_cell("The dashboard (added by the browser test):"))
        nb.cells.append(new_code_cell("%eliza dashboard"))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(served_notebooks: Path) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1, a free port and a random token, serving the copied notebooks."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={served_notebooks}",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    env = _jupyter_env(served_notebooks.parent / "jupyter")
    server = _start(cmd, env, ARTIFACTS / "jupyterlab.log", port, token)
    try:
        _wait_until(_answers(f"{server.url}/api/status?token={token}"), server, "JupyterLab")
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def voila(served_notebooks: Path) -> Iterator[Server]:
    """Voila serving the app notebook on 127.0.0.1, a free port and a random token."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        str(BIN / "voila"),
        str(served_notebooks / "app.ipynb"),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--token={token}",
    ]
    env = _jupyter_env(served_notebooks.parent / "voila")
    server = _start(cmd, env, ARTIFACTS / "voila.log", port, token)
    try:
        _wait_until(_listens(port), server, "Voila")
        yield server
    finally:
        _stop(server)


# -- browser -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One headless Chromium page with a fresh profile, shared by the tests of this module."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            context.close()


def _shot(page: Page, name: str, target: Locator | None = None) -> None:
    """Screenshot the page (after scrolling ``target`` into view) to test-artifacts/browser/."""
    if target is not None:
        target.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


@contextlib.contextmanager
def _shot_on_failure(page: Page, name: str) -> Iterator[None]:
    """Leave a screenshot of the page as it was when a check failed, then re-raise."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # never hide the failure behind a screenshot's
            page.screenshot(path=ARTIFACTS / f"{name}-FAILED.png", full_page=True)
        raise


def _run(runner: Locator, action: str, text: str, option: tuple[str, str]) -> None:
    """What a user does in the action runner: pick, type, set one option, click Run."""
    runner.locator(".widget-dropdown select").select_option(action)
    runner.locator(".widget-textarea textarea").fill(text)
    keys = runner.get_by_placeholder("key")
    if not keys.count():
        runner.get_by_role("button", name="+ option").click()
    keys.fill(option[0])
    runner.get_by_placeholder("value").fill(option[1])
    _run_button(runner).click()


def _run_button(runner: Locator) -> Locator:
    # The button's name starts with its icon's glyph (the "play" icon), then "Run".
    return runner.get_by_role("button", name=_RUN_NAME)


def _history_rows(runner: Locator) -> Locator:
    # The last-runs table: a header row, then one row per run, newest first.
    return (
        runner.locator("table", has_text="duration")
        .locator("tr")
        .filter(has=runner.page.locator("td"))
    )


def _shot_of(target: Locator, name: str) -> None:
    """Screenshot one element (a card, the dashboard) to test-artifacts/browser/."""
    target.scroll_into_view_if_needed()
    target.screenshot(path=ARTIFACTS / f"{name}.png")


_DECIMAL = re.compile(r"\d[\d,]*\.\d+")


def _unrounded(text: str) -> list[str]:
    """The decimals in ``text`` with more than three significant digits (``0.068229``)."""
    digits = (n.replace(",", "").replace(".", "").lstrip("0") for n in _DECIMAL.findall(text))
    return [d for d in digits if len(d) > 3]


_SUB_SECOND = re.compile(r"\d:\d\d\.\d")  # 07:01:19.599460: a time past the second


def _box(cell: Locator) -> dict[str, float]:
    box = cell.bounding_box()
    assert box is not None, "a table cell is not rendered"
    return dict(box)


def _assert_table_layout(table: Locator) -> None:
    """Headers side by side without overlap, each column's cells under their header, numbers
    rounded for people, times to the second, no ``session_id``."""
    heads = [_box(th) for th in table.locator("thead th").all()]
    assert len(heads) >= 3
    for left, right in itertools.pairwise(heads):
        assert left["x"] + left["width"] <= right["x"] + 0.5, "headers overlap"
        assert right["x"] - (left["x"] + left["width"]) < 1, "a gap between headers"
    for row in table.locator("tbody tr").all():
        cells = [_box(td) for td in row.locator("td").all()]
        assert len(cells) == len(heads)
        for cell, head in zip(cells, heads, strict=True):
            assert abs(cell["x"] - head["x"]) < 1 and abs(cell["width"] - head["width"]) < 1
        text = row.inner_text()
        assert not _unrounded(text), f"an unrounded number in {text!r}"
        assert not _SUB_SECOND.search(text) and "+00:00" not in text, text
    assert "session_id" not in table.inner_text()


def _assert_dashboard(dashboard: Locator) -> None:
    """The per-action table and the errors table laid out and rounded; both charts drawn."""
    tables = dashboard.locator("table.eliza-table")
    for i in range(tables.count()):
        _assert_table_layout(tables.nth(i))
    for img in dashboard.locator("img").all():
        width = img.evaluate("i => i.naturalWidth")
        assert width > 100, "a chart did not render"
    assert not re.search(r"(?<![\d,])1 runs", dashboard.inner_text())


def _code_cell(page: Page, source: str) -> Locator:
    return page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=source))


# -- JupyterLab --------------------------------------------------------------------------
def test_lab_has_the_widgets_extension(page: Page, lab: Server) -> None:
    """Widgets render in JupyterLab only with jupyterlab_widgets' extension (ipywidgets 8)."""
    page.goto(f"{lab.url}/lab?token={lab.token}")
    config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    names = {e["name"] for e in config.get("federated_extensions", [])}
    disabled = set(config.get("disabledExtensions", []))
    manager = "@jupyter-widgets/jupyterlab-manager"
    assert manager in names, f"no {manager} (pip install jupyterlab_widgets); only {names}"
    assert manager not in disabled, f"{manager} is disabled in JupyterLab's page config"


def test_committed_quickstart_runs_past_its_intended_errors() -> None:
    """A user's Run All goes past an intended error: shown with ``--expect`` (or caught), it
    raises nothing; a cell still meant to raise must carry the raises-exception tag."""
    nb = nbformat.read(ROOT / "notebooks" / "01-quickstart.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("--expect" in c.source for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    marked = [c for c in code if "# raises:" in c.source]
    assert all("raises-exception" in c.metadata.get("tags", []) for c in marked)


def test_quickstart_in_jupyterlab(page: Page, lab: Server) -> None:
    """Run All Cells, then use the action runner the notebook shows, as a user would."""
    with _shot_on_failure(page, "lab"):
        runner = _run_all_cells(page, lab)
        _click_run_twice(page, runner)


def _run_all_cells(page: Page, lab: Server) -> Locator:
    """Run > Run All Cells: the result card, the metrics table and the action runner show."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{lab.url}/lab/tree/01-quickstart.ipynb?token={lab.token}")
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=WAIT_MS)
    _shot(page, "lab-1-opened")

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    card = _code_cell(page, "%eliza run MY_ACTION").locator(".eliza-card")
    expect(card).to_contain_text("greeted Ada", timeout=WAIT_MS)
    expect(card).to_contain_text("Hello, Ada!")
    _shot(page, "lab-2-result-card", card)

    metrics = _code_cell(page, "runtime.metrics_frame()").locator("table.dataframe")
    expect(metrics).to_contain_text("MY_ACTION", timeout=WAIT_MS)
    expect(metrics.locator("tbody tr")).to_have_count(3)
    _shot(page, "lab-3-metrics-table", metrics)

    runner = _code_cell(page, "%eliza ui").locator(".jp-OutputArea-output")
    expect(runner.locator(".widget-dropdown select")).to_be_visible(timeout=WAIT_MS)
    expect(_run_button(runner)).to_be_visible()
    expect(_history_rows(runner)).to_have_count(0)
    _shot(page, "lab-4-action-runner", runner)
    return runner


def _click_run_twice(page: Page, runner: Locator) -> None:
    """Select, type, set an option, click Run: a new result card and a longer last-runs table."""
    _run(runner, "MY_ACTION", "hello from the browser", ("name", "Browser"))
    card = runner.locator(".eliza-card")
    expect(card).to_contain_text("greeted Browser", timeout=WAIT_MS)
    expect(card).to_contain_text("success")
    expect(_history_rows(runner)).to_have_count(1)
    _shot(page, "lab-5-runner-first-run", runner)

    _run(runner, "MY_ACTION", "and again", ("name", "Playwright"))
    expect(card).to_contain_text("greeted Playwright", timeout=WAIT_MS)
    rows = _history_rows(runner)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("greeted Playwright")
    expect(rows.last).to_contain_text("greeted Browser")
    _shot(page, "lab-6-runner-second-run", runner)

    dashboard = _code_cell(page, "%eliza dashboard").locator(".jp-OutputArea-output")
    expect(dashboard.locator("table.eliza-table").first).to_contain_text("MY_ACTION")
    expect(dashboard).to_contain_text("5 runs", timeout=WAIT_MS)  # 3 in cells, 2 clicked
    _assert_dashboard(dashboard)
    _shot_of(dashboard, "lab-7-dashboard")


# -- Voila -------------------------------------------------------------------------------
def test_voila_app_runner_and_dashboard(page: Page, voila: Server) -> None:
    """The app shows the runner and the dashboard, no code; Run updates both."""
    page.set_viewport_size({"width": 1280, "height": 1800})  # the whole app in one shot
    with _shot_on_failure(page, "voila"):
        runner, dashboard = _open_app(page, voila)
        _run_echo_then_fail(page, runner, dashboard)


def _open_app(page: Page, voila: Server) -> tuple[Locator, Locator]:
    """The app renders the runner and an empty dashboard, and shows no code."""
    page.goto(f"{voila.url}/?token={voila.token}", timeout=WAIT_MS)
    runner = page.locator(".widget-vbox", has=page.locator(".widget-dropdown")).first
    dashboard = page.locator(".widget-vbox", has=page.get_by_role("button", name="Refresh"))
    expect(runner.locator(".widget-dropdown select")).to_be_visible(timeout=WAIT_MS)
    expect(_run_button(runner)).to_be_visible()
    expect(dashboard).to_contain_text("No runs yet.", timeout=WAIT_MS)
    for code in ("%load_ext", "register_plugin", "%eliza ui"):  # Voila leaves the code out
        expect(page.get_by_text(code)).to_have_count(0)
    _shot(page, "voila-1-app")
    return runner, dashboard


def _run_echo_then_fail(page: Page, runner: Locator, dashboard: Locator) -> None:
    """Each click brings a result card, a longer last-runs table and a refreshed dashboard."""
    _run(runner, "ECHO", "hello from voila", ("times", "2"))
    card = runner.locator(".eliza-card")
    expect(card).to_contain_text("hello from voila hello from voila", timeout=WAIT_MS)
    expect(_history_rows(runner)).to_have_count(1)
    expect(dashboard).to_contain_text(re.compile(r"(?<![\d,])1 run(?!s)"), timeout=WAIT_MS)
    expect(dashboard.locator("table").first).to_contain_text("ECHO")
    expect(dashboard.locator("img").first).to_be_visible()
    _assert_dashboard(dashboard)
    _shot(page, "voila-2-after-run")

    _run(runner, "FAIL", "please fail", ("times", "1"))
    expect(card).to_contain_text("HANDLER_ERROR", timeout=WAIT_MS)
    expect(_history_rows(runner)).to_have_count(2)
    expect(dashboard).to_contain_text("2 runs, 1 failed", timeout=WAIT_MS)
    expect(dashboard.locator("table.eliza-table").last).to_contain_text("this action always fails")
    _assert_dashboard(dashboard)
    _shot(page, "voila-3-after-failure")
    _shot_of(dashboard, "voila-4-dashboard")
    _failure_folds_the_handlers_frames(card)


def _failure_folds_the_handlers_frames(card: Locator) -> None:
    """One line with the code and message; the traceback opens on a click and shows the
    handler's own frame, its cell named <cell>, none of eliza_nb's."""
    folded = card.locator("details pre")
    expect(folded).to_be_hidden()
    card.get_by_text("traceback", exact=True).click()
    expect(folded).to_be_visible()
    expect(folded).to_contain_text('File "<cell>"')
    expect(folded).to_contain_text('raise RuntimeError("this action always fails")')
    assert "eliza_nb/" not in folded.inner_text() and "ipykernel_" not in folded.inner_text()
    _shot_of(card, "voila-5-failure-card")


def test_voila_long_reply_is_cut_in_the_card(page: Page, voila: Server) -> None:
    """A 12,000-character reply shows its first lines and a "show all" that opens the rest."""
    page.set_viewport_size({"width": 1280, "height": 1800})
    with _shot_on_failure(page, "voila-long"):
        runner, _ = _open_app(page, voila)
        _run(runner, "ECHO", "twelve thousand characters " * 40, ("times", "11"))
        card = runner.locator(".eliza-card")
        show_all = card.locator("summary", has_text="show all")
        expect(show_all.first).to_be_visible(timeout=WAIT_MS)
        height = _box(card)["height"]
        assert height < 600, f"the card is {height} px high: the long text was not cut"
        _shot_of(card, "voila-6-long-reply-cut")
        show_all.first.click()
        assert _box(card)["height"] > height  # the whole text, on demand
