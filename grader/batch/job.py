"""What a batch's grading processes run: grade a few students, with workers forked by the batch's zygote.

The pool's fork server imports this module once, so every grading process starts with torch, pytest and
the grader already imported, and with those objects frozen out of the garbage collector's way (pytest
collects garbage after every session).
"""
import gc
from functools import cache
from pathlib import Path

import pytest  # noqa: F401 - imported once here for every grading process
import torch  # noqa: F401

import grader.probes  # noqa: F401 - what the suites import
from grader.batch.options import BatchOptions
from grader.catalogue import load as load_catalogue
from grader.pipeline import grade_submission, grade_submissions, not_graded, with_hints_taken, worker_limits
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
    grading = dict(device=options.device, timeout=options.timeout, sandbox=sandbox or detect(options.sandbox),
                   limits=worker_limits(options.timeout, options.memory_gb),
                   zygote=_zygote(zygote_path) if zygote_path else None, pytest_json=options.pytest_json)
    catalogue = _catalogue(Path(options.config))
    try:
        reports = grade_submissions([locate(path, label) for path, label, _ in entries], catalogue, **grading)
        return [_with_hints(report, path) for report, (path, _, _) in zip(reports, entries)]
    except Exception:  # noqa: BLE001 - fall back to one session per student to find whose problem it is
        if len(entries) == 1:
            raise
    reports = []
    for path, label, student in entries:
        try:
            reports.append(_with_hints(grade_submission(locate(path, label), catalogue, **grading), path))
        except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
            reports.append(not_graded(student, f"grading failed: {type(exc).__name__}: {exc}", catalogue,
                                      options.device, grader_fault=True))
    return reports


def _with_hints(report: Report, path: str) -> Report:
    """A folder submission's hint levels (a file's folder is the class's, not the student's)."""
    return with_hints_taken(report, Path(path)) if Path(path).is_dir() else report


# Grading processes run side by side, one per core: threads within one would only fight over the cores.
torch.set_num_threads(1)
gc.freeze()
