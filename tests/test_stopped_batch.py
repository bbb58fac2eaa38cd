"""A batch stopped by a signal to its main process alone leaves nothing running and nothing behind, and a
rerun completes the class (timeout, job schedulers and dropped ssh sessions signal only that process)."""
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, solution_source
from grader.scratch import maker
from process_tree import command_lines, descendants, grading, process_table, running

STUDENTS = ("ada", "bob", "cy", "dee")
SLOW_TOP_LEVEL = solution_source() + "\nimport time\ntime.sleep(2)  # a slow demo at the end of the file\n"


def described(pids: set[int]) -> list[str]:
    """Each process as pid, state and command line, for a failure's message."""
    table, commands = process_table(), command_lines(pids)
    return [f"{pid} ({table.get(pid, (0, '?'))[1]}) {commands.get(pid, '')[:160]}" for pid in sorted(pids)]


def left_behind(folders: set[str], family: set[int]) -> set[str]:
    """The folders made by one of the batch's processes, or by a process that has ended (its pid is in the
    folder's name: grader.scratch.maker). A folder of a process still running outside the batch (a test before
    this one, a kernel shutting down) is that process's own."""
    makers = {folder: maker(folder) for folder in folders}
    live = running(set(makers.values()) - {None})
    return {folder for folder, pid in makers.items() if pid in family or pid not in live}


def grader_folders() -> set[str]:
    """The grader's temporary folders (a worker's, a zygote's, a cluster task's) now present."""
    return {p.name for p in Path(tempfile.gettempdir()).glob("grader-*")}


def start_batch(submissions: Path, out: Path, parallelism: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out), *parallelism],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def grading_started(pids: set[int], zygotes: int) -> bool:
    """Whether students are being graded: a worker started on its own, or forked by one of the zygotes."""
    commands = command_lines(pids).values()
    return any("grader.worker" in c for c in commands) or sum("grader.zygote" in c for c in commands) > 2 * zygotes


STOPS = [pytest.param(stop, ["--jobs", "2"], 1, id=stop) for stop in ("SIGINT", "SIGTERM", "SIGHUP", "SIGKILL")]
CLUSTER_STOPS = [pytest.param(stop, ["--scheduler", "local:2"], 2, id=f"{stop}-cluster",
                              marks=pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                                       reason="Dask is the cluster extra: pip install -e '.[cluster]'"))
                 for stop in ("SIGINT", "SIGKILL")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
@pytest.mark.parametrize("stop, parallelism, zygotes", STOPS + CLUSTER_STOPS)
def test_a_batch_stopped_by_a_signal_leaves_nothing_running_and_a_rerun_completes_it(stop, parallelism, zygotes,
                                                                                      tmp_path):
    submissions, out = tmp_path / "class", tmp_path / "graded"
    submissions.mkdir()
    for student in STUDENTS:
        (submissions / f"{student}.py").write_text(SLOW_TOP_LEVEL)
    earlier_folders = grader_folders()
    batch = start_batch(submissions, out, parallelism)
    deadline = time.monotonic() + 120
    family = {batch.pid}  # every process the batch has had, not only those alive when it is stopped
    while time.monotonic() < deadline and not grading_started(descendants(batch.pid), zygotes):
        family |= descendants(batch.pid)
        time.sleep(0.2)
    time.sleep(1)
    family |= descendants(batch.pid)
    os.kill(batch.pid, getattr(signal, stop))
    batch.wait(timeout=60)
    # Every process of the batch is killed at once; the kernel may take a while on a loaded machine to tear down
    # the namespaces and memory of the zygote and its workers. One that never ends fails here.
    deadline = time.monotonic() + 30
    while running(family - {batch.pid}) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = running(family - {batch.pid})
    assert not survivors, f"still running after {stop}: {described(survivors)}"
    if stop != "SIGKILL":
        assert batch.returncode == 128 + getattr(signal, stop) or stop == "SIGINT" and batch.returncode == 130
        new = grader_folders() - earlier_folders
        left = left_behind(new, family)
        print(f"folders of running processes that are not the batch's: {sorted(new - left)}")
        assert not left, f"left behind: {sorted(left)}, made by {sorted({maker(f) for f in left} - {None})}"
        assert not (out / ".unpacked").exists()
        assert not list(out.glob("**/*.part"))
    complete = sorted(p.stem for p in (out / "reports").glob("*.json")) if (out / "reports").exists() else []
    pages = {p.stem for p in (out / "feedback").glob("*.html")}
    assert len(set(complete) - pages) <= 1, "each graded student's page is written with their report"

    rerun = subprocess.run([sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(complete)} unchanged and reused" in rerun.stdout
    assert sorted(p.stem for p in (out / "reports").glob("*.json")) == sorted(STUDENTS)
    assert (out / "grades.csv").read_text().count(",100.00,100.00,graded") == len(STUDENTS)
    assert not left_behind(grader_folders() - earlier_folders, family), "the rerun removes what the killed batch left"
    assert not (out / ".unpacked").exists() and not list(out.glob("**/*.part"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask is the cluster extra: pip install -e '.[cluster]'")
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_stopped_batch_ends_its_chunks_on_a_cluster_it_does_not_own_within_10_s(stop, tmp_path):
    """SIGTERM stops the batch, which cancels its chunks; after SIGKILL the scheduler sees its client gone and
    cancels them. Either way the workers live on, grade nothing and keep no folder of the batch, and the
    cluster grades the next batch."""
    from dask_cluster import external_cluster

    stopped, fine = tmp_path / "stopped", tmp_path / "fine"
    stopped.mkdir()
    fine.mkdir()
    for student in STUDENTS:  # each slower than the 10 s a stop may take
        (stopped / f"{student}.py").write_text(solution_source() + "\nimport time\ntime.sleep(30)\n")
    (fine / "ada.py").write_text(solution_source())
    with external_cluster(tmp_path / "cluster", workers=2) as cluster:
        workers = {worker.pid for worker in cluster.workers}
        batch = start_batch(stopped, tmp_path / "out", ["--scheduler", cluster.address])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not grading_started(set().union(*map(descendants, workers)), 2):
            time.sleep(0.2)
        time.sleep(1)
        os.kill(batch.pid, getattr(signal, stop))
        stopped_at = time.monotonic()
        batch.wait(timeout=60)
        while time.monotonic() < stopped_at + 10 and (grading(set().union(*map(descendants, workers)))
                                                      or list(cluster.tmp.glob("grader-*"))):
            time.sleep(0.1)
        assert not grading(set().union(*map(descendants, workers))), f"still grading 10 s after {stop}"
        assert not list(cluster.tmp.glob("grader-*")), "a stopped batch's folders stay on its workers"
        assert running(workers) == workers, "the workers themselves live on"

        after = subprocess.run([sys.executable, "-m", "grader", "batch", str(fine), "--out", str(tmp_path / "after"),
                                "--scheduler", cluster.address], cwd=ROOT, capture_output=True, text=True,
                               timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert after.returncode == 0, after.stderr
    assert (tmp_path / "after" / "grades.csv").read_text().count(",100.00,100.00,graded") == 1
