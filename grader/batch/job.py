"""What a batch's grading processes run: grade students, with workers forked by the batch's zygote.

On this machine each grading process keeps one pytest session for the whole batch, and grades in it each
student the batch hands it (grade_in_session); a cluster's worker grades a few students per session
(grade_chunk). The pool's fork server imports this module once, so every grading process starts with torch,
pytest and the grader already imported, and with those objects frozen out of the garbage collector's way
(pytest collects garbage after every session).
"""
import gc
import queue
import threading
from concurrent.futures import Future
from functools import cache
from pathlib import Path

import pytest  # noqa: F401 - imported once here for every grading process
import torch  # noqa: F401

import grader.probes  # noqa: F401 - what the suites import
from grader.batch.options import BatchOptions
from grader.catalogue import load as load_catalogue
from grader.pipeline import (grade_each, grade_submission, grade_submissions, not_graded, with_hints_taken,
                             worker_limits)
from grader.results import Report
from grader.sandbox import Sandbox, detect
from grader.submission import locate
from grader.zygote_client import ZygoteClient


@cache
def _zygote(path: str) -> ZygoteClient:
    return ZygoteClient(path)


@cache
def _catalogue(config: Path):
    return load_catalogue(config)


def grade_chunk(entries: list[tuple[str, str, str]], options: BatchOptions, zygote_path: str | None,
                sandbox: Sandbox | None = None) -> list[Report]:
    """Grade (path, label, student) submissions in one pytest session; returns each one's report in order (with
    its pytest-json-report report when asked for). `sandbox` is what the batch found on this machine, so that
    its grading processes need not probe bubblewrap again; None probes here (a cluster's worker).

    If the session itself fails, each submission is graded on its own, so that one student's problem
    becomes that student's grader-fault report rather than the whole chunk's.
    """
    grading = _grading_options(options, zygote_path, sandbox)
    catalogue = _catalogue(Path(options.config))
    try:
        reports = grade_submissions([locate(path, label) for path, label, _ in entries], catalogue, **grading)
        return [_with_hints(report, path) for report, (path, _, _) in zip(reports, entries)]
    except Exception:  # noqa: BLE001 - fall back to one session per student to find whose problem it is
        if len(entries) == 1:
            raise
    return [_graded_alone(entry, options, catalogue, grading) for entry in entries]


def grade_in_session(entry: tuple[str, str, str], options: BatchOptions, zygote_path: str | None,
                     sandbox: Sandbox) -> Report:
    """Grade one (path, label, student) submission in this process's pytest session, which grades every student
    the batch hands this process (a session costs about as much as a student: plugins, collection)."""
    return _session(options, zygote_path, sandbox).grade(entry)


class _Session:
    """A pytest session kept running in a thread of its own, which grades each student handed to it as the next
    student of the session. A session that fails grades its student alone (grade_chunk's fallback), and a new
    one takes the next."""

    def __init__(self, options: BatchOptions, zygote_path: str | None, sandbox: Sandbox):
        self.options, self.catalogue = options, _catalogue(Path(options.config))
        self.grading = _grading_options(options, zygote_path, sandbox)
        self.handed: queue.Queue = queue.Queue()  # (entry, Future of its report)
        self.current = ()  # the (entry, Future) being graded; None once closed
        self.thread = threading.Thread(target=self._run, name="pytest session", daemon=True)
        self.thread.start()

    def grade(self, entry: tuple[str, str, str]) -> Report:
        report = Future()
        self.handed.put((entry, report))
        return report.result()

    def close(self):
        """End the session once its student is graded (a grading process's own session ends with the process)."""
        self.handed.put(None)
        self.thread.join()

    def _run(self):
        while self.current is not None:  # a session ends by failing, or when closed
            try:
                grade_each(self._submissions(), self.catalogue, self._reported, **self.grading)
            except Exception:  # noqa: BLE001 - the failed session's student is graded alone, then a new one starts
                if (pending := self._pending()) is not None:
                    entry, report = pending
                    report.set_result(_graded_alone(entry, self.options, self.catalogue, self.grading))
            except BaseException as exc:  # noqa: B902 - never leave a student waiting: their task raises it
                if (pending := self._pending()) is not None:
                    pending[1].set_exception(exc)

    def _pending(self):
        """The student a failed session leaves without a report: the one it was grading, else (it failed before
        it took one) the next one handed over, so that a session that keeps failing never loops idle; None once
        closed."""
        if self.current and not self.current[1].done():
            return self.current
        self.current = self.handed.get()
        return self.current

    def _submissions(self):
        while (handed := self.handed.get()) is not None:
            self.current = handed
            path, label, _ = handed[0]
            yield locate(path, label)
        self.current = None

    def _reported(self, report: Report):
        (path, _, _), future = self.current
        future.set_result(_with_hints(report, path))


@cache
def _session(options: BatchOptions, zygote_path: str | None, sandbox: Sandbox) -> _Session:
    return _Session(options, zygote_path, sandbox)


def _grading_options(options: BatchOptions, zygote_path: str | None, sandbox: Sandbox | None) -> dict:
    return dict(device=options.device, timeout=options.timeout, sandbox=sandbox or detect(options.sandbox),
                limits=worker_limits(options.timeout, options.memory_gb),
                zygote=_zygote(zygote_path) if zygote_path else None, pytest_json=options.pytest_json)


def _graded_alone(entry: tuple[str, str, str], options: BatchOptions, catalogue, grading: dict) -> Report:
    """A submission graded in a session of its own; a failure there is the student's grader-fault report."""
    path, label, student = entry
    try:
        return _with_hints(grade_submission(locate(path, label), catalogue, **grading), path)
    except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
        return not_graded(student, f"grading failed: {type(exc).__name__}: {exc}", catalogue, options.device,
                          grader_fault=True)


def _with_hints(report: Report, path: str) -> Report:
    """A folder submission's hint levels (a file's folder is the class's, not the student's)."""
    return with_hints_taken(report, Path(path)) if Path(path).is_dir() else report


# Grading processes run side by side, one per core: threads within one would only fight over the cores.
torch.set_num_threads(1)
gc.freeze()
