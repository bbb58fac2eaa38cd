"""The trusted side of the zygote (`grader.zygote`): start it in the sandbox, then ask it for workers.

`ZygoteServer` starts one zygote for a whole batch and listens on a socket in a private folder; every
grading process of the batch opens its own `ZygoteClient` on that path and asks it for a fresh worker per
student, instead of starting Python and importing torch again.
"""
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from grader.limits import die_with_parent
from grader.sandbox import (WORKER_ENV, Sandbox, bwrap_command, private_worker_package, python_executable,
                            unconfined_env)
from grader.scratch import scratch_folder

MAX_REPLY = 64 * 1024
START_TIMEOUT = 120.0  # seconds for the zygote to import torch and start answering
# Students per zygote from which it moves its heap onto huge pages (grader.zygote.heap_on_huge_pages) before
# forking: that costs it about 0.35 s once and saves about 5 ms of CPU per student (measured on 2 cores).
HUGE_PAGES_FROM = 200


class ZygoteError(OSError):
    """The zygote could not be reached or refused a request."""


def zygote_available(device: str) -> bool:
    """Whether batch grading can use a zygote here: Linux, and the CPU (CUDA does not survive a fork)."""
    return device == "cpu" and sys.platform.startswith("linux") and hasattr(socket, "SOCK_SEQPACKET")


class ZygoteServer:
    """One zygote process, confined like a worker, listening on a socket only this user can reach.

    In a sandbox it forks only workers with namespaces of their own; where it cannot create them it
    refuses, and the grading processes start workers of their own instead.
    """

    def __init__(self, sandbox: Sandbox, device: str = "cpu", students: int = 0, meta_kernels: bool = True,
                 import_dir: str | None = None):
        """`students`: how many workers it is expected to fork, which decides whether its heap is moved onto
        huge pages first (see HUGE_PAGES_FROM). Without `meta_kernels` it leaves torch's meta kernels unloaded
        (a second of imports that only a batch's shape checks repay). `import_dir`: a folder submission's own
        modules, which every worker it forks then finds (at SANDBOX_SUBMISSION in a sandbox)."""
        self.sandbox = sandbox
        self.device = device
        self.huge_pages = students >= HUGE_PAGES_FROM
        self.meta_kernels = meta_kernels
        self.import_dir = import_dir
        self.folder = scratch_folder("zygote")
        try:
            os.chmod(self.folder.name, 0o700)
            self.path = str(Path(self.folder.name) / "zygote.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
                listener.bind(self.path)
                listener.listen(64)
                self.process = self._start(listener.fileno())
        except BaseException:
            self.folder.cleanup()
            raise

    def _start(self, listener: int) -> subprocess.Popen:
        env = dict(WORKER_ENV)
        argv = [python_executable(), "-m", "grader.zygote", "--listen", str(listener), "--device", self.device,
                *(["--huge-pages"] if self.huge_pages else []), *([] if self.meta_kernels else ["--no-meta-kernels"])]
        worker_dir = private_worker_package(Path(self.folder.name) / ".worker")
        if self.sandbox.isolated:
            # The zygote keeps root's power to create namespaces and switch uids; its workers do not.
            argv = bwrap_command(self.sandbox, [*argv, "--isolated"], env, self.import_dir, self.device, None,
                                 worker_dir)
        else:
            env = unconfined_env(worker_dir)
        return subprocess.Popen(argv, pass_fds=(listener,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd="/", env=env, start_new_session=True,
                                preexec_fn=die_with_parent)  # a killed batch takes it along

    def close(self):
        self.process.kill()
        self.process.wait()
        self.folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ZygoteClient:
    """A connection to the zygote; one per grading process, used by one thread at a time."""

    def __init__(self, path: str, timeout: float = START_TIMEOUT):
        self.path = path
        self.timeout = timeout
        self.lock = threading.Lock()
        self.connection = None
        self.failure: str | None = None  # once the zygote failed, every request fails at once

    def _connect(self) -> socket.socket:
        if self.connection is None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                connection.connect(self.path)
            except OSError as exc:
                connection.close()
                raise ZygoteError(f"cannot reach the worker zygote: {exc}") from None
            connection.settimeout(self.timeout)
            self.connection = connection
        return self.connection

    def _ask(self, request: dict, fds=()) -> object:
        with self.lock:
            if self.failure:
                raise ZygoteError(self.failure)
            try:
                connection = self._connect()
                socket.send_fds(connection, [json.dumps(request).encode()], list(fds))
                data = connection.recv(MAX_REPLY)
                if not data:
                    raise ZygoteError("the worker zygote has stopped")
                reply = json.loads(data)
            except (OSError, ValueError) as exc:
                self.close()
                self.failure = str(exc) if isinstance(exc, ZygoteError) else f"the worker zygote failed: {exc}"
                raise ZygoteError(self.failure) from None
        if "error" in reply:
            if request["op"] == "spawn":
                self.failure = f"the worker zygote refused: {reply['error']}"
            raise ZygoteError(f"the worker zygote refused: {reply['error']}")
        return reply["ok"]

    def spawn(self, requests_fd: int, responses_fd: int, output_fd: int, limits: dict, own_uid: bool) -> int:
        """Fork a worker speaking on the given pipes and writing to output_fd; returns its pid."""
        return int(self._ask({"op": "spawn", "own_uid": own_uid, "limits": limits},
                             (requests_fd, responses_fd, output_fd)))

    def status(self) -> dict:
        """{"forks": whether the zygote forks workers at all}."""
        return self._ask({"op": "status"})

    def kill(self, pid: int, wait: bool = True) -> dict:
        """Kill a worker and its processes: {"status": exit code (None without wait), "was_alive": bool}."""
        return self._ask({"op": "kill", "pid": pid, "wait": wait})

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def start_zygote(stack: contextlib.ExitStack, sandbox: Sandbox, device: str, students: int) -> ZygoteServer | None:
    """The zygote for `students` workers, kept until `stack` closes; None where there can be none (workers are
    then started one by one)."""
    if sandbox.backend != "linux" or not zygote_available(device):
        return None
    try:
        return stack.enter_context(ZygoteServer(sandbox, device, students))
    except OSError:  # e.g. a socket path too long for AF_UNIX under a deep TMPDIR
        return None


def slow_start_note(path: str) -> str | None:
    """Why every student's worker will start afresh, and how to fix it; None when the zygote listening at
    path forks them. Waits for that zygote to start."""
    client = ZygoteClient(path)
    try:
        if client.status()["forks"]:
            return None
        reason = ("the sandboxed zygote cannot give workers namespaces of their own here (nested user "
                  "namespaces are forbidden)")
    except ZygoteError as exc:
        reason = str(exc)
    finally:
        client.close()
    return (f"note: every student's worker starts afresh, with a torch import each (slow): {reason}; see the "
            "README's 'Grading untrusted code' for how to allow user namespaces")
