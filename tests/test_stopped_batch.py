"""A batch stopped by a signal to its main process alone leaves nothing running and nothing behind, and a
rerun completes the class (timeout, job schedulers and dropped ssh sessions signal only that process)."""
import contextlib
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

STUDENTS = ("ada", "bob", "cy", "dee")
SLOW_TOP_LEVEL = solution_source() + "\nimport time\ntime.sleep(2)  # a slow demo at the end of the file\n"


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(stat[1]), stat[0])
    return table


def descendants(root: int) -> set[int]:
    table = process_table()
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in found]
        found.update(children)
        todo.extend(children)
    return found


def running(pids: set[int]) -> set[int]:
    table = process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def grader_folders() -> set[str]:
    """The grader's temporary folders (a worker's, a zygote's, a cluster task's) now present."""
    return {p.name for p in Path(tempfile.gettempdir()).glob("grader-*")}


def start_batch(submissions: Path, out: Path, parallelism: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out), *parallelism],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def grading_started(pids: set[int], zygotes: int) -> bool:
    """Whether students are being graded: a worker started on its own, or forked by one of the zygotes."""
    commands = []
    for pid in running(pids):
        with contextlib.suppress(OSError):
            commands.append(Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))
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
    while time.monotonic() < deadline and not grading_started(descendants(batch.pid), zygotes):
        time.sleep(0.2)
    time.sleep(1)
    family = descendants(batch.pid) | {batch.pid}
    os.kill(batch.pid, getattr(signal, stop))
    batch.wait(timeout=60)
    deadline = time.monotonic() + 5
    while running(family - {batch.pid}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(family - {batch.pid}), f"still running after {stop}: {sorted(running(family))}"
    if stop != "SIGKILL":
        assert batch.returncode == 128 + getattr(signal, stop) or stop == "SIGINT" and batch.returncode == 130
        assert not grader_folders() - earlier_folders and not (out / ".unpacked").exists()
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
    assert not grader_folders() - earlier_folders, "the rerun removes what the killed batch left"
    assert not (out / ".unpacked").exists() and not list(out.glob("**/*.part"))
