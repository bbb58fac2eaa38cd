"""Batch grading on a Dask cluster: the same grades as a local batch, on real worker processes."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask is the cluster extra: pip install -e '.[cluster]'")

import psutil  # noqa: E402 - a dependency of distributed

from conftest import ROOT, run_cli, solution_source  # noqa: E402
from dask_cluster import external_cluster  # noqa: E402
from edited_submissions import MISTAKES, apply_edits  # noqa: E402
from grader.batch import BatchOptions, cluster  # noqa: E402
from grader.batch.cluster_worker import grade_task  # noqa: E402
from grader.errors import UsageError  # noqa: E402


def make_class(folder, n_mistaken=3):
    folder.mkdir()
    (folder / "ada.py").write_text(solution_source())
    (folder / "broken.py").write_text("def attention_scores(:\n")
    with zipfile.ZipFile(folder / "zed.zip", "w") as archive:
        archive.writestr("exercises/attention.py", apply_edits(solution_source(), MISTAKES["mask_wrong_triangle"]))
    names = list(MISTAKES)[:n_mistaken]
    for name in names:
        (folder / f"{name}.py").write_text(apply_edits(solution_source(), MISTAKES[name]))
    return folder


def test_a_class_graded_on_the_cluster_gets_byte_identical_grades(tmp_path):
    klass = make_class(tmp_path / "class")
    local = run_cli("batch", klass, "--out", tmp_path / "local", "--jobs", "2", timeout=900)
    on_cluster = run_cli("batch", klass, "--out", tmp_path / "cluster", "--scheduler", "local:2", timeout=900)
    assert local.returncode == 0 and on_cluster.returncode == 0, on_cluster.stderr
    assert (tmp_path / "cluster" / "grades.csv").read_bytes() == (tmp_path / "local" / "grades.csv").read_bytes()
    assert (tmp_path / "cluster" / "feedback" / "zed.html").is_file()
    rerun = run_cli("batch", klass, "--out", tmp_path / "cluster", "--scheduler", "local:2", timeout=900)
    assert "6 unchanged and reused" in rerun.stdout  # resumable by hash, as locally


def dask_workers(pid: int) -> list:
    """The batch's Dask worker processes (LocalCluster spawns them; their nannies live in the batch itself)."""
    found = []
    for process in psutil.Process(pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:  # ended meanwhile
            continue
    return found


def test_a_worker_killed_mid_batch_costs_no_student_and_doubles_none(tmp_path):
    klass = make_class(tmp_path / "class", n_mistaken=10)
    out = tmp_path / "out"
    local = run_cli("batch", klass, "--out", tmp_path / "local", timeout=900)
    assert local.returncode == 0, local.stderr
    batch = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(klass), "--out", str(out), "--scheduler",
                              "local:2"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and batch.poll() is None:
        reports = list((out / "reports").glob("*.json")) if (out / "reports").is_dir() else []
        workers = dask_workers(batch.pid)
        if reports and workers:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)  # a Dask worker lost mid-batch: its nanny restarts it
        time.sleep(0.05)
    stdout, stderr = batch.communicate(timeout=600)
    assert batch.returncode == 0, stderr
    assert killed is not None, "no worker to kill: the batch finished first"
    lines = (out / "grades.csv").read_text().splitlines()
    assert len(lines) == 1 + len(list(klass.iterdir())) and len(set(lines)) == len(lines)  # each student once
    assert (out / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()
    assert not list(Path(tempfile.gettempdir()).glob(f"grader-*-{killed}-*")), "the killed worker's task folder stays"


def test_cluster_options_are_checked_before_grading(tmp_path):
    klass = make_class(tmp_path / "class", n_mistaken=0)
    for args, message in [(["--scheduler", "local:2", "--jobs", "2"], "the cluster's workers set the parallelism"),
                          (["--scheduler", "local:none"], "local:N takes a number"),
                          (["--scheduler", "local:0"], "local:N takes a number"),
                          (["--scheduler", "local:2", "--cluster-wait", "0"],
                           "--cluster-wait must be a number of seconds above 0, not 0"),
                          (["--scheduler", "local:2", "--cluster-start-wait", "-5"],
                           "--cluster-start-wait must be a number of seconds above 0, not -5"),
                          (["--scheduler", "tls://127.0.0.1:1"], "TLS settings go in Dask's configuration")]:
        result = run_cli("batch", klass, "--out", tmp_path / "out", *args)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_plain_tcp_scheduler_off_this_machine_is_warned_about():
    assert "tls://" in cluster.scheduler_warning("tcp://10.0.0.5:8786")
    assert cluster.scheduler_warning("10.0.0.5:8786") is not None
    for quiet in ("tcp://127.0.0.1:8786", "tcp://localhost:8786", "tls://10.0.0.5:8786", "local:2"):
        assert cluster.scheduler_warning(quiet) is None


def test_a_worker_with_another_grader_refuses_and_large_entries_are_refused(tmp_path):
    refused = grade_task([], BatchOptions(timeout=60, memory_gb=1.0), "", "not-this-grader", "attention-grader-x")
    assert "differs from the client's" in refused["refused"]
    big = tmp_path / "big"
    big.mkdir()
    (big / "attention.py").write_text(solution_source())
    (big / "data.bin").write_bytes(b"\0" * (cluster.MAX_ENTRY_BYTES + 1))
    with pytest.raises(ValueError, match="a cluster task carries at most 20 MB"):
        cluster.pack(big)
    assert cluster.pack(big / "attention.py") == (True, {"attention.py": solution_source().encode()})
    (big / "data.bin").unlink()
    (big / "secret").symlink_to(ROOT / "grader" / "catalogue.toml")  # the client's file, not the student's
    with pytest.raises(ValueError, match="symbolic link"):
        cluster.pack(big)
    (big / "secret").unlink()
    (big / "notes.md").write_text("mine")
    assert cluster.pack(big) == (False, {"attention.py": solution_source().encode(), "notes.md": b"mine"})


def test_without_dask_the_option_says_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(UsageError, match=r"attention-exercises\[cluster\]"):
        cluster.require()


def test_a_cluster_whose_workers_run_several_threads_is_refused(tmp_path):
    from distributed import LocalCluster

    klass = make_class(tmp_path / "class", n_mistaken=0)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as threaded:
        result = run_cli("batch", klass, "--out", tmp_path / "out", "--scheduler", threaded.scheduler_address)
    assert result.returncode == 2 and "runs 2 threads" in result.stderr and "--nthreads 1" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def reports(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "reports").glob("*.json")} if out.is_dir() else {}


def test_a_batch_waits_for_the_first_worker_saying_so_as_long_as_it_may(tmp_path):
    klass = make_class(tmp_path / "class", n_mistaken=0)
    with external_cluster(tmp_path / "cluster", workers=0) as cluster:  # its jobs still queued
        started = time.monotonic()
        gave_up = run_cli("batch", klass, "--out", tmp_path / "out", "--scheduler", cluster.address,
                          "--cluster-start-wait", "2")
        assert gave_up.returncode == 2 and 2 <= time.monotonic() - started < 60, gave_up.stderr
        waited, error = gave_up.stderr.splitlines()
        assert "waiting for the first worker" in waited and "at most 2 s: --cluster-start-wait" in waited
        assert error.startswith(f"error: no worker joined the Dask cluster at {cluster.address} within 2 s")

        batch = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(klass), "--out", str(tmp_path / "out"),
                                  "--scheduler", cluster.address], cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(5)  # longer than a job may take to start on a quiet cluster
        assert batch.poll() is None, batch.communicate()
        cluster.add_worker()
        stdout, stderr = batch.communicate(timeout=300)
    assert batch.returncode == 0 and "waiting for the first worker" in stderr, stderr
    assert "3 graded" in stdout


def test_a_batch_that_loses_every_worker_says_so_stops_and_a_rerun_grades_exactly_the_rest(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    students = {f"s{i}" for i in range(8)}
    for student in students:  # slow enough to lose the worker mid-batch
        (klass / f"{student}.py").write_text(solution_source() + "\nimport time\ntime.sleep(1)\n")
    out = tmp_path / "out"
    with external_cluster(tmp_path / "cluster", workers=1) as cluster:
        (address,) = cluster.worker_addresses()
        batch = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(klass), "--out", str(out),
                                  "--scheduler", cluster.address, "--cluster-wait", "3"], cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not reports(out) and time.monotonic() < deadline and batch.poll() is None:
            time.sleep(0.1)
        cluster.workers[0].kill()  # its job cancelled: no worker left, and none coming back
        lost_at = time.monotonic()
        stdout, stderr = batch.communicate(timeout=120)
        stopped_after = time.monotonic() - lost_at
        assert batch.returncode == 0, stderr
        assert 3 <= stopped_after < 20, f"stopped {stopped_after:.1f} s after the last worker was lost"
        (said,) = [line for line in stderr.splitlines() if "no worker of the Dask cluster" in line]
        assert "for 3 s (--cluster-wait)" in said and address in said, said
        graded = {s for s, report in reports(out).items() if report["status"] != "error"}
        faults = {s for s, report in reports(out).items() if report["grader_fault"]}
        assert graded and faults and graded | faults == students and not graded & faults, reports(out)
        assert f"{len(faults)} with errors" in stdout

        cluster.add_worker()
        rerun = run_cli("batch", klass, "--out", out, "--scheduler", cluster.address, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(faults)} graded, {len(graded)} unchanged and reused, 0 with errors" in rerun.stdout
    assert all(report["status"] == "graded" for report in reports(out).values())


def test_a_grading_process_that_dies_costs_its_chunk_only_and_another_grades_the_rest(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    students = {f"s{i}" for i in range(8)}
    for student in students:
        (klass / f"{student}.py").write_text(solution_source() + "\nimport time\ntime.sleep(1)\n")
    out = tmp_path / "out"
    with external_cluster(tmp_path / "cluster", workers=1) as cluster:
        batch = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(klass), "--out", str(out),
                                  "--scheduler", cluster.address], cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        killed, deadline = None, time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and batch.poll() is None:
            found = [p for p in psutil.Process(cluster.workers[0].pid).children()
                     if "grader.batch.grading_process" in " ".join(p.cmdline())]
            if found and reports(out):  # mid-batch, as the OOM killer would
                killed = found[0].pid
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
        stdout, stderr = batch.communicate(timeout=300)
    assert killed is not None and batch.returncode == 0, stderr
    faults = {s for s, report in reports(out).items() if report["grader_fault"]}
    assert 1 <= len(faults) <= 2, reports(out)  # one chunk's students (of 2 at most), and no others
    assert all("grading process of a cluster worker ended" in reports(out)[s]["error"] for s in faults)
    assert {s for s, report in reports(out).items() if report["status"] == "graded"} == students - faults
