"""A Dask cluster the batch does not own, as on a real one: a scheduler and workers started with Dask's own
commands, each worker a process of its own (no nanny to restart it) with a TMPDIR the test can look into."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import ROOT


class ExternalCluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        # The workers' TMPDIR: short, for the zygote's socket path (at most 108 bytes).
        self.tmp = Path(tempfile.mkdtemp(prefix="workers-"))
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []

    def _start(self, module: str, *args) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(self.tmp)}
        log = open(self.folder / f"{module.rsplit('.', 1)[-1]}-{len(self.processes)}.log", "w")
        with log:
            process = subprocess.Popen([sys.executable, "-m", module, "--scheduler-file", str(self.scheduler_file),
                                        "--no-dashboard", *args], cwd=self.folder, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_scheduler(self) -> str:
        self._start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0")
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.address

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def add_worker(self) -> subprocess.Popen:
        worker = self._start("distributed.cli.dask_worker", "--nthreads", "1", "--no-nanny",
                             "--local-directory", str(self.folder))
        self.workers.append(worker)
        return worker

    def worker_addresses(self) -> set[str]:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            return set(client.nthreads())

    def wait_for_workers(self, count: int):
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(count, timeout=60)

    def close(self):
        for process in reversed(self.processes):
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def external_cluster(folder: Path, workers: int):
    """A scheduler on the loopback with `workers` one-thread workers, all killed on the way out."""
    folder.mkdir(parents=True)
    cluster = ExternalCluster(folder)
    try:
        cluster.start_scheduler()
        for _ in range(workers):
            cluster.add_worker()
        if workers:
            cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.close()
