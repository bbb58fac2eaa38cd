"""The instant checks, timed for benchmarks/bench.py --instant: a Jupyter check() after the first, the complete
handout notebook run from top to bottom, and a --watch re-grade after a save, on each isolation backend.

Every time is paired with a bare `python -c "import torch"` run just before it. Before each timed check or
save the benchmark pauses (PAUSE seconds, a student reading the last report), so that a worker started ahead
(the portable backend, where the last check's worker cannot serve again) has imported torch, as it has when a
person checks.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import ROOT, TORCH_IMPORT, IMPORT_TIMES, Measurement, run

sys.path.insert(0, str(ROOT / "tests"))
from notebook_submissions import filled  # noqa: E402 - found through the line above

PAUSE = 3.0  # seconds between a report and the next check or save
# How each backend is chosen: an environment for the kernel or the watcher, and what the kernel runs first.
LINUX_WITHOUT_BWRAP = ("import grader.pipeline, grader.sandbox\n"
                       "grader.pipeline.detect = lambda enabled=True: grader.sandbox.detect(False)  # as --no-sandbox")
BACKENDS = {"linux, bubblewrap": ({}, "", []),
            "linux, no bubblewrap": ({}, LINUX_WITHOUT_BWRAP, ["--no-sandbox"]),
            "portable": ({"GRADER_ISOLATION": "portable"}, "", [])}
WATCHING = "graded again at each save"


def environment(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_ISOLATION")}
    # The kernelspec "python3" of this environment (its `python` is sys.executable) over a user's.
    return {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "JUPYTER_PREFER_ENV_PATH": "1", **extra}


def paired(seconds_of, repeats: int) -> Measurement:
    """Median seconds and median ratio of `repeats` runs of seconds_of(), each after a bare torch import."""
    seconds, ratios = [], []
    for _ in range(repeats):
        time.sleep(PAUSE)
        baseline = run(TORCH_IMPORT)[0]
        IMPORT_TIMES.append(baseline)
        elapsed = seconds_of()
        seconds.append(elapsed)
        ratios.append(elapsed / baseline)
    return Measurement(statistics.median(seconds), statistics.median(ratios), None)


def kernel_checks(release: Path, backend: str, repeats: int) -> Measurement:
    """check() of every concept, after the first, in a kernel that has run the completed exercises."""
    from jupyter_client.manager import start_new_kernel

    extra, first_cell, _ = BACKENDS[backend]
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(release), env=environment(extra))
    try:
        def execute(code: str):
            reply = client.execute_interactive(code, timeout=600, output_hook=lambda message: None)
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"the kernel failed: {code[:80]!r}")

        execute(f"import torch\n{first_cell}\n" + (ROOT / "solutions" / "attention.py").read_text())
        execute("from grader.in_notebook import check\ncheck()")
        rounds = iter(range(repeats))

        def one_check() -> float:
            execute(f"checked_round = {next(rounds)}")  # a new kernel state: graded again, not from the cache
            started = time.perf_counter()
            execute("check()")
            return time.perf_counter() - started

        return paired(one_check, repeats)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def completed_notebooks(release: Path) -> tuple[Path, Path]:
    """The release's notebook completed with the solutions, and the same notebook with only its torch import."""
    complete = filled(json.loads((release / "attention.ipynb").read_text()), {})
    torch_only = {**complete, "cells": [c for c in complete["cells"] if c.get("id") == "setup"]}
    paths = release / "complete.ipynb", release / "torch_only.ipynb"
    for path, notebook in zip(paths, (complete, torch_only)):
        path.write_text(json.dumps(notebook))
    return paths


def notebook_runs(release: Path, backend: str, repeats: int) -> tuple[Measurement, float, float]:
    """(the complete notebook's extra time over the torch-only one, as seconds and in torch imports; the two
    notebooks' median seconds), each pair run back to back after a bare torch import."""
    complete, torch_only = completed_notebooks(release)
    env = environment(BACKENDS[backend][0])

    def execute(notebook: Path) -> float:
        return run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output",
                    f"run-{notebook.name}", str(notebook)], cwd=release, env=env)[0]

    extras, ratios, alone, whole = [], [], [], []
    for _ in range(repeats):
        baseline = run(TORCH_IMPORT)[0]
        IMPORT_TIMES.append(baseline)
        alone.append(execute(torch_only))
        whole.append(execute(complete))
        extras.append(whole[-1] - alone[-1])
        ratios.append(extras[-1] / baseline)
    return (Measurement(statistics.median(extras), statistics.median(ratios), None), statistics.median(alone),
            statistics.median(whole))


def watch_regrades(release: Path, backend: str, repeats: int) -> Measurement:
    """A save of the exercises' file, to the end of the report that --watch prints for it."""
    extra, _, options = BACKENDS[backend]
    exercise = release / "exercises" / "attention.py"
    original = exercise.read_text()
    watcher = subprocess.Popen([sys.executable, "-m", "grader", "--watch", "exercises/attention.py", *options],
                               cwd=release, env=environment(extra), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)

    def reported():
        for line in watcher.stdout:
            if WATCHING in line:
                return
        raise SystemExit("the watcher ended")

    try:
        reported()
        rounds = iter(range(repeats))

        def one_save() -> float:
            started = time.perf_counter()
            exercise.write_text(original + f"\n# saved again ({next(rounds)})\n")
            reported()
            return time.perf_counter() - started

        return paired(one_save, repeats)
    finally:
        watcher.kill()
        watcher.wait()
        exercise.write_text(original)


def instant_rows(release: Path, repeats: int, backends=tuple(BACKENDS),
                 notebook_backends=("linux, bubblewrap", "portable")):
    """The table's rows for the instant checks, in a student release whose exercises are complete."""
    rows = []
    for backend in backends:
        rows.append(kernel_checks(release, backend, repeats).row(
            f"`check()` in Jupyter after the first, every concept, {backend}"))
    for backend in backends:
        rows.append(watch_regrades(release, backend, repeats).row(
            f"`--watch` re-grade, from a save to its report, {backend}"))
    for backend in notebook_backends:
        extra, alone, whole = notebook_runs(release, backend, repeats)
        what, seconds, memory, ratio = extra.row(
            f"the completed handout notebook run by nbconvert, its time over the torch-only notebook's, {backend}")
        rows.append((what, seconds, memory, f"{ratio} ({whole:.1f} s against {alone:.1f} s)"))
    return rows
