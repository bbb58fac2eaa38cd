"""How a submission's worker is started and confined: one interface, two backends.

- linux (`linux.py`): bubblewrap's namespaces and, as root, an unprivileged uid; in a batch, workers forked by
  the zygote. Used wherever bubblewrap or another uid works.
- portable (`portable.py`): a spawned worker on a loopback connection, killed at its time limit, with the
  resource limits the OS allows. Used on macOS and Windows, and on Linux where neither works.

`grader.sandbox.detect()` says which applies here and which protections are missing; `Launcher` starts the
workers of one grading session with it. A process that grades again and again (a Jupyter kernel's `check()`,
`--watch`) keeps `KeptWorkers` (`kept.py`) from one grading to the next: a zygote, or a worker started ahead.
Nothing else in the grader knows how a worker runs.
"""
from dataclasses import dataclass, field

from grader.limits import Limits
from grader.output import PrintedOutput
from grader.sandbox import Sandbox

@dataclass
class Launcher:
    """Starts the workers of one grading session: on `device`, within `limits`, confined as `sandbox` says.

    `zygote` (a grader.zygote_client.ZygoteClient, Linux only) forks workers that have imported torch already;
    a zygote that stops answering is dropped, and workers start afresh from then on. `kept` (a
    grader.isolation.kept.KeptWorkers) gives workers ready ahead, where it has one for this session.
    """
    sandbox: Sandbox
    device: str = "cpu"
    limits: Limits = field(default_factory=Limits)
    zygote: object | None = None
    kept: object | None = None

    def start(self, printed: PrintedOutput, import_dir: str | None):
        """A running worker (a grader.isolation.channel.WorkerChannel) for a submission whose own modules are in
        `import_dir` (None for a single file). Raises OSError where no process can be started."""
        if self.kept is not None:
            worker = self.kept.take(self, printed, import_dir)
            if worker is not None:
                return worker
        return self.start_fresh(printed, import_dir)

    def finished(self, worker):
        """A worker whose grading ended well: kept for the next grading where this session keeps workers, else
        stopped."""
        if self.kept is not None:
            self.kept.give_back(worker)
        else:
            worker.stop()

    def start_fresh(self, printed: PrintedOutput, import_dir: str | None):
        """A worker started now, not kept: forked by the batch's zygote where there is one, else its own process."""
        if self.sandbox.backend == "portable":
            from grader.isolation.portable import PortableWorker

            return PortableWorker(self.device, printed, self.limits, import_dir)
        from grader.isolation.linux import ForkedWorker, WorkerProcess
        from grader.zygote_client import ZygoteError

        if self.zygote is not None and import_dir is None:  # a folder's modules need a worker of their own
            try:
                return ForkedWorker(self.zygote, self.device, printed, self.sandbox, self.limits)
            except ZygoteError:
                self.zygote = None
        return WorkerProcess(self.device, printed, self.sandbox, self.limits, import_dir)
