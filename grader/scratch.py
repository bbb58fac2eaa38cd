"""The grader's temporary folders: named after the process that made them, so that a later run can remove
what a killed one left behind (SIGKILL runs no cleanup)."""
import os
import re
import shutil
import tempfile
from pathlib import Path

NAME = re.compile(r"grader-(?:worker|zygote|task)-(\d+)-.+")


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory:
    """A private temporary folder for a worker, a zygote or a cluster task of this process."""
    return tempfile.TemporaryDirectory(prefix=f"grader-{kind}-{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def remove_stale() -> int:
    """Remove this user's grader folders whose process has ended; returns how many were removed. Not on
    Windows, which tells no folder's owner and where os.kill(pid, 0) would end the process."""
    if not hasattr(os, "getuid"):
        return 0
    removed = 0
    for path in Path(tempfile.gettempdir()).glob("grader-*"):
        found = NAME.fullmatch(path.name)
        try:
            mine = path.lstat().st_uid == os.getuid()
        except OSError:
            continue
        if found and mine and not _alive(int(found[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
