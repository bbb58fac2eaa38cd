"""What a batch's grading processes run: grade one student, with a worker forked by the batch's zygote.

The pool's fork server imports this module once, so every grading process starts with torch, pytest and
the grader already imported, and with those objects frozen out of the garbage collector's way (pytest
collects garbage after every session).
"""
import gc
from functools import cache
from pathlib import Path

import pytest  # noqa: F401 - imported once here for every grading process
import pytest_jsonreport.plugin  # noqa: F401
import torch  # noqa: F401

import grader.probes  # noqa: F401 - what the suites import
from grader.catalogue import load as load_catalogue
from grader.pipeline import grade_submission, worker_limits
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


def grade_one(path: str, label: str, device: str, timeout: float, config: str, sandbox: bool, memory_gb: float,
              zygote_path: str | None) -> dict:
    """Grade one submission and return its JSON report."""
    return to_json(grade_submission(locate(path, label), _catalogue(config), device=device, timeout=timeout,
                                    sandbox=detect(sandbox), limits=worker_limits(timeout, memory_gb),
                                    zygote=_zygote(zygote_path) if zygote_path else None))


# Grading processes run side by side, one per core: threads within one would only fight over the cores.
torch.set_num_threads(1)
gc.freeze()
