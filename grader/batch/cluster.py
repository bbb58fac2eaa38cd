"""Batch grading on a Dask cluster, the client's side: chunks of students go to the cluster's workers (see
cluster_worker.py), their reports come back as JSON.

The client keeps everything else of a batch: entries, the cache, progress, and every file it writes.
"""
import contextlib
import importlib.util
import ipaddress
import logging
import queue
import time
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from grader.batch.options import BatchOptions, split_into_chunks
from grader.errors import GraderError, UsageError
from grader.feedback.wording import count
from grader.package_files import grader_hash
from grader.pipeline import not_graded
from grader.results import Report

MAX_ENTRY_BYTES = 20 * 2**20  # one student's files, as a task carries them
LOCAL = "local:"
POLL = 1.0  # seconds between looks at the cluster's workers while no chunk finishes


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


def pack(path: Path) -> tuple[bool, dict[str, bytes]]:
    """(is a single file, its files by path relative to it) for an unpacked entry.

    Raises ValueError for an entry over MAX_ENTRY_BYTES or holding a symbolic link (whose target, on this
    machine, is not the student's to send).
    """
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink())
    links = [p for p in files if p.is_symlink()]
    if links:
        raise ValueError(f"{path.name} holds a symbolic link ({links[0].name}); send the files themselves")
    size = sum(p.stat().st_size for p in files)
    if size > MAX_ENTRY_BYTES:
        raise ValueError(f"{path.name} holds {size / 2**20:.1f} MB; a cluster task carries at most "
                         f"{MAX_ENTRY_BYTES // 2**20} MB per student")
    if path.is_file():
        return True, {path.name: path.read_bytes()}
    return False, {p.relative_to(path).as_posix(): p.read_bytes() for p in files}


@contextlib.contextmanager
def connect(options: BatchOptions, students: int, say):
    """A Dask client for options.scheduler (local:N starts a LocalCluster) and the name of this batch's
    GraderPlugin, registered on every worker until the batch ends, for a batch of `students`. Waits for the first
    worker as long as options.cluster_start_wait allows, saying so; refuses workers with more than one thread."""
    from distributed import Client, LocalCluster

    from grader.batch.cluster_worker import GraderPlugin
    from grader.scratch import remove_stale

    address = options.scheduler
    name = f"attention-grader-{uuid.uuid4().hex[:12]}"  # one per batch: batches sharing a cluster keep their own
    with contextlib.ExitStack() as stack:
        try:
            if address.startswith(LOCAL):
                # Once the cluster has closed: the folders of tasks its workers were stopped in.
                stack.callback(remove_stale)
                # Its workers' own warnings (tasks cancelled by a stop, a lost worker restarted) are the batch's
                # to report, per student. Its web server listens on this machine only.
                cluster = stack.enter_context(LocalCluster(n_workers=local_workers(address), threads_per_worker=1,
                                                           processes=True, dashboard_address="127.0.0.1:0",
                                                           silence_logs=logging.ERROR))
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(address, timeout="30s"))
        except OSError as exc:
            raise UsageError(f"cannot use the Dask cluster at {address}: {exc or type(exc).__name__}") from None
        except (TypeError, ValueError) as exc:  # e.g. tls:// without TLS settings
            hint = ("; the client's TLS settings go in Dask's configuration, ~/.config/dask/distributed.yaml (see the "
                    "README's Grading on a cluster)") if address.startswith("tls://") else ""
            raise UsageError(f"cannot connect to {address}: {exc}{hint}") from None
        if not client.nthreads():  # a batch system's jobs can stay queued for a long time
            say(f"waiting for the first worker of the Dask cluster at {address} (at most "
                f"{options.cluster_start_wait:g} s: --cluster-start-wait)")
            try:
                client.wait_for_workers(1, timeout=options.cluster_start_wait)
            except TimeoutError:
                raise UsageError(f"no worker joined the Dask cluster at {address} within "
                                 f"{options.cluster_start_wait:g} s (--cluster-start-wait); are its jobs still "
                                 "queued?") from None
        threaded = {worker: n for worker, n in client.nthreads().items() if n != 1}
        if threaded:
            worker, n = next(iter(threaded.items()))
            raise UsageError(f"worker {worker} runs {n} threads; pytest is not thread-safe: start workers with "
                             "--nthreads 1 (one per core)")
        try:
            share = students // max(1, len(client.nthreads()))  # each worker's part of the class, as it starts
            client.register_plugin(GraderPlugin(name, options.sandbox, options.device, share), name=name)
            yield client, name
        finally:
            with contextlib.suppress(Exception):  # a cluster already gone has no plugin to remove
                client.unregister_worker_plugin(name)


def grade_on_cluster(unpacked, options: BatchOptions, catalogue, say):
    """Yield (entry, key, report) as chunks finish on the cluster, at options.scheduler. A student the grader
    could not grade (a chunk that failed, whose worker was lost, or that no worker was left to grade) gets a
    grader-fault report; an entry too large to send, an error report of their own. `say` takes the workers'
    warnings, and why the batch waits or stops."""
    from grader.batch.cluster_worker import grade_task

    packed, refused = [], []
    for entry, key, path in unpacked:
        try:
            packed.append((entry, key, pack(Path(path))))
        except (OSError, ValueError) as exc:
            yield entry, key, not_graded(entry.student, str(exc), catalogue, options.device, grader_fault=False)
    with connect(options, len(packed), say) as (client, plugin):
        chunks = split_into_chunks(packed, sum(client.nthreads().values()))
        assignment = Path(options.config).read_text(encoding="utf-8")
        # Keys that start with the plugin's name: the plugin stops a running chunk of its batch when it is cancelled.
        futures = {client.submit(grade_task, [(entry.path.name, entry.student, payload) for entry, _, payload in chunk],
                                 options, assignment, grader_hash(), plugin, key=f"{plugin}-{index}", pure=False,
                                 retries=0): chunk
                   for index, chunk in enumerate(chunks)}
        try:
            for future, result in _finished(futures, client, options, say):
                chunk = futures[future]
                if "refused" in result:
                    refused.append(result["refused"])
                    break
                if result.get("warning"):
                    say(f"on the cluster's workers: {result['warning']}")
                for (entry, key, _), sent in zip(chunk, result.get("reports") or [None] * len(chunk)):
                    if sent is None:
                        report = not_graded(entry.student, result["failed"], catalogue, options.device,
                                            grader_fault=True)
                    else:
                        report = replace(Report.from_json(sent["report"]), pytest_json=sent["pytest_json"])
                    yield entry, key, report
        finally:  # stopped, refused or done: nothing of this batch stays queued on a cluster others share
            with contextlib.suppress(Exception):
                client.cancel([future for future in futures if not future.done()])
    if refused:
        raise GraderError(refused[0])


def _finished(futures: dict, client, options: BatchOptions, say):
    """Yield (future, its task's result) as each finishes. Once no worker has been connected for
    options.cluster_wait seconds, say so, naming the workers lost, and yield every future still unfinished with
    a failed result."""
    finished = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(finished.put)
    workers = _Workers(client)
    pending = set(futures)
    while pending:
        try:
            future = finished.get(timeout=POLL)
        except queue.Empty:
            lost = workers.lost_for(options.cluster_wait)
            if lost is None:
                continue
            students = sum(len(futures[future]) for future in pending)
            say(f"no worker of the Dask cluster at {options.scheduler} for {options.cluster_wait:g} s "
                f"(--cluster-wait); lost: {', '.join(lost)}; stopping: {count(students, 'student')} not graded yet "
                f"{'gets an error report' if students == 1 else 'get error reports'}, and a rerun grades them")
            for future in [future for future in futures if future in pending]:
                yield future, {"failed": "grader error, not the student's: every worker of the cluster was lost "
                                         "before this student was graded; a rerun regrades them"}
            return
        pending.discard(future)
        yield future, _result(future, options.cluster_wait)


def _result(future, wait: float) -> dict:
    """A finished task's result, or why it has none; waits at most `wait` seconds to fetch it from its worker."""
    if future.cancelled():  # e.g. the connection to the scheduler was lost
        return {"failed": "grader error, not the student's: the cluster cancelled this student's task; a rerun "
                          "regrades them"}
    try:
        return future.result(timeout=wait)
    except Exception as exc:  # noqa: BLE001 - KilledWorker, a worker that cannot run the task, or one lost since
        return {"failed": f"grader error, not the student's: the cluster could not grade this student "
                          f"({type(exc).__name__}: {exc}); a rerun regrades them"}


class _Workers:
    """The cluster's workers as this batch has seen them, and since when none has been connected."""

    def __init__(self, client):
        self.client = client
        self.seen = set(client.nthreads())
        self.none_since = None

    def lost_for(self, seconds: float) -> list[str] | None:
        """Every worker seen, once none has been connected for `seconds`; None until then."""
        try:
            present = set(self.client.nthreads())
        except OSError:  # the scheduler is unreachable: no worker either
            present = set()
        self.seen |= present
        if present:
            self.none_since = None
            return None
        self.none_since = self.none_since or time.monotonic()
        return sorted(self.seen) if time.monotonic() - self.none_since >= seconds else None
