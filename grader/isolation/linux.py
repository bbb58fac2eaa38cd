"""The Linux backend: a worker behind three pipes, started in bubblewrap (namespaces, no network, an
unprivileged uid as root) or forked by the batch's zygote, with its resource limits set before it runs."""
import os
import select
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

from grader.isolation.channel import WorkerChannel, ended_process, exit_description
from grader.isolation.failures import StudentCrash, StudentTimeout
from grader.limits import Limits, die_with_parent, rlimits, set_limits, worker_uid
from grader.output import PrintedOutput
from grader import sandbox as machine  # python_executable read at each start: tests replace it
from grader.sandbox import (SANDBOX_SUBMISSION, WORKER_ENV, Sandbox, bwrap_command, private_worker_package,
                            unconfined_env, unprivileged_command)
from grader.scratch import scratch_folder
from grader.zygote_client import ZygoteClient


class WorkerPipes(WorkerChannel):
    """The pipes to a running worker (requests, replies, its printed output); subclasses say how it starts
    and stops. The output pipe is drained whenever the trusted side waits for the worker."""

    requests: int
    responses: int
    output_pipe: int | None = None  # the read end of the worker's stdout and stderr

    def _open_pipes(self, printed: PrintedOutput) -> tuple[int, int, int]:
        """Make the three pipes; returns the worker's ends (requests, responses, output), to close once given."""
        self._begin(printed)
        requests_read, self.requests = os.pipe()
        self.responses, responses_write = os.pipe()
        self.output_pipe, output_write = os.pipe()
        os.set_blocking(self.output_pipe, False)
        return requests_read, responses_write, output_write

    def _wait(self, deadline: float, readable: bool) -> bool:
        """Wait until the request pipe can be written (or the reply pipe read), draining output meanwhile."""
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return False
            watched = [self.output_pipe] if self.output_pipe is not None else []
            if readable:
                ready = select.select([self.responses, *watched], [], [], wait)[0]
            else:
                ready_read, ready_write, _ = select.select(watched, [self.requests], [], wait)
                ready = ready_read + ready_write
            if self.output_pipe in ready and not self.printed.drain(self.output_pipe):
                os.close(self.output_pipe)  # every writer is gone
                self.output_pipe = None
            if (self.responses if readable else self.requests) in ready:
                return True

    def _write_some(self, view: memoryview, deadline: float) -> int:
        """Write what the pipe takes (the request pipe does not block), waiting only while it is full."""
        while True:
            try:
                return os.write(self.requests, view)
            except BlockingIOError:
                if not self._wait(deadline, readable=False):
                    raise StudentTimeout("the worker stopped reading requests") from None
            except BrokenPipeError:
                raise StudentCrash("the worker process died") from None

    def _read_some(self, most: int, deadline: float) -> bytes | None:
        if not self._wait(deadline, readable=True):
            return None
        return os.read(self.responses, most)

    def _drain_output(self):
        if self.output_pipe is not None:
            self.printed.drain(self.output_pipe)

    def _close_pipes(self):
        self._drain_output()  # what it printed last
        for fd in (self.requests, self.responses, self.output_pipe):
            try:
                if fd is not None:
                    os.close(fd)
            except OSError:
                pass
        self.output_pipe = None


def confine(limits: Limits, device: str, own_uid: bool):
    """In the child, just before it executes (preexec_fn): the worker's resource limits, and dying with its
    grading process."""
    die_with_parent()
    set_limits(rlimits(limits, device, count_processes=own_uid))


class WorkerProcess(WorkerPipes):
    """A worker started as its own Python process, confined by the sandbox when there is one."""

    def __init__(self, device, printed: PrintedOutput, sandbox: Sandbox, limits: Limits, import_dir: str | None):
        requests_read, responses_write, output_write = self._open_pipes(printed)
        self.scratch = scratch_folder("worker")
        env = dict(WORKER_ENV)
        argv = [machine.python_executable(), "-m", "grader.worker", "--requests", str(requests_read),
                "--responses", str(responses_write), "--device", device]
        # The worker's own copy of the modules it runs: readable by the unprivileged uid it may run
        # under, while the grader's files (hidden suites among them) may be readable by root alone.
        worker_dir = private_worker_package(Path(self.scratch.name) / ".worker")
        if sandbox.isolated:
            self.search_path = SANDBOX_SUBMISSION if import_dir else None
            if sandbox.processes_counted_per_namespace:  # set inside bubblewrap's user namespace, not here
                argv += ["--max-processes", str(limits.processes)]
            argv = bwrap_command(sandbox, [*argv, "--isolated"], env, import_dir, device, worker_uid(), worker_dir)
        else:
            self.search_path = import_dir
            env = unconfined_env(worker_dir)
            if sandbox.drop_uid:
                os.chmod(self.scratch.name, 0o1777)
                argv = unprivileged_command(argv, worker_uid())
        try:
            self.process = subprocess.Popen(
                argv, pass_fds=(requests_read, responses_write), stdin=subprocess.DEVNULL, stdout=output_write,
                stderr=subprocess.STDOUT, cwd=self.scratch.name, env=env, start_new_session=True,
                preexec_fn=partial(confine, limits, device, sandbox.drop_uid))
        except OSError:
            self._close_pipes()
            self.scratch.cleanup()
            raise
        finally:
            for fd in (requests_read, responses_write, output_write):
                os.close(fd)
        os.set_blocking(self.requests, False)

    def death_reason(self) -> str:
        return ended_process(self.process)

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self._close_pipes()
        self.scratch.cleanup()


class ForkedWorker(WorkerPipes):
    """A worker forked by the batch's zygote, which has already imported torch (see grader.zygote)."""

    def __init__(self, zygote: ZygoteClient, device, printed: PrintedOutput, sandbox: Sandbox, limits: Limits):
        from grader.zygote_client import ZygoteError

        requests_read, responses_write, output_write = self._open_pipes(printed)
        self.zygote = zygote
        try:
            self.pid = zygote.spawn(requests_read, responses_write, output_write,
                                    rlimits(limits, device, sandbox.limits_processes), own_uid=sandbox.drop_uid)
        except ZygoteError:
            self._close_pipes()
            raise
        finally:
            for fd in (requests_read, responses_write, output_write):
                os.close(fd)
        os.set_blocking(self.requests, False)

    def _end(self, wait: bool) -> dict | None:
        from grader.zygote_client import ZygoteError

        if self.pid is None:
            return None
        pid, self.pid = self.pid, None
        try:
            return self.zygote.kill(pid, wait)
        except ZygoteError:
            return None

    def death_reason(self) -> str:
        ended = self._end(wait=True)
        return exit_description(None if ended is None or ended["was_alive"] else ended["status"])

    def stop(self):
        self._end(wait=False)
        self._close_pipes()
