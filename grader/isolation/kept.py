"""Workers kept ready for a process that grades again and again (a Jupyter kernel's `check()`, `--watch`), so
that a grading after the first pays no torch import.

Every grading still gets a fresh worker that has run no student code: what is kept is a process that imported
torch and nothing else. On the linux backend (CPU), a zygote of this process's own (grader.zygote, without the
meta kernels, which a self-check never uses) forks each worker; it has only imported torch, so its forks cannot
hang in OpenMP as a fork of a process that computed with torch can. Elsewhere (the portable backend, CUDA, a
sandbox whose zygote may not fork) the next worker is started as soon as a grading ends, and waits for its
submission with torch imported. What is kept dies with this process: the zygote and a linux worker by their
parent-death signal, a portable worker when its stdin closes.
"""
from grader.output import PrintedOutput
from grader.sandbox import SANDBOX_SUBMISSION
from grader.zygote_client import ZygoteClient, ZygoteError, ZygoteServer, zygote_available


class KeptWorkers:
    """What one process keeps ready for its next grading: a zygote or a worker started ahead.

    It follows the grading sessions it serves: a session on other terms (sandbox, device, limits, folder of
    the student's own modules) ends what was kept and keeps what suits the new one. `close()` ends it all.
    """

    def __init__(self):
        self.terms = None  # (sandbox, device, limits, import_dir) of the sessions served
        self.zygote: ZygoteServer | None = None
        self.client: ZygoteClient | None = None
        self.forks = True  # False once a zygote could not fork here: workers are started ahead instead
        self.standby = None  # a worker started ahead (a WorkerChannel), not yet given a submission

    def start(self, launcher, import_dir: str | None = None):
        """Start keeping a worker for sessions of `launcher` (a grader.isolation.Launcher) now, ahead of their
        first grading (a kernel's, when it imports the self-checks): it imports torch meanwhile."""
        terms = (launcher.sandbox, launcher.device, launcher.limits, import_dir)
        if terms != self.terms:
            self.close()
            self.terms = terms
        self._keep(standby=True)

    def take(self, launcher, printed: PrintedOutput, import_dir: str | None):
        """A fresh worker for a session of `launcher` (a grader.isolation.Launcher), forked or started ahead; None
        where none is ready (the launcher starts one as usual). The first call starts a zygote and forks from it
        once it has imported torch."""
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
        worker, self.standby = self.standby, None
        if worker is not None and worker.process.poll() is not None:  # it ended while it waited (killed, say)
            worker.stop()
            return None
        if worker is not None:
            worker.hand_to(printed)
        return worker

    def refill(self):
        """Once a grading has ended: have the next one's worker ready (a zygote that died starts again)."""
        if self.terms is not None:
            self._keep(standby=True)

    def close(self):
        if self.zygote is not None:
            self.client.close()
            self.zygote.close()
            self.zygote = self.client = None
        if self.standby is not None:
            self.standby.stop()
            self.standby = None
        self.terms = None

    def _keep(self, standby: bool):
        sandbox, device, limits, import_dir = self.terms
        if self.forks and sandbox.backend == "linux" and zygote_available(device):
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
