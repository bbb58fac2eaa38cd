"""Batch grading on a Dask cluster, the client's side: chunks of students go to the cluster's workers (see
cluster_worker.py), their reports come back as JSON.

The client keeps everything else of a batch: entries, the cache, progress, and every file it writes.
"""
import contextlib
import importlib.util
import ipaddress
import sys
from pathlib import Path
from urllib.parse import urlsplit

from grader.errors import GraderError, UsageError

MAX_ENTRY_BYTES = 20 * 2**20  # one student's files, as a task carries them
LOCAL = "local:"


def require():
    """Fail with what to install, before anything else, where Dask is missing."""
    if importlib.util.find_spec("distributed") is None:
        raise UsageError("--scheduler needs Dask: pip install 'attention-exercises[cluster]'")


def scheduler_warning(address: str) -> str | None:
    """A warning for a plain tcp:// scheduler off this machine: anyone who reaches it can run code on the workers."""
    if address.startswith(LOCAL):
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp":
        return None
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (f"warning: {address} is a plain tcp:// scheduler off this machine: anyone who can reach it can run code on "
            "its workers and read the hidden suites; use tls:// (see the README's Grading on a cluster)")


def local_workers(address: str) -> int:
    try:
        count = int(address.removeprefix(LOCAL))
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"--scheduler {address}: local:N takes a number of worker processes N >= 1")
    return count


def pack(path: Path) -> dict[str, bytes]:
    """An unpacked entry's files, by path relative to it (a single file under its own name)."""
    files = {path.name: path.read_bytes()} if path.is_file() else {
        p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    size = sum(map(len, files.values()))
    if size > MAX_ENTRY_BYTES:
        raise ValueError(f"{path.name} holds {size / 2**20:.1f} MB; a cluster task carries at most "
                         f"{MAX_ENTRY_BYTES // 2**20} MB per student")
    return files


@contextlib.contextmanager
def connect(address: str, sandbox: bool, device: str):
    """A Dask client for the address (local:N starts a LocalCluster), with GraderPlugin on every worker."""
    from distributed import Client, LocalCluster

    from grader.batch.cluster_worker import GraderPlugin

    with contextlib.ExitStack() as stack:
        if address.startswith(LOCAL):
            cluster = stack.enter_context(LocalCluster(n_workers=local_workers(address), threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout="30s"))
            except OSError as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        client.register_plugin(GraderPlugin(sandbox, device), name=GraderPlugin.name)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):  # a cluster already gone has no plugin to remove
                client.unregister_worker_plugin(GraderPlugin.name)


def grade_on_cluster(unpacked, grading: tuple, catalogue, address: str, size: int, error_report):
    """Yield (entry, key, report) as chunks finish on the cluster; a lost chunk gives error reports."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    from grader.batch.cluster_worker import grade_task
    from grader.platforms.bundle import grader_hash

    device, sandbox = grading[0], grading[3]
    chunks, refused = [], []
    for entry, key, path in unpacked:
        try:
            payload = pack(Path(path))
        except (OSError, ValueError) as exc:
            yield entry, key, error_report(entry.student, str(exc), catalogue, device)
            continue
        if not chunks or len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].append((entry, key, payload))
    with connect(address, sandbox, device) as client:
        assignment = Path(grading[2]).read_text(encoding="utf-8")
        futures = {client.submit(grade_task, [(entry.path.name, payload) for entry, _, payload in chunk], grading,
                                 assignment, grader_hash(), pure=False, retries=0): chunk for chunk in chunks}
        warned = False
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                result = future.result()
            except (KilledWorker, FutureCancelledError) as exc:
                reason = (f"grader error, not the student's: the cluster lost the worker grading this student "
                          f"({type(exc).__name__}); a rerun regrades them")
                result = {"reports": [reason] * len(chunk)}
            if "refused" in result:
                refused.append(result["refused"])
                break
            if result.get("warning") and not warned:
                warned = True
                print(f"on the cluster's workers: {result['warning']}", file=sys.stderr)
            for (entry, key, _), report in zip(chunk, result["reports"]):
                if isinstance(report, str):
                    report = error_report(entry.student, report, catalogue, device, grader_fault=True)
                yield entry, key, report
    if refused:
        raise GraderError(refused[0])

