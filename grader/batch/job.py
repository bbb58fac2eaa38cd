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
from grader.catalogue import load as load_catalogue
from grader.pipeline import grade_submission, grade_submissions, worker_limits
from grader.reporters import to_json
from grader.sandbox import detect
from grader.submission import locate
from grader.zygote_client import ZygoteClient


@cache
def _zygote(path: str) -> ZygoteClient:
    return ZygoteClient(path)


@cache
def _catalogue(config: str):
    return load_catalogue(Path(config))


def grade_chunk(entries: list[tuple[str, str]], device: str, timeout: float, config: str, sandbox: bool,
                memory_gb: float, pytest_json: bool, zygote_path: str | None) -> list[dict | str]:
    """Grade (path, label) submissions in one pytest session; returns each one's JSON report in order (with
    its pytest-json-report report under "pytest_json" when asked for).

    If the session itself fails, each submission is graded on its own, so that one student's problem
    becomes that student's error (a string) rather than the whole chunk's.
    """
    options = dict(device=device, timeout=timeout, sandbox=detect(sandbox), limits=worker_limits(timeout, memory_gb),
                   zygote=_zygote(zygote_path) if zygote_path else None, pytest_json=pytest_json)
    catalogue = _catalogue(config)
    try:
        return [_json(report) for report in
                grade_submissions([locate(path, label) for path, label in entries], catalogue, **options)]
    except Exception:  # noqa: BLE001 - fall back to one session per student to find whose problem it is
        if len(entries) == 1:
            raise
    reports = []
    for path, label in entries:
        try:
            reports.append(_json(grade_submission(locate(path, label), catalogue, **options)))
        except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
            reports.append(f"grading failed: {type(exc).__name__}: {exc}")
    return reports


def _json(report) -> dict:
    data = to_json(report)
    return data if report.pytest_json is None else {**data, "pytest_json": report.pytest_json}


# Grading processes run side by side, one per core: threads within one would only fight over the cores.
torch.set_num_threads(1)
gc.freeze()
