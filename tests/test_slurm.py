"""The README's SLURM recipe on a real single-node SLURM (tests/single_node_slurm.py): TLS with a CA of the
test's own, workers that are SLURM jobs, and a class graded as a local batch grades it, through a job cancelled
mid-batch, every job cancelled, and a stop. The tests share one SLURM and run in order."""
import copy
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, solution_source
from edited_submissions import MISTAKES, apply_edits
from process_tree import descendants, grading, running
from single_node_slurm import SingleNodeSlurm, why_not

pytestmark = [pytest.mark.skipif(why_not() is not None, reason=why_not() or ""),
              pytest.mark.skipif(importlib.util.find_spec("dask_jobqueue") is None,
                                 reason="dask-jobqueue is in the cluster extra: pip install -e '.[cluster]'")]

CLASS_SIZE = 40
JOBS = 2  # of one single-threaded worker each: one job can be cancelled while the other grades


def load_recipe():
    spec = importlib.util.spec_from_file_location("slurm_batch", ROOT / "scripts" / "slurm_batch.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


@pytest.fixture(scope="module")
def slurm():
    """A started single-node SLURM, its folder short for the zygote's socket path; all of it ended afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="slurm-"))
    cluster = SingleNodeSlurm(folder)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)  # for dask-jobqueue's sbatch, squeue and scancel
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if previous is None:
            del os.environ["SLURM_CONF"]
        else:
            os.environ["SLURM_CONF"] = previous
        subprocess.run(["rm", "-rf", str(folder)])


@pytest.fixture(scope="module")
def tls(slurm):
    """The README's certificates (scripts/dask_tls.sh): the folder of their distributed.yaml."""
    folder = slurm.folder / "tls"
    subprocess.run(["bash", str(ROOT / "scripts" / "dask_tls.sh"), str(folder)], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A class of CLASS_SIZE, every other student with a mistake, and its grades.csv from a local batch."""
    root = tmp_path_factory.mktemp("slurm-class")
    folder = root / "class"
    folder.mkdir()
    mistakes = list(MISTAKES)
    for i in range(CLASS_SIZE):
        mistake = MISTAKES[mistakes[i % len(mistakes)]] if i % 2 else []
        (folder / f"s{i:02d}.py").write_text(apply_edits(solution_source(), mistake))
    local = run_cli("batch", folder, "--out", root / "local", "--jobs", "2", timeout=600)
    assert local.returncode == 0, local.stderr
    return folder, (root / "local" / "grades.csv").read_bytes()


@pytest.fixture(scope="module")
def cluster(slurm, tls):
    """The recipe's SLURMCluster, held by this process as a live session: JOBS jobs of one worker, whose TMPDIR
    the tests look into."""
    import dask
    from distributed import Client

    jobs_tmp = slurm.folder / "tmp"
    jobs_tmp.mkdir()
    readme_config = dask.config.collect(paths=[str(tls)], env={})  # as ~/.config/dask/distributed.yaml would be
    with dask.config.set(dask.config.update(copy.deepcopy(dask.config.config), readme_config)):
        with load_recipe().slurm_cluster(JOBS, 1, node_memory_mb(slurm) // JOBS, "00:30:00",
                                         log_directory=str(slurm.folder / "logs"),
                                         local_directory=str(slurm.folder / "dask"),
                                         job_script_prologue=[f"export TMPDIR={jobs_tmp}"]) as recipe_cluster:
            with Client(recipe_cluster) as client:
                client.wait_for_workers(JOBS, timeout=120)
                recipe_cluster.client, recipe_cluster.jobs_tmp = client, jobs_tmp
                yield recipe_cluster


def node_memory_mb(slurm) -> int:
    return int(slurm.run("sinfo", "--noheader", "--format", "%m").stdout.split()[0])


def batch_env(tls) -> dict:
    """The client's side of the README's TLS: Dask's configuration, here from DASK_CONFIG."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "DASK_CONFIG": str(tls)}


def start_batch(klass_dir, out, address, tls, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "batch", str(klass_dir), "--out", str(out),
                             "--scheduler", address, *args], cwd=ROOT, env=batch_env(tls), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def reports(out: Path) -> list[Path]:
    return list((out / "reports").glob("*.json")) if (out / "reports").is_dir() else []


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} after {seconds} s"
        time.sleep(0.1)


def workers(cluster, count: int) -> dict[str, int]:
    """Worker address -> its pid, once `count` workers are connected."""
    cluster.client.wait_for_workers(count, timeout=180)
    return cluster.client.run(os.getpid)


def test_the_recipe_script_grades_the_class_as_a_local_batch_does(slurm, tls, klass, tmp_path):
    """scripts/slurm_batch.py as an instructor runs it: sized from sinfo (one job, a worker per core), TLS from
    the configuration, the batch in its own process, the jobs ended with it."""
    folder, local_grades = klass
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "slurm_batch.py"), "--nodes", "1",
                             "--walltime", "00:30:00", "--", str(folder), "--out", str(tmp_path / "out")],
                            cwd=tmp_path, env={**batch_env(tls), "TMPDIR": str(slurm.folder)}, capture_output=True,
                            text=True, timeout=600)
    assert script.returncode == 0, script.stderr
    assert f"{CLASS_SIZE} graded" in script.stdout
    assert (tmp_path / "out" / "grades.csv").read_bytes() == local_grades
    wait_for(lambda: not slurm.jobs(), 30, "the script's jobs still queued")


def test_a_cluster_of_slurm_jobs_grades_the_class_as_a_local_batch_does(cluster, tls, klass, tmp_path):
    folder, local_grades = klass
    batch = start_batch(folder, tmp_path / "out", cluster.scheduler_address, tls)
    stdout, stderr = batch.communicate(timeout=600)
    assert batch.returncode == 0, stderr
    assert "plain tcp://" not in stderr and cluster.scheduler_address.startswith("tls://")
    assert (tmp_path / "out" / "grades.csv").read_bytes() == local_grades


def test_a_job_cancelled_mid_batch_costs_no_student_and_doubles_none(slurm, cluster, tls, klass, tmp_path):
    folder, local_grades = klass
    workers(cluster, JOBS)
    batch = start_batch(folder, tmp_path / "out", cluster.scheduler_address, tls)
    wait_for(lambda: len(reports(tmp_path / "out")) >= 4 or batch.poll() is not None, 300, "no report")
    assert batch.poll() is None, "the batch ended before a job could be cancelled"
    slurm.run("scancel", slurm.jobs()[0])
    stdout, stderr = batch.communicate(timeout=600)
    assert batch.returncode == 0, stderr
    assert (tmp_path / "out" / "grades.csv").read_bytes() == local_grades  # each student once, graded as locally


def test_a_stopped_batch_leaves_nothing_grading_on_the_jobs_after_10_s(slurm, cluster, tls, tmp_path):
    slow = tmp_path / "slow"
    slow.mkdir()
    for student in ("ada", "bob", "cy", "dee"):  # each slower than the 10 s a stop may take
        (slow / f"{student}.py").write_text(solution_source() + "\nimport time\ntime.sleep(30)\n")
    pids = set(workers(cluster, JOBS).values())
    batch = start_batch(slow, tmp_path / "out", cluster.scheduler_address, tls)
    wait_for(lambda: sum("grader.worker" in line or "grader.zygote" in line
                         for line in grading(set().union(*map(descendants, pids))).values()) > 2 * JOBS,
             300, "no student started")
    batch.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert batch.wait(timeout=60) == 128 + signal.SIGTERM
    while time.monotonic() < stopped_at + 10 and (grading(set().union(*map(descendants, pids)))
                                                  or list(cluster.jobs_tmp.glob("grader-*"))):
        time.sleep(0.1)
    assert not grading(set().union(*map(descendants, pids))), "still grading 10 s after SIGTERM"
    assert not list(cluster.jobs_tmp.glob("grader-*")), "the stopped batch's folders stay on its workers"
    assert running(pids) == pids, "the workers themselves live on"


def test_a_batch_whose_every_job_is_cancelled_stops_and_a_rerun_grades_exactly_the_rest(slurm, cluster, tls, klass,
                                                                                        tmp_path):
    folder, local_grades = klass
    out = tmp_path / "out"
    lost = set(workers(cluster, JOBS))
    batch = start_batch(folder, out, cluster.scheduler_address, tls, "--cluster-wait", "3")
    wait_for(lambda: len(reports(out)) >= 4 or batch.poll() is not None, 300, "no report")
    assert batch.poll() is None, "the batch ended before its jobs could be cancelled"
    slurm.run("scancel", *slurm.jobs())  # adapt replaces them, but only after Dask's lost-worker-timeout (15 s)
    cancelled_at = time.monotonic()
    stdout, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 0, stderr
    assert time.monotonic() - cancelled_at < 15, "the batch waited on"
    (said,) = [line for line in stderr.splitlines() if "no worker of the Dask cluster" in line]
    assert all(address in said for address in lost), said
    faults = [path.stem for path in reports(out) if json.loads(path.read_text())["grader_fault"]]
    assert 0 < len(faults) < CLASS_SIZE and len(reports(out)) == CLASS_SIZE

    workers(cluster, JOBS)  # the jobs adapt submitted in their place
    rerun = start_batch(folder, out, cluster.scheduler_address, tls)
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert f"{len(faults)} graded, {CLASS_SIZE - len(faults)} unchanged and reused, 0 with errors" in stdout
    assert (out / "grades.csv").read_bytes() == local_grades


def test_at_the_end_no_job_and_no_process_of_the_test_remains(slurm, cluster):
    cluster.close()
    wait_for(lambda: not slurm.jobs(), 30, "jobs still queued after the cluster closed")
    assert not slurm.stop(), "processes of the test outlived its jobs and daemons"
