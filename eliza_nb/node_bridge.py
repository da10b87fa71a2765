"""The wire to a Node process that runs elizaOS TypeScript plugins for one runtime.

:class:`NodeBridge` starts ``node eliza_nb/js/bridge.mjs`` and talks to it in JSON lines over
the child's stdin and stdout. Every request carries an id, in both directions, so many calls
are in flight at once (``run_batch`` at concurrency 32 keeps 32 in the pipe):

- Python asks Node to ``load`` a package, run an ``action``, ``validate``, a ``provider``, an
  ``evaluator``, a ``model`` or a ``test``; Node answers ``{"id", "ok", "result"|"error"}``.
- While it runs, the TS code calls the runtime (``useModel``, ``composeState``, ``callback``…):
  Node sends ``{"call", "ctx", "method", "args"}``, where ``ctx`` is the id of the request it
  serves, and Python answers ``{"reply", "ok", "result"|"error"}`` on the loop of that request.
- Calls elizaOS makes synchronously (``getSetting``) use a second pair of pipes, answered by a
  thread of ours while Node waits, so they never need the event loop.

A reader thread resolves ``concurrent.futures`` futures; an ``async`` caller awaits them through
``asyncio.wrap_future``, so the bridge works on any loop (the kernel's, a runtime's own, a
worker thread's). When the process dies every call in flight fails with ``BRIDGE_ERROR``, and
the next call starts a new process and loads the same packages again. Node's stderr goes to
the ``eliza_nb.bridge`` logger at DEBUG: nothing shows unless asked.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import contextlib
import itertools
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from eliza_nb.errors import BridgeError, ElizaError, HandlerError

__all__ = ["BRIDGE_SCRIPT", "Call", "NodeBridge", "RuntimeCalls"]

log = logging.getLogger("eliza_nb.bridge")
BRIDGE_SCRIPT = Path(__file__).parent / "js" / "bridge.mjs"
_START_TIMEOUT = 30.0
_INTERNAL_FRAME = re.compile(r"\(node:|at node:|/eliza_nb/js/bridge\.mjs:")
#: What the Node process inherits of our environment: never the settings or secrets in it.
_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_EXTRA_CA_CERTS")


@dataclass
class Call:
    """One request to Node in flight: what Node's runtime calls made for it are answered with."""

    id: int
    op: str
    name: str
    loop: asyncio.AbstractEventLoop | None
    future: cf.Future[Any] = field(default_factory=cf.Future)
    #: What the caller attached (an action run's callback), for the runtime calls of this one.
    extra: Any = None


class RuntimeCalls(Protocol):
    """What answers the TS plugins' runtime calls (``eliza_nb.node_runtime.NodeRuntime``)."""

    def call(self, method: str, args: list[Any], call: Call) -> Awaitable[Any]: ...

    def call_sync(self, method: str, args: list[Any]) -> Any: ...


class NodeBridge:
    """One Node process serving the TypeScript plugins of one runtime.

    Args:
        node: The ``node`` executable (``eliza_nb.npm.find_node()``).
        runtime: Answers the plugins' runtime calls.
        on_start: Requests to send to every new process before any other (``init`` and one
            ``load`` per package, so a restarted process serves the same plugins).
    """

    def __init__(
        self, node: str, runtime: RuntimeCalls, on_start: Callable[[], list[dict[str, Any]]]
    ) -> None:
        self.node = node
        self.runtime = runtime
        self.on_start = on_start
        self.calls: dict[int, Call] = {}
        self.restarts = -1  #: how many times the process was started again after the first
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one writer at a time on the wire, one starter
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._closed = False

    # -- requests ---------------------------------------------------------------------------
    async def request(self, op: str, payload: Mapping[str, Any], extra: Any = None) -> Any:
        """Send ``op`` to Node and await its result (on whichever loop is running).

        Raises:
            BridgeError: the process died during the call, or cannot be started.
            HandlerError: the TS code threw (its JavaScript stack is in the error's notes).
        """
        call = self._send(op, payload, asyncio.get_running_loop(), extra)
        return await asyncio.wrap_future(call.future)

    def request_sync(self, op: str, payload: Mapping[str, Any], timeout: float) -> Any:
        """:meth:`request`, blocking: for loading packages, before any loop is involved."""
        call = self._send(op, payload, None, None)
        try:
            return call.future.result(timeout)
        except cf.TimeoutError:
            self._forget(call)
            raise BridgeError(f"Node took over {timeout:g} s to {op} {call.name}") from None

    def notify(self, message: Mapping[str, Any]) -> None:
        """Send a message that has no answer (the parts listing) to a running process."""
        if self._proc is not None and self._proc.poll() is None:
            self._write(message)

    def _send(
        self,
        op: str,
        payload: Mapping[str, Any],
        loop: asyncio.AbstractEventLoop | None,
        extra: Any,
    ) -> Call:
        self._ensure_started()
        call = Call(next(self._ids), op, str(payload.get("name", "")), loop, extra=extra)
        self.calls[call.id] = call
        call.future.add_done_callback(lambda f: self._forget(call) if f.cancelled() else None)
        self._write({"id": call.id, "op": op, **payload})
        return call

    def _forget(self, call: Call) -> None:
        """The caller gave up (a timeout): Node drops the answer, the id is released."""
        if self.calls.pop(call.id, None) is not None:
            self.notify({"op": "cancel", "id": call.id})

    def _write(self, message: Mapping[str, Any]) -> None:
        data = (json.dumps(message, default=_jsonable, separators=(",", ":")) + "\n").encode()
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise BridgeError("the Node process is not running")
        with self._lock:
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise BridgeError(self._died_message(proc)) from None

    # -- the process ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the Node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The Node process's id (None before the first start)."""
        return None if self._proc is None else self._proc.pid

    def _ensure_started(self) -> None:
        if self._closed:
            raise BridgeError("the Node bridge of this runtime is closed")
        if self.running:
            return
        with self._lock:
            if not self.running:
                self._start()
        for request in self.on_start():
            self.request_sync(request.pop("op"), request, _START_TIMEOUT)

    def _start(self) -> None:
        sync_req_r, sync_req_w = os.pipe()  # Node -> us: synchronous runtime calls
        sync_ans_r, sync_ans_w = os.pipe()  # us -> Node: their answers
        argv = [self.node, str(BRIDGE_SCRIPT), "--sync-out", str(sync_req_w)]
        argv += ["--sync-in", str(sync_ans_r)]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(sync_req_w, sync_ans_r),
                env=_child_env(),
                start_new_session=True,  # a Ctrl-C in the kernel interrupts Python, not Node
            )
        except OSError as exc:
            raise BridgeError(f"cannot start Node ({self.node}): {exc}") from None
        finally:
            os.close(sync_req_w)
            os.close(sync_ans_r)
        self._proc = proc
        self.restarts += 1
        ready = proc.stdout.readline() if proc.stdout is not None else b""
        if not ready.startswith(b'{"ready"'):
            raise BridgeError(f"Node did not start the bridge: {ready.decode(errors='replace')}")
        _thread(self._read, proc, "reader")
        _thread(self._read_stderr, proc, "stderr")
        _thread(
            self._serve_sync, (os.fdopen(sync_req_r, "rb"), os.fdopen(sync_ans_w, "wb")), "sync"
        )
        log.debug("started Node bridge pid %s (%s)", proc.pid, ready.decode().strip())

    def close(self) -> None:
        """Stop the Node process; calls in flight fail with ``BRIDGE_ERROR``."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if proc.stdin is not None:
                with self._lock, contextlib.suppress(OSError):
                    proc.stdin.close()  # the bridge exits when its stdin closes
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -- the threads ------------------------------------------------------------------------
    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                try:
                    self._dispatch(json.loads(line))
                except Exception:  # a bad line must not stop the reader: all calls wait on it
                    log.exception("Node bridge: cannot handle %r", line[:200])
        proc.wait()
        if proc.stdin is not None:
            with self._lock, contextlib.suppress(OSError):
                proc.stdin.close()
        self._fail_all(proc)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "call" in message:
            self._answer(message)
            return
        call = self.calls.pop(message["id"], None)
        if call is None or call.future.done():
            return  # the caller gave up
        if message["ok"]:
            call.future.set_result(message["result"])
        else:
            call.future.set_exception(_script_error(call, message["error"]))

    def _answer(self, message: dict[str, Any]) -> None:
        """Answer a runtime call of the TS code on the loop of the request it serves."""
        call = self.calls.get(message["ctx"])
        method, args, reply = message["method"], message["args"], message["call"]
        if call is None:
            gone = {"message": f"the call that used runtime.{method} is over"}
            self.notify({"reply": reply, "ok": False, "error": gone})
            return
        coro = self._reply(reply, method, self.runtime.call(method, args, call))
        if call.loop is None or call.loop.is_closed():
            threading.Thread(target=asyncio.run, args=(coro,), daemon=True).start()
        else:
            asyncio.run_coroutine_threadsafe(coro, call.loop)

    async def _reply(self, reply: int, method: str, answer: Awaitable[Any]) -> None:
        try:
            message = {"reply": reply, "ok": True, "result": await answer}
        except Exception as exc:
            message = {"reply": reply, "ok": False, "error": _error_dict(exc, method)}
        with contextlib.suppress(BridgeError):  # died meanwhile: its calls fail on their own
            self.notify(message)

    def _serve_sync(self, pipes: tuple[IO[bytes], IO[bytes]]) -> None:
        requests, answers = pipes
        with requests, answers:
            for line in requests:
                request = json.loads(line)
                try:
                    result = self.runtime.call_sync(request["method"], request["args"])
                    message = {"ok": True, "result": result}
                except Exception as exc:
                    message = {"ok": False, "error": _error_dict(exc, request["method"])}
                answers.write((json.dumps(message, default=_jsonable) + "\n").encode())
                answers.flush()

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                self._stderr.append(line)
                log.debug("node[%s]: %s", proc.pid, line)

    def _fail_all(self, proc: subprocess.Popen[bytes]) -> None:
        if self._proc is not proc:
            return
        message = self._died_message(proc)
        if not self._closed:
            log.info("Node bridge: %s", message)
        for call in list(self.calls.values()):
            self.calls.pop(call.id, None)
            if not call.future.done():
                call.future.set_exception(BridgeError(f"{call.op} {call.name}: {message}"))

    def _died_message(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.poll()
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with code {code}"
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        said = f" (its last words: {last[:200]})" if last else ""
        return f"the Node process {how}{said}; it restarts on the next call"


def _thread(target: Callable[[Any], None], arg: Any, name: str) -> None:
    threading.Thread(target=target, args=(arg,), name=f"eliza_nb-node-{name}", daemon=True).start()


def _child_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in _ENV_KEYS if key in os.environ}
    # elizaOS's logger is quiet and plain; the bridge's stderr is a log, not a terminal.
    return {**env, "LOG_LEVEL": "warn", "NO_COLOR": "1", "FORCE_COLOR": "0"}


def _script_error(call: Call, error: Mapping[str, Any]) -> ElizaError:
    """The exception a TS failure becomes: its message, its JavaScript stack as a note."""
    name, message = error.get("name") or "Error", error.get("message") or "(no message)"
    exc = HandlerError(f"{name}: {message}", details={"js_code": error.get("code")})
    # The plugin's own frames: the bridge's and Node's internals say nothing about its bug.
    lines = str(error.get("stack") or "").splitlines()
    stack = "\n".join(line for line in lines if not _INTERNAL_FRAME.search(line))
    if stack:
        exc.add_note(f"JavaScript stack of {call.op} {call.name}:\n{stack}")
    return exc


def _error_dict(exc: BaseException, method: str) -> dict[str, Any]:
    code = getattr(exc, "code", None)
    text = exc.message if isinstance(exc, ElizaError) else str(exc) or type(exc).__name__
    return {"message": text, "code": code if isinstance(code, str) else None, "method": method}


def _jsonable(value: Any) -> Any:
    """What JSON cannot hold directly (pydantic models, UUIDs, dates, sets) as what it can."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)
