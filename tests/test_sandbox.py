"""The sandbox's parts: what a worker may see, the unprivileged fallback, and the warning about what is missing."""
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, solution_source
from grader.catalogue import load
from grader.pipeline import grade_submission
from grader.sandbox import (SANDBOX_UID_BASE, Sandbox, WorkerView, bwrap_command, can_run_python_as, detect,
                            private_worker_package, project_dir, worker_view)
from grader.submission import locate


def test_bwrap_command_binds_only_the_python_installation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current folder (often the class's) must never be bound
    worker_dir = private_worker_package(tmp_path / "worker")
    command = bwrap_command(Sandbox("/usr/bin/bwrap", True), ["python"], {}, None, "cpu", 61234, worker_dir)
    bound = [command[i + 1] for i, flag in enumerate(command) if flag == "--ro-bind"]
    assert "--unshare-net" in command and "--unshare-pid" in command and "--die-with-parent" in command
    assert str(tmp_path) not in bound and "/" not in bound and str(worker_dir) in bound
    venv = str(Path(sys.prefix).resolve())  # CI's virtual environment lives inside the project: only it is bound
    assert not [p for p in bound if p.startswith(str(ROOT)) and not p.startswith(venv)]
    assert sorted(p.name for p in (worker_dir / "grader").iterdir()) == ["__init__.py", "limits.py", "part_repairs.py",
                                                                          "wire.py", "worker.py", "worker_state.py",
                                                                          "zygote.py"]
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


def site_packages_of(prefix: Path) -> Path:
    """Where pip installs into a virtual environment at prefix, made (empty) there."""
    folder = Path(site.getsitepackages([str(prefix)])[0])
    folder.mkdir(parents=True)
    return folder


def make_install(kind: str, tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """A checkout and a virtual environment laid out as `kind` installs them: returns (sys.prefix as Python
    sees it, the grader package's resolved folder, extra folders on sys.path)."""
    checkout = tmp_path / "checkout"
    for name in ("grader/suites/hidden", "solutions", "tests", "exercises"):
        (checkout / name).mkdir(parents=True)
    if kind == "editable checkout":  # an older editable install puts the checkout itself on sys.path
        site_packages_of(tmp_path / "home" / "venv")
        return tmp_path / "home" / "venv", checkout / "grader", [checkout]
    if kind == "venv inside the checkout":
        site_packages_of(checkout / ".venv")
        return checkout / ".venv", checkout / "grader", []
    if kind == "wheel in a venv":
        package = site_packages_of(tmp_path / "opt" / "venv") / "grader"
        (package / "suites" / "hidden").mkdir(parents=True)
        return tmp_path / "opt" / "venv", package, []
    assert kind == "wheel in a venv under /tmp reached through a symlink"
    package = site_packages_of(tmp_path / "real" / "venv") / "grader"
    (package / "suites" / "hidden").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "venv")
    return tmp_path / "link", package, []


def visible(view: WorkerView, path: Path) -> bool:
    path = path.resolve()
    return (any(path == b or b in path.parents for b in view.bound)
            and not any(path == h or h in path.parents for h in view.hidden))


INSTALLS = ("editable checkout", "venv inside the checkout", "wheel in a venv",
            "wheel in a venv under /tmp reached through a symlink")


@pytest.mark.parametrize("kind", INSTALLS)
def test_the_worker_sees_the_installation_and_nothing_of_the_project(kind, tmp_path, monkeypatch):
    prefix, grader_dir, extra = make_install(kind, tmp_path)
    base = tmp_path / "base"
    (base / "lib").mkdir(parents=True)
    site_packages = Path(site.getsitepackages([str(prefix)])[0])  # through the symlink, as sys.path has it
    for name, value in {"prefix": str(prefix), "exec_prefix": str(prefix), "base_prefix": str(base),
                        "path": ["", str(base / "lib"), str(site_packages), *map(str, extra)]}.items():
        monkeypatch.setattr(sys, name, value)
    (tmp_path / "class").mkdir()
    monkeypatch.chdir(tmp_path / "class")
    view = worker_view(grader_dir)
    assert prefix.resolve() in view.bound and visible(view, site_packages) and visible(view, base / "lib")
    installed = kind.startswith("wheel")
    assert project_dir(grader_dir) == (None if installed else tmp_path / "checkout")
    checkout = tmp_path / "checkout"
    for secret in (grader_dir, grader_dir / "suites" / "hidden", checkout / "solutions", checkout / "tests",
                   checkout / "exercises", tmp_path / "class"):
        assert not visible(view, secret), secret
    assert view.hidden == ((grader_dir,) if installed else ())  # a wheel's package sits inside the bound venv


ROOT_WITH_BWRAP = hasattr(os, "geteuid") and os.geteuid() == 0 and detect().isolated and shutil.which("setpriv")
# What a worker runs as: its uid and its effective capabilities.
PRINTS_ITS_POWERS = """
import os, re
print("UID", os.getuid(), "CAPS", re.search(r"CapEff:\\s*(\\w+)", open("/proc/self/status").read())[1])
"""


@pytest.mark.skipif(not ROOT_WITH_BWRAP, reason="needs root, bubblewrap and setpriv")
@pytest.mark.parametrize("mode", [0o755, 0o700])
def test_as_root_workers_keep_its_uid_where_another_cannot_reach_the_installation(mode, tmp_path):
    """A virtual environment other users cannot enter (made under umask 077, or in a clone in a 0700 folder
    bound whole) is graded with workers under root's uid, in user namespaces of their own, without any
    capability; alone and forked by a batch's zygote."""
    if mode == 0o755 and not can_run_python_as(SANDBOX_UID_BASE, detect().bwrap):
        pytest.skip("another uid cannot reach the tests' own Python installation, so no venv built on it can "
                    "show workers dropping to it")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = sysconfig.get_path("purelib")  # torch and numpy; the grader comes from the checkout
    (Path(sysconfig.get_path("purelib", vars={"base": str(venv)})) / "ours.pth").write_text(f"{ours}\n{ROOT}\n")
    venv.chmod(mode)
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.py").write_text(solution_source() + PRINTS_ITS_POWERS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    python = str(venv / "bin" / "python")
    for argv, report in ((["class/alice.py", "--concept", "attention_scores", "--json", "alone.json"], "alone.json"),
                         (["batch", "class", "--out", "out"], "out/reports/alice.json")):
        result = subprocess.run([python, "-m", "grader", *argv], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        graded = json.loads((tmp_path / report).read_text())
        assert graded["status"] == "graded" and graded["concepts"][0]["score"] == 6, graded["error"]
        uid, capabilities = re.search(r"UID (\d+) CAPS (\w+)", graded["output"]).groups()
        assert int(capabilities, 16) == 0, argv
        assert int(uid) == 0 if mode == 0o700 else int(uid) >= SANDBOX_UID_BASE, argv


def test_a_path_entry_of_tmp_itself_leaves_the_worker_its_private_tmp(monkeypatch):
    """PYTHONPATH=/tmp must not bind the host's /tmp, read-only, over the sandbox's private one: torch's imports
    need a writable temporary folder (the zygote's meta kernels failed to load without one)."""
    monkeypatch.setattr(sys, "path", [sys.path[0], "/tmp", "/dev/shm", *sys.path[1:]])
    bound = worker_view().bound
    assert Path("/tmp") not in bound and Path("/dev/shm") not in bound
