"""The grader's temporary folders: named after the machine and the process that made them, so that a later
run can remove what a killed one left behind (SIGKILL runs no cleanup), and only on the machine where that
process ran: a TMPDIR on a filesystem that cluster nodes share holds other nodes' folders, whose pids mean
nothing here."""
import os
import platform
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

KINDS = ("worker", "zygote", "task")


@cache
def node() -> str:
    """This machine's short host name, as it stands in a folder's name."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", platform.node().split(".")[0]) or "node"


@cache
def _own_name() -> re.Pattern:
    # The pid is the number between this node's name and tempfile's random suffix, which holds no hyphen: a
    # node named "n1" never takes "n1-2"'s folders for its own.
    return re.compile(rf"grader-(?:{'|'.join(KINDS)})-{re.escape(node())}-(\d+)-[^-]+")


def maker(name: str) -> int | None:
    """The pid of the process on this machine that made the grader folder called `name`; None for another
    machine's folder or a name the grader does not give."""
    found = _own_name().fullmatch(name)
    return int(found[1]) if found else None


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory:
    """A private temporary folder for a worker, a zygote or a cluster task of this process."""
    return tempfile.TemporaryDirectory(prefix=f"grader-{kind}-{node()}-{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def remove_stale() -> int:
    """Remove this user's grader folders made on this machine by a process that has ended; returns how many were
    removed. Not on Windows, which tells no folder's owner and where os.kill(pid, 0) would end the process."""
    if not hasattr(os, "getuid"):
        return 0
    removed = 0
    for path in Path(tempfile.gettempdir()).glob("grader-*"):
        pid = maker(path.name)
        try:
            mine = path.lstat().st_uid == os.getuid()
        except OSError:
            continue
        if pid is not None and mine and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
