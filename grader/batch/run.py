"""Grade a whole class in parallel, reusing saved reports whose submission, suites and options are unchanged."""
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from grader import __version__
from grader.batch.entries import Entry, content_hash, find_entries, unpack
from grader.batch.outputs import grades_csv
from grader.platforms.bundle import grader_hash
from grader.feedback.pages import feedback_html, summary_html
from grader.catalogue import ASSIGNMENT_FILE, load as load_catalogue
from grader.errors import UsageError
from grader.pipeline import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, check_options, worker_limits
from grader.runner import SUITES_DIR, suites_hash
from grader.sandbox import detect, die_with_parent
from grader.scratch import remove_stale
from grader.zygote_client import ZygoteServer, slow_start_note, zygote_available

MAX_CHUNK = 16  # students per pytest session


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did, for the closing line of the command."""
    out_dir: Path
    graded: int
    reused: int
    errors: int
    total: int

    def __str__(self):
        return (f"{self.total} students: {self.graded} graded, {self.reused} unchanged and reused, "
                f"{self.errors} with errors; wrote {self.out_dir / 'grades.csv'} and {self.out_dir / 'summary.html'}")


def cache_key(entry: Entry, options: dict) -> str:
    """Changes whenever the submission, the grader's files (its code, catalogue and suites) or the grading
    options change, so a rerun regrades every report made otherwise (without pictures, with other titles)."""
    digest = hashlib.sha256()
    digest.update(content_hash(entry.path).encode())
    digest.update(json.dumps({**options, "grader": grader_hash(), "version": __version__}, sort_keys=True).encode())
    return digest.hexdigest()


def lms_id_json(entry: Entry) -> dict | None:
    """The LMS's own number for the student, as the download name gave it (for gradebook exports)."""
    return None if entry.lms_id is None else {"lms": entry.lms_id.lms, "id": entry.lms_id.id}


def error_report(student: str, reason: str, catalogue, device: str, grader_fault: bool = False) -> dict:
    """A report for a student who could not be graded at all: every concept at zero with the reason.

    `grader_fault`: the reason is ours or the instructor's (a grading process that died, two entries for one
    student), not the student's work, so gradebook exports leave the grade blank.
    """
    return {"submission": student, "status": "error", "error": reason, "grader_fault": grader_fault, "score": 0.0,
            "max_score": round(sum(c.points for c in catalogue.concepts), 2), "device": device,
            "grader_version": __version__, "suites_hash": suites_hash(SUITES_DIR),
            "concepts": [{"id": c.id, "title": c.title, "score": 0.0, "max_score": c.points, "status": "error",
                          "feedback": [reason], "misconceptions": [], "diagnoses": []} for c in catalogue.concepts],
            "tests": [], "notes": [], "output": "", "pictures": []}


def _write(path: Path, text: str):
    """Write through a temporary file so an interrupted batch never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _remove_leftovers(out_dir: Path):
    """What a killed batch could not remove: its unpacked entries, half-written files and temporary folders."""
    shutil.rmtree(out_dir / ".unpacked", ignore_errors=True)
    for folder in (out_dir, out_dir / "reports", out_dir / "feedback"):
        for partial in folder.glob("*.part"):
            partial.unlink(missing_ok=True)
    remove_stale()


def _write_report(out_dir: Path, student: str, report: dict, pytest_json: bool):
    """reports/<student>.json and, with `pytest_json`, reports/<student>.pytest.json beside it (the report the
    grading process sent, or one without tests for a student who could not be run); never a stale one."""
    sent = report.pop("pytest_json", None)
    beside = out_dir / "reports" / f"{student}.pytest.json"
    if pytest_json:
        from grader.platforms.pytest_json import unrunnable

        _write(beside, json.dumps(sent or unrunnable(report.get("error") or "not run"), indent=2) + "\n")
    else:
        beside.unlink(missing_ok=True)
    _write(out_dir / "reports" / f"{student}.json", json.dumps(report, indent=2) + "\n")


def _write_feedback(out_dir: Path, student: str, report: dict):
    _write(out_dir / "feedback" / f"{student}.html", feedback_html(student, report))


def _saved_report(path: Path, key: str) -> dict | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict) or report.get("cache_key") != key or report.get("grader_fault"):
        return None  # a grader fault is not the student's grade: a rerun grades them again
    return report


def grade_class(submissions_dir, out_dir, *, jobs=None, timeout=DEFAULT_TIMEOUT, device="cpu", force=False,
                students=(), config=None, sandbox=True, memory_gb=DEFAULT_MEMORY_GB, pytest_json=False,
                scheduler=None, on_progress=None) -> BatchSummary:
    """Grade every entry of submissions_dir into out_dir (reports/, feedback/, grades.csv, summary.html).

    `on_progress(done, total, student)` is called as students finish. One student's failure never stops
    the class: it becomes that student's error report. With `pytest_json`, each graded student also gets
    reports/<student>.pytest.json (pytest-json-report's format; one pytest session per student). With
    `scheduler` (a Dask address, or local:N) the students are graded on that cluster's workers.
    """
    config_path = Path(config) if config else ASSIGNMENT_FILE
    catalogue = load_catalogue(config_path)
    check_options(catalogue, device, (), timeout)
    worker_limits(timeout, memory_gb)  # validates memory_gb
    if pytest_json:
        from grader.platforms.pytest_json import require
        require()
    if scheduler is not None:
        from grader.batch.cluster import LOCAL, local_workers, require, scheduler_warning
        require()
        if jobs is not None:
            raise UsageError("--jobs and --scheduler do not go together: the cluster's workers set the parallelism")
        if scheduler.startswith(LOCAL):
            local_workers(scheduler)  # a bad local:N is an error before anything is unpacked
        warning = scheduler_warning(scheduler)
        if warning:
            print(warning, file=sys.stderr)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    entries, skipped = find_entries(submissions_dir)
    unknown = sorted(set(students) - {e.student for e in entries})
    if unknown:
        raise UsageError(f"no student {unknown[0]!r} in {submissions_dir}")
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise UsageError("--out must not be inside the submissions folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    options = {"device": device, "timeout": timeout, "config": config_path.read_text(encoding="utf-8"),
               "sandbox": sandbox, "memory_gb": memory_gb, "pytest_json": pytest_json}

    reports, to_grade, reused = {}, [], 0
    for entry in entries:
        report_path = out_dir / "reports" / f"{entry.student}.json"
        key = cache_key(entry, options)
        saved = None if force or entry.student in students else _saved_report(report_path, key)
        if entry.problem:
            reports[entry.student] = {**error_report(entry.student, entry.problem, catalogue, device, grader_fault=True),
                                      "cache_key": key, "lms_id": lms_id_json(entry)}
            _write_report(out_dir, entry.student, reports[entry.student], pytest_json)
            _write_feedback(out_dir, entry.student, reports[entry.student])
        elif saved is not None:
            reports[entry.student] = saved
            _write_feedback(out_dir, entry.student, saved)
            reused += 1
        else:
            to_grade.append((entry, key))

    done = len(entries) - len(to_grade)
    if on_progress:
        on_progress(done, len(entries), None)
    work_dir = out_dir / ".unpacked"
    try:
        grading = (device, timeout, str(config_path), sandbox, memory_gb, pytest_json)
        lms_ids = {entry.student: lms_id_json(entry) for entry in entries}
        # closing(): an interruption while a report is written still ends the pool or the cluster at once.
        with contextlib.closing(_grade_all(to_grade, work_dir, grading, catalogue, jobs, scheduler)) as graded:
            for student, report in graded:
                report = reports[student] = {**report, "lms_id": lms_ids[student]}
                # As each finishes: a stopped batch resumes, and keeps the pages of the students it graded.
                _write_report(out_dir, student, report, pytest_json)
                _write_feedback(out_dir, student, report)
                done += 1
                if on_progress:
                    on_progress(done, len(entries), student)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        remove_stale()  # the folders of grading processes an interruption killed

    _write(out_dir / "grades.csv", grades_csv(reports, catalogue.concept_ids))
    _write(out_dir / "summary.html", summary_html(
        reports, [(c.id, c.title, c.points) for c in catalogue.concepts], skipped))
    errors = sum(r["status"] == "error" for r in reports.values())
    return BatchSummary(out_dir, len(to_grade), reused, errors, len(entries))


def _grade_in_pool(*args) -> list:
    from grader.batch.job import grade_chunk  # already imported by the fork server; this process needs no torch

    return grade_chunk(*args)


def _pool_context():
    """Grading processes forked from a server that imported torch and pytest once (see grader.batch.job).

    Not a plain fork of this process: a fork of a process that has already computed with torch can hang.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["grader.batch.preload"])
    return context


def _grade_all(to_grade, work_dir, grading, catalogue, jobs, scheduler=None):
    """Yield (student, report) as they finish, grading in `jobs` processes, a few students per session.

    `grading` holds grade_chunk's arguments after the entries. On a CPU under Linux one zygote serves the
    whole batch: it imports torch once and forks each student's worker.
    """
    if not to_grade:
        return
    device, sandbox = grading[0], grading[3]
    jobs = min(jobs or os.cpu_count() or 1, len(to_grade))
    unpacked = []
    for entry, key in to_grade:
        try:
            unpacked.append((entry, key, str(unpack(entry, work_dir))))
        except ValueError as exc:
            yield entry.student, {**error_report(entry.student, str(exc), catalogue, device), "cache_key": key}
    if scheduler is not None:
        from grader.batch.cluster import grade_on_cluster

        for entry, key, report in grade_on_cluster(unpacked, grading, catalogue, scheduler, error_report):
            yield _finished(entry, key, report, catalogue, device)
        return
    size = chunk_size(len(unpacked), jobs)
    chunks = [unpacked[i:i + size] for i in range(0, len(unpacked), size)]
    with contextlib.ExitStack() as stack:
        # A grading process dies with its fork server, which ends with the batch: a killed batch leaves none.
        zygote = _start_zygote(stack, detect(sandbox), device, len(unpacked))
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(),
                                                       initializer=die_with_parent))
        stack.enter_context(_stopped_at_once(pool))
        futures = {pool.submit(_grade_in_pool, [(path, entry.path.name) for entry, _, path in chunk], *grading,
                               zygote and zygote.path): chunk for chunk in chunks}
        note = slow_start_note(zygote.path) if zygote else None  # asked while the grading processes start
        if note:
            print(note, file=sys.stderr)
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                reports = future.result()
            except BrokenProcessPool:
                reports = ["the grading process died"] * len(chunk)
            except Exception as exc:  # noqa: BLE001 - one chunk's failure must not stop the class
                reports = [f"grading failed: {type(exc).__name__}: {exc}"] * len(chunk)
            for (entry, key, _), report in zip(chunk, reports):
                yield _finished(entry, key, report, catalogue, device)


def _finished(entry: Entry, key: str, report: dict | str, catalogue, device: str) -> tuple[str, dict]:
    """(student, report with its cache key) for a graded student; a string is why the grader could not grade
    them, which becomes a grader-fault report."""
    if isinstance(report, str):
        report = error_report(entry.student, report, catalogue, device, grader_fault=True)
    return entry.student, {**report, "cache_key": key}


@contextlib.contextmanager
def _stopped_at_once(pool: ProcessPoolExecutor):
    """On an interruption (Ctrl-C, SIGTERM, SIGHUP), kill the grading processes instead of waiting for their
    students."""
    try:
        yield
    except BaseException:
        processes = list(getattr(pool, "_processes", {}).values())  # the executor offers no public way
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        for process in processes:
            process.join(5)
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _start_zygote(stack: contextlib.ExitStack, sandbox, device: str, students: int) -> ZygoteServer | None:
    """The zygote for `students` workers, or None where there can be none: workers are then started one by one."""
    if not zygote_available(device):
        return None
    try:
        return stack.enter_context(ZygoteServer(sandbox, device, students))
    except OSError:  # e.g. a socket path too long for AF_UNIX under a deep TMPDIR
        return None


def chunk_size(students: int, jobs: int) -> int:
    """Students per pytest session: enough to spread the session's cost, small enough to show progress."""
    return max(1, min(MAX_CHUNK, -(-students // (jobs * 4))))
