"""Grade a whole class in parallel, reusing saved reports whose submission, suites and options are unchanged."""
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from grader import __version__, installation
from grader.batch.entries import Entry, content_hash, find_entries, unpack
from grader.batch.options import BatchOptions
from grader.batch.outputs import grades_csv
from grader.errors import UsageError
from grader.feedback.pages import feedback_html, summary_html
from grader.feedback.wording import count
from grader.limits import die_with_parent
from grader.package_files import grader_hash
from grader.pipeline import not_graded
from grader.results import BatchRecord, Report, ReportFormatError
from grader.sandbox import detect
from grader.scratch import remove_stale
from grader.zygote_client import slow_start_note, start_zygote


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did, for the closing line of the command."""
    out_dir: Path
    graded: int
    reused: int
    errors: int
    total: int
    warnings: tuple[str, ...] = ()  # what the batch had to say, each once (see grade_class's on_warning)

    def __str__(self):
        return (f"{count(self.total, 'student')}: {self.graded} graded, {self.reused} unchanged and reused, "
                f"{self.errors} with errors; wrote {self.out_dir / 'grades.csv'} and {self.out_dir / 'summary.html'}")


class Warnings:
    """The warnings of one batch, each kept once, and each handed to `on_warning` as it arises."""

    def __init__(self, on_warning=None):
        self.said: dict[str, None] = {}
        self.on_warning = on_warning

    def __call__(self, text: str | None):
        if text and text not in self.said:
            self.said[text] = None
            if self.on_warning is not None:
                self.on_warning(text)


def cache_key(entry: Entry, options: BatchOptions) -> str:
    """Changes whenever the submission, the grader's files (its code, catalogue and suites) or the grading
    options change, so a rerun regrades every report made otherwise (without pictures, with other titles)."""
    digest = hashlib.sha256()
    digest.update(content_hash(entry.path).encode())
    digest.update(json.dumps({**options.grading_fields(), "grader": grader_hash(), "version": __version__},
                             sort_keys=True).encode())
    return digest.hexdigest()


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


def _write_report(out_dir: Path, student: str, report: Report, pytest_json: bool):
    """reports/<student>.json and, with `pytest_json`, reports/<student>.pytest.json beside it (the report the
    grading process made, or one without tests for a student who could not be run); never a stale one."""
    beside = out_dir / "reports" / f"{student}.pytest.json"
    if pytest_json:
        from grader.feedback.pytest_json import unrunnable

        _write(beside, json.dumps(report.pytest_json or unrunnable(report.error or "not run"), indent=2) + "\n")
    else:
        beside.unlink(missing_ok=True)
    _write(out_dir / "reports" / f"{student}.json", json.dumps(report.to_json(), indent=2) + "\n")


def _write_feedback(out_dir: Path, student: str, report: Report):
    _write(out_dir / "feedback" / f"{student}.html", feedback_html(student, report))


def _saved_report(path: Path, key: str) -> Report | None:
    """The report a batch saved with this cache key; None for another key, a grader fault (not the student's
    grade) or a report an older grader wrote, all of which a rerun grades again."""
    try:
        report = Report.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ReportFormatError):
        return None
    if report.batch is None or report.batch.cache_key != key or report.grader_fault:
        return None
    return report


def grade_class(submissions_dir, out_dir, *, options: BatchOptions = BatchOptions(), force: bool = False,
                students=(), on_progress=None, on_warning=None) -> BatchSummary:
    """Grade every entry of submissions_dir into out_dir (reports/, feedback/, grades.csv, summary.html).

    `on_progress(done, total, student)` is called as students finish, `on_warning(text)` once for each thing
    the instructor should know (missing protections, a plain-text scheduler, workers that start slowly); the
    summary lists them too. One student's failure never stops the class: it becomes that student's error
    report. With `options.pytest_json`, each graded student also gets reports/<student>.pytest.json
    (pytest-json-report's format; one pytest session per student). With `options.scheduler` (a Dask address,
    or local:N) the students are graded on that cluster's workers.
    """
    catalogue = options.validated()
    say = Warnings(on_warning)
    say(installation.check())  # a torch outside the tested range
    if options.scheduler is not None:
        from grader.batch.cluster import LOCAL, local_workers, require, scheduler_warning
        require()
        if options.scheduler.startswith(LOCAL):
            local_workers(options.scheduler)  # a bad local:N is an error before anything is unpacked
        say(scheduler_warning(options.scheduler))
    submissions_dir, out_dir = Path(submissions_dir), Path(out_dir)
    entries, skipped = find_entries(submissions_dir)
    unknown = sorted(set(students) - {e.student for e in entries})
    if unknown:
        raise UsageError(f"no student {unknown[0]!r} in {submissions_dir}")
    if out_dir.resolve() == submissions_dir.resolve() or submissions_dir.resolve() in out_dir.resolve().parents:
        raise UsageError("--out must not be inside the submissions folder")
    if options.scheduler is None:  # a cluster's workers say their own, as they start
        say(detect(options.sandbox).warning())
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)

    reports, to_grade, reused = {}, [], 0
    for entry in entries:
        report_path = out_dir / "reports" / f"{entry.student}.json"
        key = cache_key(entry, options)
        saved = None if force or entry.student in students else _saved_report(report_path, key)
        if entry.problem:  # the class folder's, not the student's work
            report = not_graded(entry.student, entry.problem, catalogue, options.device, grader_fault=True)
            reports[entry.student] = replace(report, batch=BatchRecord(key, entry.lms_id))
            _write_report(out_dir, entry.student, reports[entry.student], options.pytest_json)
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
        # closing(): an interruption while a report is written still ends the pool or the cluster at once.
        with contextlib.closing(_grade_all(to_grade, work_dir, options, catalogue, say)) as graded:
            for entry, key, report in graded:
                report = reports[entry.student] = replace(report, batch=BatchRecord(key, entry.lms_id))
                # As each finishes: a stopped batch resumes, and keeps the pages of the students it graded.
                _write_report(out_dir, entry.student, report, options.pytest_json)
                _write_feedback(out_dir, entry.student, report)
                done += 1
                if on_progress:
                    on_progress(done, len(entries), entry.student)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        remove_stale()  # the folders of grading processes an interruption killed

    _write(out_dir / "grades.csv", grades_csv(reports, catalogue.concept_ids))
    _write(out_dir / "summary.html", summary_html(reports, catalogue.concepts, skipped))
    errors = sum(r.status == "error" for r in reports.values())
    return BatchSummary(out_dir, len(to_grade), reused, errors, len(entries), tuple(say.said))


def _grade_in_pool(*args) -> Report:
    from grader.batch.job import grade_in_session  # imported by the fork server already; this process needs no torch

    return grade_in_session(*args)


def _pool_context():
    """Grading processes forked from a server that imported torch and pytest once (see grader.batch.job).

    Not a plain fork of this process: a fork of a process that has already computed with torch can hang.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods() or not hasattr(os, "fork"):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["grader.batch.preload"])
    return context


def _grade_all(to_grade, work_dir: Path, options: BatchOptions, catalogue, say):
    """Yield (entry, key, report) as they finish, grading in `options.jobs` processes, each of which takes the
    next student when it is done with one, and grades them all in one pytest session of its own.

    On a CPU under Linux one zygote serves the whole batch: it imports torch once and forks each student's worker.
    """
    unpacked = []
    for entry, key in to_grade:
        try:
            unpacked.append((entry, key, str(unpack(entry, work_dir))))
        except ValueError as exc:
            yield entry, key, not_graded(entry.student, str(exc), catalogue, options.device, grader_fault=False)
    if not unpacked:
        return
    if options.scheduler is not None:
        from grader.batch.cluster import grade_on_cluster

        yield from grade_on_cluster(unpacked, options, catalogue, say)
        return
    jobs = min(options.jobs or os.cpu_count() or 1, len(unpacked))
    sandbox = detect(options.sandbox)
    with contextlib.ExitStack() as stack:
        # A grading process dies with its fork server, which ends with the batch: a killed batch leaves none.
        zygote = start_zygote(stack, sandbox, options.device, len(unpacked))
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(),
                                                       initializer=die_with_parent))
        stack.enter_context(_stopped_at_once(pool))
        futures = {pool.submit(_grade_in_pool, (path, entry.path.name, entry.student), options,
                               zygote and zygote.path, sandbox): (entry, key)
                   for entry, key, path in unpacked}
        if zygote:
            say(slow_start_note(zygote.path))  # asked while the grading processes start
        for future in as_completed(futures):
            entry, key = futures[future]
            try:
                report = future.result()
            except BrokenProcessPool:
                report = _grader_failed(entry, "the grading process died", catalogue, options)
            except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
                report = _grader_failed(entry, f"grading failed: {type(exc).__name__}: {exc}", catalogue, options)
            yield entry, key, report


def _grader_failed(entry: Entry, reason: str, catalogue, options: BatchOptions) -> Report:
    return not_graded(entry.student, reason, catalogue, options.device, grader_fault=True)


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
