"""The portable backend (macOS, Windows, and Linux where neither bubblewrap nor another uid works): a spawned
worker that talks over a loopback connection and prints into a pipe that a thread reads. Nothing here is
POSIX-only: sockets, subprocess and threads behave alike on every OS.

The time limit is enforced by killing the worker; its resource limits are those this OS allows (see
grader.limits.set_limits); it ends when the grader does (its stdin closes). It has no namespaces: the
README's table says what each OS lacks.
"""
import json
import os
import queue
import secrets
import socket
import subprocess
import threading

from grader import sandbox as machine  # python_executable read at each start: tests replace it
from grader.isolation.channel import WorkerChannel, ended_process, remaining
from grader.isolation.failures import StudentCrash, StudentTimeout
from grader.limits import Limits, rlimits
from grader.output import PrintedOutput
from grader.sandbox import WORKER_ENV, private_worker_package
from grader.scratch import scratch_folder

TOKEN_BYTES = 32
ACCEPT_POLL = 0.1  # seconds between checks that the starting worker is still alive


class PortableWorker(WorkerChannel):
    """A worker process on a loopback connection; its printed output is read by a thread."""

    def __init__(self, device: str, printed: PrintedOutput, limits: Limits, import_dir: str | None):
        from pathlib import Path

        self._begin(printed)
        self.search_path = import_dir
        self.connection = None
        self.unsent = bytearray()  # requests made while the worker starts (imports torch), sent once it connects
        self.scratch = scratch_folder("worker")
        self.token = secrets.token_hex(TOKEN_BYTES // 2)
        self.listener = socket.create_server(("127.0.0.1", 0))
        worker_dir = private_worker_package(Path(self.scratch.name) / ".worker")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "OMP_", "MKL_"))}
        env = {**inherited, **WORKER_ENV, "PYTHONPATH": str(worker_dir), "GRADER_WORKER_TOKEN": self.token}
        argv = [machine.python_executable(), "-m", "grader.worker", "--connect", str(self.listener.getsockname()[1]),
                "--device", device, "--limits",
                json.dumps(rlimits(limits, device, count_processes=False), separators=(",", ":"))]
        try:
            # A session of its own where there are sessions (macOS), so that stop() ends what the student started.
            self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, cwd=self.scratch.name, env=env,
                                            start_new_session=hasattr(os, "killpg"))
        except OSError:
            self.listener.close()
            self.scratch.cleanup()
            raise
        self.output = queue.SimpleQueue()
        self.reader = threading.Thread(target=self._read_output, daemon=True)
        self.reader.start()

    def _read_output(self):
        """On its own thread: the worker's printed bytes, as they come, until it ends (then None)."""
        stream = self.process.stdout
        while True:
            chunk = stream.read1(1 << 16)
            if not chunk:
                break
            self.output.put(chunk)
        self.output.put(None)

    def _drain_output(self):
        while True:
            try:
                chunk = self.output.get_nowait()
            except queue.Empty:
                return
            if chunk is not None:
                self.printed.add(chunk)

    def _connected(self, deadline: float) -> socket.socket | None:
        """The worker's connection, once it has proved itself with its token and been sent what waited for it;
        None if it ended first or the deadline passed (a stranger's connection is closed and ignored). Raises
        socket.timeout or OSError where what waited cannot be sent."""
        while self.connection is None:
            self._drain_output()
            if self.process.poll() is not None or remaining(deadline) <= 0:
                return None
            self.listener.settimeout(min(ACCEPT_POLL, max(remaining(deadline), 0.001)))
            try:
                connection, _ = self.listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            connection.settimeout(max(remaining(deadline), 0.001))
            try:
                said = _receive_exactly(connection, len(self.token))
            except OSError:
                said = b""
            if said == self.token.encode():
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connection = connection
                self.listener.close()
                connection.sendall(self.unsent)
                self.unsent = bytearray()
            else:
                connection.close()
        return self.connection

    def _write_some(self, view: memoryview, deadline: float) -> int:
        if self.connection is None:  # still starting: the request waits, and this process goes on meanwhile
            self.unsent += view
            return len(view)
        self.connection.settimeout(max(remaining(deadline), 0.001))
        try:
            return self.connection.send(view)
        except socket.timeout:
            raise StudentTimeout("the worker stopped reading requests") from None
        except OSError:
            raise StudentCrash("the worker process died") from None

    def _read_some(self, most: int, deadline: float) -> bytes | None:
        try:
            connection = self._connected(deadline)
        except socket.timeout:
            return None
        except OSError:  # it ended while what waited for it was sent
            return b""
        if connection is None:
            return b"" if self.process.poll() is not None else None
        while True:
            self._drain_output()
            wait = remaining(deadline)
            if wait <= 0:
                return None
            connection.settimeout(min(wait, ACCEPT_POLL))  # drain the output now and then while waiting
            try:
                return connection.recv(most)
            except socket.timeout:
                continue
            except OSError:
                return b""

    def death_reason(self) -> str:
        return ended_process(self.process)

    def stop(self):
        if hasattr(os, "killpg"):
            import signal

            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.kill()  # TerminateProcess on Windows, where what the student started may outlive it
        self.process.wait()
        self.reader.join(timeout=5)
        self._drain_output()  # what it printed last
        for closable in (self.connection, self.listener, self.process.stdin, self.process.stdout):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        self.scratch.cleanup()


def _receive_exactly(connection: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = connection.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data
