"""Running a whole submission, top to bottom, in a fresh kernel inside its sandbox.

The kernel (``python3``, ipykernel) runs in the sandbox with the course's package mounted read-only
(the lesson's experiments need it); it talks to the grader over Unix sockets in a folder only that
sandbox sees, locked once the kernel has started. The notebook's cells come over those sockets: the
kernel never sees the submission's file. A cell that raises does not stop the run (like nbgrader);
a run still going after the time limit is stopped, its kernel (and every process in its sandbox)
killed. A notebook that prints more than ``OUTPUT_LIMIT`` bytes is stopped too. What the kernel
writes to its own stdout and stderr is kept in memory (its last line names a crash).

The notebook's own check log (``COURSEKIT_CHECK_LOG``) is read afterwards, but only to say where
the notebook's own verdicts differ from the grader's; it never decides a verdict.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import Sandbox, end_process

KERNEL_NAME = "python3"
OUTPUT_LIMIT = 20 << 20          # bytes of outputs one notebook may produce
MESSAGE_LIMIT = 64 << 20         # bytes of one message from the kernel (zmq drops bigger ones)
STDOUT_TAIL = 64 << 10


@dataclass
class Run:
    """How a run went: ``outcome`` (see ``results.OUTCOMES``), why, and where it stopped."""

    outcome: str
    reason: str = ""
    stopped_at: int | None = None    # index (among all cells) of the cell running when the run stopped
    errors: list[tuple[int, str]] = field(default_factory=list)   # (cell index, "Name: message")
    log: list[dict] = field(default_factory=list)                  # the notebook's own check log


def describe_cell(nb, index: int) -> str:
    cell = nb.cells[index]
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"cell {index + 1}" + (f" (`{first}`)" if first else "")


def _error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0][:150]}" if value else output.get("ename", "Error")
    return None


class _Tail:
    """Drains a pipe in a thread, keeping only the end of what went through it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.data = bytearray()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                break
            self.data += chunk
            del self.data[:-STDOUT_TAIL]
        os.close(self.read_fd)

    def last_line(self) -> str:
        self.thread.join(timeout=5)
        lines = [line.strip() for line in self.data.decode("utf-8", "replace").splitlines() if line.strip()]
        lines = [line for line in lines if "without encryption" not in line]
        return lines[-1][:200] if lines else ""


def _kernel_manager_class(sandbox: Sandbox, host_dir: Path, ipc: Path, slot: int, env: dict, started):
    """A kernel manager whose kernel starts inside ``sandbox`` and listens on sockets in ``ipc``."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.transport, self.ip = "ipc", str(ipc / "kernel")
            self.connection_file = str(ipc / "kernel.json")
            self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_LIMIT)

        def format_kernel_cmd(self, extra_arguments=None):
            argv = super().format_kernel_cmd(extra_arguments)
            return sandbox.wrap(argv, host_dir=host_dir, slot=slot, course=True, env=env, shared=[ipc])

        def write_connection_file(self, **kwargs):
            result = super().write_connection_file(**kwargs)
            sandbox.prepare(Path(self.connection_file), slot)
            return result

        async def _async_post_start_kernel(self, **kwargs) -> None:
            await super()._async_post_start_kernel(**kwargs)
            started(self.provisioner.process)

    return SandboxedKernelManager


def execute(nb, *, sandbox: Sandbox, host_dir: Path, slot: int, timeout: float, on_process=None) -> Run:
    """Run every cell of ``nb`` in place in a fresh sandboxed kernel; never raises because of the notebook.

    ``on_process(popen)`` is told the kernel's process as soon as it exists (to stop it from outside).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    ipc = host_dir / "ipc"
    ipc.mkdir()
    sandbox.prepare(ipc, slot)
    log = ipc / "checks.jsonl"
    log.touch()
    sandbox.prepare(log, slot)
    env = {"COURSEKIT_CHECK_LOG": str(log), "COURSEKIT_PROGRESS": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    processes = []

    def started(process) -> None:
        processes.append(process)
        if on_process is not None:
            on_process(process)

    started_at = time.monotonic()
    deadline = started_at + timeout
    current = {"index": None}
    written = {"bytes": 0}

    class Client(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            written["bytes"] += len(json.dumps(msg.get("content", {}), default=str))
            if written["bytes"] > OUTPUT_LIMIT:
                for process in processes:   # stop it there: nbclient then ends the run as for a dead kernel
                    end_process(process)
                return None
            return super().output(outs, msg, display_id, cell_index)

    def on_cell_start(cell, cell_index, **_):
        current["index"] = cell_index

    def on_notebook_start(**_):
        if getattr(sandbox, "root", False):   # the kernel has made its sockets: no more files there
            os.chown(ipc, 0, 0)
            os.chmod(ipc, 0o755)

    client = Client(nb, kernel_name=KERNEL_NAME, allow_errors=True, timeout_func=lambda cell: max(
                        deadline - time.monotonic(), 0.5),
                    interrupt_on_timeout=False, shutdown_kernel="immediate",
                    startup_timeout=int(min(max(timeout, 1), 120)), record_timing=False,
                    resources={"metadata": {"path": str(host_dir)}}, on_cell_start=on_cell_start,
                    on_notebook_start=on_notebook_start,
                    kernel_manager_class=_kernel_manager_class(sandbox, host_dir, ipc, slot, env, started))
    tail = _Tail()
    run = Run("completed")
    try:
        client.execute(env=sandbox.launch_env(env), stdout=tail.write_fd, stderr=tail.write_fd)
    except CellTimeoutError:
        run = _stopped_run(nb, current["index"], "timed out", f"timed out after {timeout:g} s")
    except DeadKernelError:
        if written["bytes"] > OUTPUT_LIMIT:
            run = _stopped_run(nb, current["index"], "too much output",
                               f"stopped: its output passed {OUTPUT_LIMIT >> 20} MB")
            return _finish(run, nb, log)
        run = _stopped_run(nb, current["index"], "crashed", "the kernel died")
        said = tail.last_line()
        if said:
            run.reason += f" (it printed: {said})"
    except Exception as exc:  # noqa: BLE001 - a submission must never stop the batch
        message = str(exc).strip().splitlines()
        said = f"{type(exc).__name__}" + (f": {message[0][:200]}" if message else "")
        if time.monotonic() >= deadline:
            run = _stopped_run(nb, current["index"], "timed out", f"timed out after {timeout:g} s")
            if current["index"] is None:
                run.reason += " before the notebook started running"
        elif current["index"] is None:
            run = Run("not run", f"could not start a {KERNEL_NAME} kernel: {said}", stopped_at=0)
        else:
            run = _stopped_run(nb, current["index"], "crashed", f"the run failed ({said})")
    finally:
        os.close(tail.write_fd)
        for process in processes:
            end_process(process)
    return _finish(run, nb, log)


def _finish(run: Run, nb, log: Path) -> Run:
    last = len(nb.cells) if run.stopped_at is None else run.stopped_at
    run.errors = [(i, err) for i, cell in enumerate(nb.cells[:last + 1]) if cell.cell_type == "code"
                  for err in [_error_of(cell)] if err]
    if run.outcome == "completed" and run.errors:
        run.outcome = "completed with errors"
    run.log = read_log(log)
    return run


def _stopped_run(nb, index: int | None, outcome: str, reason: str) -> Run:
    where = f" in {describe_cell(nb, index)}" if index is not None else ""
    verb = "; stopped there" if outcome == "timed out" and index is not None else ""
    return Run(outcome, f"{reason}{where}{verb}", stopped_at=index if index is not None else 0)


def read_log(path: Path, limit: int = 10 << 20) -> list[dict]:
    """The notebook's own check log: its well-formed records (written by the learner's kernel: untrusted)."""
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(limit)
    except OSError:
        return []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("exercise"), str) \
                and record.get("status") in ("passed", "failed", "not attempted"):
            records.append(record)
    return records
