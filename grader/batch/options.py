"""How a batch grades: one frozen object of options, passed by name from the command line to the grading
processes and to a cluster's workers, and how a cluster's class is split into pytest sessions (on this machine
each grading process keeps one session: grader.batch.job)."""
from dataclasses import dataclass
from pathlib import Path

from grader.catalogue import ASSIGNMENT_FILE, Catalogue, load as load_catalogue
from grader.errors import UsageError
from grader.pipeline import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, check_options, worker_limits

MAX_CHUNK = 16  # students per pytest session on a cluster


@dataclass(frozen=True)
class BatchOptions:
    """What every student of a batch is graded with, and where."""
    device: str = "cpu"
    timeout: float = DEFAULT_TIMEOUT  # seconds of wall clock per student
    config: Path = ASSIGNMENT_FILE  # the assignment file: concepts and points
    sandbox: bool = True  # bubblewrap where it works
    memory_gb: float = DEFAULT_MEMORY_GB
    pytest_json: bool = False  # also write reports/<student>.pytest.json
    jobs: int | None = None  # grading processes at once (default: the cores); not with a scheduler
    scheduler: str | None = None  # a Dask scheduler's address, or local:N
    cluster_start_wait: float = 600.0  # seconds to wait for a cluster's first worker (jobs can stay queued long)
    cluster_wait: float = 120.0  # seconds mid-batch without any worker before the batch stops

    def validated(self) -> Catalogue:
        """The assignment's catalogue; raises UsageError for a bad option before anything is graded."""
        catalogue = load_catalogue(Path(self.config))
        check_options(catalogue, self.device, (), self.timeout)
        worker_limits(self.timeout, self.memory_gb)  # validates memory_gb
        if self.pytest_json:
            from grader.feedback.pytest_json import require
            require()
        if self.jobs is not None and self.scheduler is not None:
            raise UsageError("--jobs and --scheduler do not go together: the cluster's workers set the parallelism")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {self.jobs}")
        for option, seconds in (("--cluster-start-wait", self.cluster_start_wait),
                                ("--cluster-wait", self.cluster_wait)):
            if not seconds > 0:
                raise UsageError(f"{option} must be a number of seconds above 0, not {seconds:g}")
        return catalogue

    def grading_fields(self) -> dict:
        """What a student's grade depends on (a saved report made otherwise is graded again): not where it runs."""
        return {"device": self.device, "timeout": self.timeout, "config": Path(self.config).read_text(encoding="utf-8"),
                "sandbox": self.sandbox, "memory_gb": self.memory_gb, "pytest_json": self.pytest_json}


def chunk_sizes(students: int, jobs: int) -> list[int]:
    """Students per pytest session on a cluster of `jobs` threads, in the order the sessions are handed out:
    enough to spread a session's cost, few enough to show progress, and, once a session would be more than a
    thread's share of what is left, that share: the threads then finish together instead of one waiting out
    another's last full session (the last session has one student)."""
    first = max(1, min(MAX_CHUNK, -(-students // (jobs * 4))))
    sizes, left = [], students
    while left:
        size = first if jobs == 1 else max(1, min(first, -(-left // jobs)))
        sizes.append(min(size, left))
        left -= sizes[-1]
    return sizes


def split_into_chunks(items: list, jobs: int) -> list[list]:
    """items split into pytest sessions of chunk_sizes(len(items), jobs), in order."""
    start, split = 0, []
    for size in chunk_sizes(len(items), jobs):
        split.append(items[start:start + size])
        start += size
    return split
