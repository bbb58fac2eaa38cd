"""Batch grading on a Dask cluster, the workers' side: the per-worker plugin and the task that grades a chunk.

Each Dask worker runs one thread (pytest and run_suites are not thread-safe). Its plugin keeps a grading
process (grading_process.py; Dask workers are daemonic, so no pool) and a zygote that forks the students'
workers. A stop is a stop: when the batch ends or is stopped, or its client is gone, the plugin kills both,
which ends a running chunk at once.
"""
import contextlib
from pathlib import Path

from distributed import WorkerPlugin, get_worker

STOPPED = "grader error, not the student's: the batch was stopped before this student was graded"


class GraderPlugin(WorkerPlugin):
    """Per Dask worker: the sandbox probed once, a zygote and a grading process started, all kept until the
    batch ends. `name` is the batch's (see cluster.connect); the batch's tasks have keys that start with it."""

    def __init__(self, name: str, sandbox: bool, device: str, students: int):
        """`students`: about how many students this worker will grade (see ZygoteServer)."""
        self.name, self.sandbox_wanted, self.device, self.students = name, sandbox, device, students
        self.worker = self.stack = self.grading = None
        self.zygote = self.zygote_path = self.zygote_note = None
        self.warning = None
        self.stopped = False

    def setup(self, worker):
        from grader.sandbox import detect
        from grader.scratch import remove_stale
        from grader.zygote_client import start_zygote

        remove_stale()  # the folders of tasks whose worker was killed on this machine
        sandbox = detect(self.sandbox_wanted)
        self.worker, self.warning = worker, sandbox.warning()
        self.stack = contextlib.ExitStack()
        self.zygote = start_zygote(self.stack, sandbox, self.device, self.students)
        self.zygote_path = self.zygote.path if self.zygote else None
        self._start_grading()  # after the zygote: on a stop the grading process is killed first

    def _start_grading(self):
        """Start the grading process. Only ever on the worker's event loop, as `setup` is: a process started with
        a parent-death signal dies with the thread that started it, and the loop's lasts as long as the worker."""
        from grader.batch.grading_process import GradingProcess

        self.grading = self.stack.enter_context(GradingProcess())

    async def _restart_grading(self):
        if not self.stopped:  # a stop on the loop may come between the death and this restart
            self._start_grading()

    def grade(self, entries: list[tuple[str, str, str]], options) -> dict:
        """Grade a chunk in the grading process: {"reports": [...]} or {"failed": why}. A grading process that
        died by itself fails its chunk, and another one grades the next."""
        from distributed.utils import sync

        if self.stopped:
            return {"failed": STOPPED}
        process = self.grading
        try:
            return process.grade(entries, options, self.zygote_path)
        except EOFError:
            if self.stopped:
                return {"failed": STOPPED}
            sync(self.worker.loop, self._restart_grading)
            return {"failed": f"grader error, not the student's: the grading process of a cluster worker ended "
                              f"(exit status {process.exit_status()}) while grading this student; a rerun regrades "
                              "them"}

    def warnings(self) -> str | None:
        """What this worker's batch output should say once: missing protections, and why its students'
        workers start afresh; asked after a chunk, when the zygote is running."""
        if self.zygote is not None and self.zygote_note is None and not self.stopped:
            from grader.zygote_client import slow_start_note

            self.zygote_note = slow_start_note(self.zygote.path) or ""
        return "; ".join(filter(None, (self.warning, self.zygote_note))) or None

    def transition(self, key, start, finish, **kwargs):
        # Dask lets a cancelled task run on. One of this batch's, cancelled while it runs (the batch was stopped,
        # or its client is gone), means the batch is over on this worker.
        if finish == "released" and start in ("executing", "long-running") and str(key).startswith(f"{self.name}-"):
            self.stop()

    def stop(self):
        """Kill the grading process, then the zygote, and with them every student worker; remove what they
        leave. Chunks of this batch that come later fail at once."""
        from grader.scratch import remove_stale

        self.stopped = True
        if self.stack is not None:
            self.stack.close()
            remove_stale()  # the folders of the killed grading process's workers

    def teardown(self, worker):
        self.stop()


def grade_task(chunk: list[tuple[str, str, tuple[bool, dict[str, bytes]]]], options, assignment: str, suites: str,
               plugin_name: str) -> dict:
    """On a Dask worker: grade a chunk of (label, student, (single file, files)) students with the client's
    BatchOptions, its assignment (the text) and this batch's plugin. Returns {"reports": [{"report": JSON report,
    "pytest_json": ...}]}, {"failed": why the grader could not grade the chunk} or {"refused": why this worker
    refuses}, with this worker's warning."""
    from dataclasses import replace

    from grader.package_files import grader_hash
    from grader.scratch import scratch_folder

    if grader_hash() != suites:
        return {"refused": f"the worker's grader differs from the client's (grader {grader_hash()}, client {suites}); "
                           "install the same version of the grader on every worker"}
    plugin = get_worker().plugins.get(plugin_name)
    if plugin is None or plugin.grading is None:
        return {"failed": "grader error, not the student's: the grader could not start on a cluster worker (see "
                          "its log); a rerun regrades them"}
    with scratch_folder("task") as folder:
        config = Path(folder) / "assignment.toml"
        config.write_text(assignment, encoding="utf-8")
        result = plugin.grade(_unpacked(Path(folder), chunk), replace(options, config=config))
    return {**result, "warning": plugin.warnings()}


def _unpacked(folder: Path, chunk) -> list[tuple[str, str, str]]:
    """(path, label, student) for each entry of the chunk, written under folder as it was unpacked: one file,
    or a folder of files."""
    entries = []
    for index, (label, student, (single_file, files)) in enumerate(chunk):
        root = folder / str(index)
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        entries.append((str(root / next(iter(files))) if single_file else str(root), label, student))
    return entries
