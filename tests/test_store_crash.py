"""What a hard kill can lose: at most the runs of the last flush interval.

A child process executes actions in a loop and prints each run id as soon as the run is
recorded. The test reads those lines as they come, kills the child with SIGKILL, and checks the
file: intact, every run reported more than a flush interval before the kill is there, and the
runs form an unbroken prefix (a flush is all or nothing).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eliza_nb import AgentRuntime
from eliza_nb.records import FLUSH_INTERVAL

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

CHILD = """
import sys
from eliza_nb import AgentRuntime, Plugin, action

@action(name="TICK", description="succeeds")
def tick(runtime, message, state, options, callback):
    return "ok"

rt = AgentRuntime(database=sys.argv[1], use_env=False)
rt.run_sync(rt.register_plugin(Plugin(name="crash", actions=[tick])))
print("session", rt.session_id, flush=True)
limit = int(sys.argv[2])
for _ in range(limit) if limit else iter(int, 1):
    print(rt.run("TICK").run_id, flush=True)
"""
RUN_FOR = 1.0  # seconds of reported runs before the kill: several flush intervals
# Margin for the write itself and for the scheduler on a busy machine; the guarantee is the
# flush interval plus the time one write takes.
SLACK = 0.25


def start_child(path: Path, limit: int = 0) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    first = child.stdout.readline().split()
    assert first[:1] == ["session"], child.stderr.read() if child.stderr else first
    return child, int(first[1])


def stored_run_ids(path: Path, session: int) -> list[int]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sql = "SELECT run_id FROM runs WHERE session_id = ? ORDER BY rowid"
        return [r[0] for r in db.execute(sql, (session,))]
    finally:
        db.close()


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    child, session = start_child(path)
    assert child.stdout is not None
    seen: list[tuple[int, float]] = []  # (run id, when the test read it)
    while not seen or seen[-1][1] - seen[0][1] < RUN_FOR:
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "child exited"
        seen.append((int(line), time.monotonic()))
    killed_at = time.monotonic()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    if child.stderr:
        child.stderr.close()

    stored = stored_run_ids(path, session)  # also checks PRAGMA integrity_check
    assert stored == list(range(1, len(stored) + 1)), "runs are written in order, all or nothing"
    cutoff = killed_at - FLUSH_INTERVAL - SLACK
    must_have = [run_id for run_id, when in seen if when < cutoff]
    assert len(must_have) > 100, "the child ran long enough to prove something"
    assert max(must_have) <= len(stored), (
        f"lost runs older than the flush interval: stored {len(stored)}, "
        f"reported before the cutoff {max(must_have)}"
    )
    # The file opens again without error; the killed session never got an end time.
    rt = AgentRuntime(database=path, use_env=False)
    assert len(rt.metrics_frame(session_id=session)) == len(stored)
    rt.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT ended FROM sessions WHERE id = ?", (session,)).fetchone() == (None,)
    db.close()


def test_a_normal_exit_without_close_writes_everything(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    child, session = start_child(path, limit=500)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split()[-1] == "500"
    assert stored_run_ids(path, session) == list(range(1, 501))
    db = sqlite3.connect(path)
    assert db.execute(
        "SELECT ended IS NOT NULL FROM sessions WHERE id = ?", (session,)
    ).fetchone() == (1,)
    db.close()
