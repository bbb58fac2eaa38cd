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
        from grader.sandbox import detect
        from grader.scratch import remove_stale
        from grader.zygote_client import start_zygote

        remove_stale()  # the folders of tasks whose worker was killed on this machine
        sandbox = detect(self.sandbox_wanted)
        self.warning = sandbox.warning()
        self.stack = contextlib.ExitStack()
        self.zygote = start_zygote(self.stack, sandbox, self.device, self.students)
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


def grade_task(chunk: list[tuple[str, str, tuple[bool, dict[str, bytes]]]], options, assignment: str, suites: str,
               plugin_name: str) -> dict:
    """On a Dask worker: grade a chunk of (label, student, (single file, files)) students with the client's
    BatchOptions, its assignment (the text) and this batch's plugin. Returns {"reports": [{"report": JSON report,
    "pytest_json": ...}]}, {"failed": why the grader could not grade the chunk} or {"refused": why this worker
    refuses}, with this worker's warning."""
    from grader.package_files import grader_hash
    from grader.scratch import scratch_folder

    if grader_hash() != suites:
        return {"refused": f"the worker's grader differs from the client's (grader {grader_hash()}, client {suites}); "
                           "install the same version of the grader on every worker"}
    plugin = get_worker().plugins.get(plugin_name)
    try:
        with scratch_folder("task") as folder:
            reports = _grade(Path(folder), chunk, options, assignment, plugin.zygote_path if plugin else None)
        result = {"reports": [{"report": report.to_json(), "pytest_json": report.pytest_json} for report in reports]}
    except Exception as exc:  # noqa: BLE001 - the task's failure is each student's error report, not a lost task
        result = {"failed": f"grader error, not the student's: grading failed on the cluster "
                            f"({type(exc).__name__}: {exc})"}
    return {**result, "warning": plugin.warnings() if plugin else "the batch's plugin is missing on a worker"}


def _grade(folder: Path, chunk, options, assignment: str, zygote_path: str | None) -> list:
    from dataclasses import replace

    from grader.batch.job import grade_chunk

    config = folder / "assignment.toml"
    config.write_text(assignment, encoding="utf-8")
    entries = []
    for index, (label, student, (single_file, files)) in enumerate(chunk):
        root = folder / str(index)  # each entry as it was unpacked: one file, or a folder of files
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        entries.append((str(root / next(iter(files))) if single_file else str(root), label, student))
    return grade_chunk(entries, replace(options, config=config), zygote_path)
