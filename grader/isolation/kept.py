"""Workers kept ready for a process that grades again and again (a Jupyter kernel's `check()`, `--watch`), so
that a grading after the first pays no torch import.

On the linux backend (CPU), every grading gets a fresh worker: a zygote of this process's own (grader.zygote,
without the meta kernels, which a self-check never uses) forks it. The zygote has only imported torch, so its
forks cannot hang in OpenMP as a fork of a process that computed with torch can. Elsewhere (the portable
backend, CUDA, a sandbox whose zygote may not fork) workers are started as processes, which costs a torch
import each: the first is started ahead, and a worker whose grading ended well then serves the next grading
too, once it has forgotten the last submission and found its process as it was before any student code ran
(grader.worker_state); where it is not, or has used much of its limits, a fresh one replaces it. What is kept
dies with this process: the zygote and a linux worker by their parent-death signal, a process worker when its
stdin closes.
"""
import time

from grader.limits import CPU_SECONDS_OVER_TIMEOUT, rlimits
from grader.output import PrintedOutput
from grader.sandbox import SANDBOX_SUBMISSION
from grader.zygote_client import ZygoteClient, ZygoteError, ZygoteServer, zygote_available

RESET_TIMEOUT = 10.0  # seconds for a kept worker to forget its last submission and say how it is


class KeptWorkers:
    """What one process keeps ready for its next grading: a zygote, a worker started ahead, or the last
    grading's worker.

    It follows the grading sessions it serves: a session on other terms (sandbox, device, limits, folder of
    the student's own modules) ends what was kept and keeps what suits the new one. `close()` ends it all.
    """

    def __init__(self):
        self.terms = None  # (sandbox, device, limits, import_dir) of the sessions served
        self.zygote: ZygoteServer | None = None
        self.client: ZygoteClient | None = None
        self.forks = True  # False once a zygote could not fork here: workers are started ahead instead
        self.standby = None  # a worker started ahead (a WorkerChannel), not yet given a submission
        self.previous = None  # the last grading's worker (not forked), to serve the next one if it still may

    def start(self, launcher, import_dir: str | None = None):
        """Start keeping a worker for sessions of `launcher` (a grader.isolation.Launcher) now, ahead of their
        first grading (a kernel's, when it imports the self-checks): it imports torch meanwhile."""
        terms = (launcher.sandbox, launcher.device, launcher.limits, import_dir)
        if terms != self.terms:
            self.close()
            self.terms = terms
        self._keep(standby=True)

    def take(self, launcher, printed: PrintedOutput, import_dir: str | None):
        """A worker for a session of `launcher` (a grader.isolation.Launcher): forked, started ahead, or the last
        grading's, which has forgotten its submission (see give_back); None where none is ready (the launcher
        starts one as usual). The first call starts a zygote and forks from it once it has imported torch."""
        terms = (launcher.sandbox, launcher.device, launcher.limits, import_dir)
        if terms != self.terms:
            self.close()
            self.terms = terms
            self._keep(standby=False)  # this grading's worker is started now either way
        if self.client is not None:
            try:
                return self._fork(printed)
            except ZygoteError:
                self._drop_zygote()
        previous, self.previous = self.previous, None
        if _still_running(previous):
            previous.serve_next(printed)
            return previous
        worker, self.standby = self.standby, None
        if _still_running(worker):
            worker.hand_to(printed)
            return worker
        return None

    def give_back(self, worker):
        """A worker whose grading ended well (no request left unanswered, nothing left running): where workers
        are not forked, it forgets the submission and is kept to serve the next grading if it can serve as a
        fresh worker would; else it is stopped. What the submission printed is all taken in either way."""
        if self.terms is not None and not self._forks_here() and self.previous is None:
            state = worker.forget_submission(time.monotonic() + RESET_TIMEOUT)
            if state is not None and state.get("untouched") is True and self._room_left(state):
                self.previous = worker
                return
        worker.stop()

    def refill(self):
        """Once a grading has ended: have the next one's worker ready (a zygote that died starts again)."""
        if self.terms is not None and self.previous is None:
            self._keep(standby=True)

    def close(self):
        if self.zygote is not None:
            self.client.close()
            self.zygote.close()
            self.zygote = self.client = None
        for worker in (self.standby, self.previous):
            if worker is not None:
                worker.stop()
        self.standby = self.previous = None
        self.terms = None

    def _forks_here(self) -> bool:
        """Whether a zygote of this process's own forks the workers of the sessions it serves."""
        sandbox, device, _, _ = self.terms
        return self.forks and sandbox.backend == "linux" and zygote_available(device)

    def _keep(self, standby: bool):
        sandbox, device, limits, import_dir = self.terms
        if self._forks_here():
            if self.zygote is None:
                try:
                    self.zygote = ZygoteServer(sandbox, device, meta_kernels=False, import_dir=import_dir)
                    self.client = ZygoteClient(self.zygote.path)
                except OSError:  # e.g. a socket path too long for AF_UNIX under a deep TMPDIR
                    self.forks = False
            if self.zygote is not None:
                return
        if standby and self.standby is None:
            from grader.isolation import Launcher

            try:
                self.standby = Launcher(sandbox, device, limits).start_fresh(PrintedOutput(), import_dir)
            except OSError:
                pass  # the next grading starts its worker itself, and says why if it cannot

    def _room_left(self, used: dict) -> bool:
        """Whether a worker that has used this much (grader.worker_state.resources_used) still has what a fresh
        one has for a grading: it has used less than half the CPU seconds its limit allows over the timeout,
        so that the timeout still ends an endless loop first, and less than half its address space where it
        has a limit."""
        _, device, limits, _ = self.terms
        cpu_seconds, address_space = used.get("cpu_seconds"), used.get("address_space")
        if not isinstance(cpu_seconds, (int, float)) or cpu_seconds >= CPU_SECONDS_OVER_TIMEOUT / 2:
            return False
        if "as" not in rlimits(limits, device, count_processes=False) or address_space is None:
            return True
        return isinstance(address_space, int) and address_space < limits.memory_bytes / 2

    def _fork(self, printed: PrintedOutput):
        from grader.isolation.linux import ForkedWorker

        sandbox, device, limits, import_dir = self.terms
        worker = ForkedWorker(self.client, device, printed, sandbox, limits)
        if import_dir is not None:
            worker.search_path = SANDBOX_SUBMISSION if sandbox.isolated else import_dir
        return worker

    def _drop_zygote(self):
        """A zygote that failed: one still running refused to fork here, and workers are started ahead from now
        on; one that ended (killed, out of memory) is started again once this grading ends."""
        if self.zygote.process.poll() is None:
            self.forks = False
        self.client.close()
        self.zygote.close()
        self.zygote = self.client = None


def _still_running(worker) -> bool:
    """Whether a kept worker (None: none kept) is still there to serve; one that ended while it waited (killed,
    say) is stopped."""
    if worker is None:
        return False
    if worker.process.poll() is None:
        return True
    worker.stop()
    return False
