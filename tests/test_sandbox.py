"""The sandbox's parts: what a worker may see, the unprivileged fallback, and the warning about what is missing."""
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli, solution_source
from grader.catalogue import load
from grader.pipeline import grade_submission
from grader.sandbox import (PROJECT_DIR, SANDBOX_UID_BASE, Sandbox, bwrap_command, can_run_python_as, detect,
                            private_worker_package)
from grader.submission import locate


def test_bwrap_command_binds_only_the_python_installation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current folder (often the class's) must never be bound
    worker_dir = private_worker_package(tmp_path / "worker")
    command = bwrap_command(Sandbox("/usr/bin/bwrap", True), ["python"], {}, None, "cpu", 61234, worker_dir)
    bound = [command[i + 1] for i, flag in enumerate(command) if flag == "--ro-bind"]
    assert "--unshare-net" in command and "--unshare-pid" in command and "--die-with-parent" in command
    assert str(tmp_path) not in bound and "/" not in bound and str(worker_dir) in bound
    venv = str(Path(sys.prefix).resolve())  # CI's virtual environment lives inside the project: only it is bound
    assert not [p for p in bound if p.startswith(str(PROJECT_DIR)) and not p.startswith(venv)]
    assert sorted(p.name for p in (worker_dir / "grader").iterdir()) == ["__init__.py", "limits.py", "wire.py",
                                                                          "worker.py", "zygote.py"]
    assert command[-8:] == ["setpriv", "--reuid=61234", "--regid=61234", "--clear-groups", "--pdeathsig", "keep", "--",
                            "python"]
    assert "--cap-add" not in command


def test_the_zygote_keeps_root_with_only_the_capabilities_it_needs(tmp_path):
    command = bwrap_command(Sandbox("/usr/bin/bwrap", True), ["python"], {}, None, "cpu", None,
                            private_worker_package(tmp_path / "worker"))
    assert command[-1] == "python" and "setpriv" not in command
    kept = [command[i + 1] for i, flag in enumerate(command) if flag == "--cap-add"]
    assert command[command.index("--cap-drop") + 1] == "ALL"
    assert sorted(kept) == ["CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SYS_ADMIN"]


@pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv")),
                    reason="needs root and setpriv")
def test_without_namespaces_root_runs_workers_as_another_user(tmp_path):
    if not can_run_python_as(SANDBOX_UID_BASE):  # the probe the grader itself asks before it drops to that uid
        pytest.skip("this Python cannot start under another uid: it is installed in a folder other users cannot "
                    "enter (a clone in a 0700 folder); the grader then keeps workers under its own uid")
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden expected values")
    secret.chmod(0o600)
    locked = tmp_path / "results"
    locked.mkdir(mode=0o755)
    probe = textwrap.dedent(f"""
        import os
        print("UID", os.getuid())
        for attempt in (lambda: open({str(secret)!r}).read(), lambda: open({str(locked / 'results.json')!r}, "w")):
            try:
                attempt()
                print("ALLOWED")
            except OSError:
                print("DENIED")
        """)
    (tmp_path / "attention.py").write_text(solution_source() + probe)
    report = grade_submission(locate(str(tmp_path / "attention.py")), load(),
                              sandbox=Sandbox(None, True, ("file-system isolation",)), concepts=("attention_scores",))
    assert report.score == 6
    assert "UID 0" not in report.output and "UID" in report.output
    assert report.output.count("DENIED") == 2 and "ALLOWED" not in report.output
    assert not (locked / "results.json").exists()


def test_missing_protections_are_named_once(tmp_path):
    result = run_cli("solutions", "--no-sandbox", "--concept", "attention_scores")
    assert result.returncode == 0
    assert result.stderr.count("warning: student code runs without") == 1
    assert "--no-sandbox" in result.stderr


@pytest.mark.skipif(not detect().isolated, reason="bubblewrap is not available on this machine")
def test_a_sandboxed_folder_submission_imports_its_own_helpers_only(tmp_path):
    (tmp_path / "classmate.py").write_text("SECRET = 1\n")
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "helpers.py").write_text("SCALE = 0.5\n")
    (folder / "attention.py").write_text(solution_source() + textwrap.dedent("""
        import helpers
        try:
            import classmate
            print("CLASSMATE FOUND")
        except ImportError:
            print("no classmate")
        """))
    report = grade_submission(locate(str(folder)), load(), concepts=("attention_scores",))
    assert report.score == 6 and "no classmate" in report.output


@pytest.mark.skipif(not detect().isolated, reason="bubblewrap is not available on this machine")
def test_a_confined_worker_uses_the_cpu_kernels_the_grader_was_told_to(write, monkeypatch):
    # bubblewrap starts the worker with an empty environment: ATEN_CPU_CAPABILITY must be passed on by name.
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    source = "import torch\nprint('kernels:', torch.backends.cpu.get_cpu_capability())\n" + solution_source()
    report = grade_submission(locate(str(write("attention.py", source))), load(), concepts=("attention_scores",))
    assert report.score == 6 and "kernels: DEFAULT" in report.output
