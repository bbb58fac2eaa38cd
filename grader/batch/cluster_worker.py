"""Batch grading on a Dask cluster, the workers' side: the per-worker plugin and the task that grades a chunk.

Each Dask worker runs one thread (pytest and run_suites are not thread-safe) and grades in its own process
(Dask workers are daemonic: no pool), with student workers forked from the zygote its plugin starts.
"""
import contextlib
import importlib
import tempfile
from pathlib import Path

from distributed import WorkerPlugin, get_worker


class GraderPlugin(WorkerPlugin):
    """Per Dask worker: the sandbox probed once and a zygote started, both kept until the batch ends."""

    name = "attention-grader"

    def __init__(self, sandbox: bool, device: str):
        self.sandbox_wanted, self.device = sandbox, device
        self.stack = None
        self.zygote_path = None
        self.warning = None

    def setup(self, worker):
        importlib.import_module("grader.batch.job")  # torch, pytest and the grader, imported once per worker
        from grader.batch.run import _start_zygote
        from grader.sandbox import detect

        sandbox = detect(self.sandbox_wanted)
        self.warning = sandbox.warning()
        self.stack = contextlib.ExitStack()
        zygote = _start_zygote(self.stack, sandbox, self.device)
        self.zygote_path = zygote.path if zygote else None

    def teardown(self, worker):
        if self.stack is not None:
            self.stack.close()


def grade_task(chunk: list[tuple[str, dict[str, bytes]]], grading: tuple, assignment: str, suites: str) -> dict:
    """On a Dask worker: grade a chunk of (label, files) students with the client's assignment (its text);
    returns their JSON reports, or why this worker refuses."""
    from grader.batch.job import grade_chunk
    from grader.platforms.bundle import grader_hash

    if grader_hash() != suites:
        return {"refused": f"the worker's grader differs from the client's (grader {grader_hash()}, client {suites}); "
                           "install the same version of the grader on every worker"}
    plugin = get_worker().plugins.get(GraderPlugin.name)
    with tempfile.TemporaryDirectory(prefix="grader-task-") as folder:
        config = Path(folder) / "assignment.toml"
        config.write_text(assignment, encoding="utf-8")
        device, timeout, _, sandbox, memory_gb, pytest_json = grading
        entries = []
        for index, (label, files) in enumerate(chunk):
            root = Path(folder) / str(index)
            for name, content in files.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(content)
            only = list(files)[0] if len(files) == 1 and "/" not in list(files)[0] else None
            entries.append((str(root / only) if only else str(root), label))
        reports = grade_chunk(entries, device, timeout, str(config), sandbox, memory_gb, pytest_json,
                              plugin.zygote_path if plugin else None)
    return {"reports": reports, "warning": plugin.warning if plugin else None}
