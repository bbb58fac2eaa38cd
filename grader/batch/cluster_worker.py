"""Batch grading on a Dask cluster, the workers' side: the per-worker plugin and the task that grades a chunk.

Each Dask worker runs one thread (pytest and run_suites are not thread-safe) and grades in its own process
(Dask workers are daemonic: no pool), with student workers forked from the zygote its plugin starts.
"""
import contextlib
import importlib
from pathlib import Path

from distributed import WorkerPlugin, get_worker


class GraderPlugin(WorkerPlugin):
    """Per Dask worker: the sandbox probed once and a zygote started, both kept until the batch ends."""

    name = "attention-grader"

    def __init__(self, sandbox: bool, device: str, students: int):
        """`students`: about how many students this worker will grade (see ZygoteServer)."""
        self.sandbox_wanted, self.device, self.students = sandbox, device, students
        self.stack = None
        self.zygote = self.zygote_path = self.zygote_note = None
        self.warning = None

    def setup(self, worker):
        importlib.import_module("grader.batch.job")  # torch, pytest and the grader, imported once per worker
        from grader.batch.run import _start_zygote
        from grader.sandbox import detect
        from grader.scratch import remove_stale

        remove_stale()  # the folders of tasks whose worker was killed on this machine
        sandbox = detect(self.sandbox_wanted)
        self.warning = sandbox.warning()
        self.stack = contextlib.ExitStack()
        self.zygote = _start_zygote(self.stack, sandbox, self.device, self.students)
        self.zygote_path = self.zygote.path if self.zygote else None

    def warnings(self) -> str | None:
        """What this worker's batch output should say once: missing protections, and why its students'
        workers start afresh; asked after a chunk, when the zygote is running."""
        if self.zygote is not None and self.zygote_note is None:
            from grader.zygote_client import slow_start_note

            self.zygote_note = slow_start_note(self.zygote.path) or ""
        return "; ".join(filter(None, (self.warning, self.zygote_note))) or None

    def teardown(self, worker):
        if self.stack is not None:
            self.stack.close()


def grade_task(chunk: list[tuple[str, tuple[bool, dict[str, bytes]]]], grading: tuple, assignment: str, suites: str,
               plugin_name: str) -> dict:
    """On a Dask worker: grade a chunk of (label, (single file, files)) students with the client's assignment
    (its text) and this batch's plugin; returns their JSON reports (a string for a student that could not be
    graded), or why this worker refuses."""
    from grader.platforms.bundle import grader_hash
    from grader.scratch import scratch_folder

    if grader_hash() != suites:
        return {"refused": f"the worker's grader differs from the client's (grader {grader_hash()}, client {suites}); "
                           "install the same version of the grader on every worker"}
    plugin = get_worker().plugins.get(plugin_name)
    try:
        with scratch_folder("task") as folder:
            reports = _grade(Path(folder), chunk, grading, assignment, plugin.zygote_path if plugin else None)
    except Exception as exc:  # noqa: BLE001 - the task's failure is each student's error report, not a lost task
        reports = [f"grader error, not the student's: grading failed on the cluster ({type(exc).__name__}: {exc})"
                   ] * len(chunk)
    return {"reports": reports, "warning": plugin.warnings() if plugin else "the batch's plugin is missing on a worker"}


def _grade(folder: Path, chunk, grading, assignment: str, zygote_path: str | None) -> list:
    from grader.batch.job import grade_chunk

    config = folder / "assignment.toml"
    config.write_text(assignment, encoding="utf-8")
    device, timeout, _, sandbox, memory_gb, pytest_json = grading
    entries = []
    for index, (label, (single_file, files)) in enumerate(chunk):
        root = folder / str(index)  # each entry as it was unpacked: one file, or a folder of files
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        entries.append((str(root / next(iter(files))) if single_file else str(root), label))
    return grade_chunk(entries, device, timeout, str(config), sandbox, memory_gb, pytest_json, zygote_path)
