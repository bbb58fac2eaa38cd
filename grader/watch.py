"""`python -m grader --watch`: grade a submission again each time it is saved.

The workers are kept between gradings (grader.isolation.kept), so a grading after the first imports no torch.
A save is noticed by polling the submission's files (their modification times and sizes) a few times a
second: no file-system events, no dependency.
"""
import time
from pathlib import Path
from typing import Callable

from grader.errors import UsageError
from grader.submission import SUFFIXES, locate

POLL_SECONDS = 0.2


def watched_path(given: str) -> Path:
    """The submission to watch; UsageError, in one line, where there is none to grade (no such path, a folder
    without the exercises' file or with several)."""
    submission = locate(given)  # raises UsageError where the path does not exist
    if submission.file is None:
        raise UsageError(f"cannot watch {given}: {submission.problem}")
    return Path(given)


def snapshot(path: Path) -> tuple | None:
    """What a change of the submission changes: each of its files' modification time and size (a folder's
    code and notebooks, its own modules in subfolders included); None while it is missing (an editor that
    saves by replacing the file)."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                       and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(path).parts))
    else:
        return None
    seen = []
    for file in files:
        try:
            status = file.stat()
        except OSError:  # removed meanwhile
            continue
        seen.append((str(file), status.st_mtime_ns, status.st_size))
    return tuple(seen)


def watch(path: Path, grade_and_show: Callable[[], None], poll: float = POLL_SECONDS, sleep=time.sleep) -> None:
    """Call grade_and_show now, then after every change of the submission at `path`; never returns (Ctrl-C's
    KeyboardInterrupt reaches the caller). A change made while it grades is graded next."""
    last = snapshot(path)
    while True:
        grade_and_show()
        while True:
            sleep(poll)
            now = snapshot(path)
            if now is not None and now != last:
                last = now
                break
