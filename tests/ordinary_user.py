"""Run as root, the tests also grade as an ordinary uid: the path instructors take on their own machines.

CI runs as root in a clone that other users may not enter, with an interpreter in a home they may not
enter; bubblewrap (as root, no user namespace) shows that uid the project and the interpreter at their own
paths, and `setpriv` drops to it.
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from grader.sandbox import detect, python_executable, unprivileged_command

ORDINARY_UID = 59999  # no one's


def outermost_closed_folder(path: Path) -> Path | None:
    """The outermost folder on the way to path that other users cannot enter (a 0700 home or clone)."""
    return next((folder for folder in reversed(path.parents) if not folder.stat().st_mode & 0o001), None)


def ordinary_user_view(needed: list[Path], writable: Path) -> list[str]:
    """As root: bubblewrap options that let another uid reach `needed` (read-only) and `writable` at their own
    paths, each closed folder on the way replaced by an empty one that others can enter."""
    closed = {outermost_closed_folder(path) for path in (*needed, writable)} - {None}
    options = ["--dev-bind", "/", "/"]
    for folder in sorted(closed):
        options += ["--tmpfs", str(folder)]
    made = {folder for path in (*needed, writable) for folder in path.parents
            if any(folder.is_relative_to(empty) and folder != empty for empty in closed)}
    for folder in sorted(made):  # what bubblewrap creates for the binds, open to others
        options += ["--perms", "0755", "--dir", str(folder)]
    for path in sorted(needed):
        options += ["--ro-bind", str(path), str(path)]
    return [*options, "--bind", str(writable), str(writable)]


@contextlib.contextmanager
def ordinary_user_session():
    """As root: {"folder": a folder ORDINARY_UID owns, "run": run(argv, timeout), which runs this interpreter
    with argv as that uid in this project's folder}; skips, saying why, where it cannot."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run as an ordinary user")
    if not shutil.which("setpriv"):
        pytest.skip("dropping to an ordinary uid needs util-linux's setpriv")
    folder = Path(tempfile.mkdtemp(prefix="ordinary-user-")).resolve()
    folder.chmod(0o755)
    os.chown(folder, ORDINARY_UID, ORDINARY_UID)
    needed = {ROOT, *(Path(p).resolve() for p in (sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)))}
    view = [detect().bwrap, *ordinary_user_view(sorted(needed), folder), "--die-with-parent", "--chdir", str(ROOT)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(ROOT)}

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        command = [*view, *unprivileged_command([python_executable(), *argv], ORDINARY_UID)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)

    probe = run(["-c", "import sys, torch, grader.batch\nif sys.base_prefix != " + repr(sys.base_prefix)
                 + ": raise SystemExit('it cannot read its own installation')"], timeout=120)
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        shutil.rmtree(folder)
        pytest.skip(f"uid {ORDINARY_UID} cannot run {python_executable()} with torch and this project ({said})")
    yield {"folder": folder, "run": run}
    shutil.rmtree(folder, ignore_errors=True)
