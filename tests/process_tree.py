"""The process table as the tests read it from /proc (Linux): who started whom, and which are still running."""
import contextlib
import os
from pathlib import Path


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(stat[1]), stat[0])
    return table


def descendants(root: int) -> set[int]:
    table = process_table()
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent and pid not in found]
        found.update(children)
        todo.extend(children)
    return found


def running(pids: set[int]) -> set[int]:
    table = process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def command_lines(pids: set[int]) -> dict[int, str]:
    """pid -> command line of those still running."""
    found = {}
    for pid in running(pids):
        with contextlib.suppress(OSError):
            found[pid] = Path(f"/proc/{pid}/cmdline").read_text(errors="replace").replace("\0", " ")
    return found


def grading(pids: set[int]) -> dict[int, str]:
    """Those of pids that grade: a cluster worker's grading process, a zygote or a student's worker."""
    return {pid: line for pid, line in command_lines(pids).items()
            if any(name in line for name in ("grader.batch.grading_process", "grader.zygote", "grader.worker"))}
