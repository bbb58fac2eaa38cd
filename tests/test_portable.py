"""The portable backend, which macOS and Windows use, tested on Linux by simulation: the grader's own code sees
only what CPython on Windows offers (tests/simulated_os), or a setrlimit that refuses an address-space limit
as macOS does. Neither OS has run these for real here; the README says so."""
import ast
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli, solution_source

SIMULATION = ROOT / "tests" / "simulated_os"
LINUX_BACKEND = {"grader/isolation/linux.py", "grader/sandbox.py", "grader/zygote.py", "grader/zygote_client.py"}
POSIX_ONLY = {"os": {"fork", "forkpty", "killpg", "getuid", "geteuid", "getgid", "setsid", "register_at_fork",
                     "pread", "set_blocking", "waitpid", "WNOHANG", "getpgid", "setpgid", "setuid", "setgid",
                     "setgroups"},
              "signal": {"SIGKILL", "SIGHUP", "SIGXFSZ"}, "select": {"select"}, "ctypes": {"CDLL"}}
POSIX_MODULES = {"resource", "fcntl", "pwd", "grp", "termios"}
# Every POSIX-only name the grader uses outside the Linux backend, and why that is safe on Windows.
KNOWN = {
    ("grader/isolation/portable.py", "os.killpg"): "only where os has killpg (macOS): ends the student's processes",
    ("grader/isolation/portable.py", "signal.SIGKILL"): "with os.killpg only",
    ("grader/limits.py", "ctypes.CDLL"): "prctl where the C library has it; Windows' TypeError is caught",
    ("grader/limits.py", "resource"): "imported inside set_limits, which reports every limit refused without it",
    ("grader/limits.py", "signal.SIGKILL"): "after prctl was found: Linux only",
    ("grader/scratch.py", "os.getuid"): "remove_stale returns at once where os has no getuid (Windows)",
    ("grader/worker.py", "/proc"): "stray_processes, run only with --isolated (the Linux backend)",
    ("grader/worker_state.py", "/proc"): "resources_used: where there is no /proc, the address space is not said",
    ("grader/worker.py", "os.WNOHANG"): "stray_processes, run only with --isolated",
    ("grader/worker.py", "os.pread"): "nothing_ever_started, run only with --isolated",
    ("grader/worker.py", "os.waitpid"): "stray_processes, run only with --isolated",
    ("grader/worker.py", "os.register_at_fork"): "PipeChannel (Linux), and SocketChannel where os has it",
    ("grader/worker.py", "signal.SIGXFSZ"): "only where signal has SIGXFSZ",
}


def posix_only_uses() -> set[tuple[str, str]]:
    """(file, name) for each POSIX-only module, name, argument or path the grader uses outside the Linux backend."""
    found = set()
    for path in sorted((ROOT / "grader").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in LINUX_BACKEND:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.attr in POSIX_ONLY.get(node.value.id, ()):
                found.add((relative, f"{node.value.id}.{node.attr}"))
            elif isinstance(node, ast.Import):
                found |= {(relative, a.name) for a in node.names if a.name.split(".")[0] in POSIX_MODULES}
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in POSIX_MODULES:
                    found.add((relative, node.module))
                found |= {(relative, f"{node.module}.{a.name}") for a in node.names
                          if a.name in POSIX_ONLY.get(node.module, ())}
            elif isinstance(node, ast.keyword) and node.arg in ("preexec_fn", "pass_fds"):
                found.add((relative, node.arg))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/proc"):
                found.add((relative, "/proc"))
    return found


def test_posix_only_names_stay_in_the_linux_backend():
    found = posix_only_uses()
    assert not found - set(KNOWN), f"new POSIX-only names outside the Linux backend: {sorted(found - set(KNOWN))}"
    assert not set(KNOWN) - found, f"no longer used, remove from KNOWN: {sorted(set(KNOWN) - found)}"


def simulated(os_name: str, *args, cwd=ROOT, timeout=600, env=None):
    """The CLI as it runs on `os_name` (windows or macos), simulated here."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": f"{SIMULATION}{os.pathsep}{ROOT}",
           "SIMULATED_OS": os_name, "GRADER_ISOLATION": "portable"}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_simulation_blocks_what_windows_lacks_for_the_grader_and_its_worker():
    probe = ("import grader.limits as limits, grader.worker as worker\n"
             "print(limits.set_limits({'as': 2**40}, strict=False), hasattr(worker.os, 'register_at_fork'),"
             " hasattr(worker.signal, 'SIGKILL'))\n"
             "import subprocess, sys\n"
             "print(subprocess.run([sys.executable, '-c', 'import grader.worker as w; print(hasattr(w.os, \"fork\"))'],"
             " env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': sys.argv[1]}, capture_output=True, text=True).stdout)\n")
    env = {**os.environ, "PYTHONPATH": f"{SIMULATION}{os.pathsep}{ROOT}", "SIMULATED_OS": "windows"}
    result = subprocess.run([sys.executable, "-c", probe, str(ROOT)], env=env, capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["('as',)", "False", "False", "False"]  # in a child with a rebuilt env too


def test_on_windows_help_a_self_check_and_a_batch_work(tmp_path):
    helped = simulated("windows", "--help")
    assert helped.returncode == 0 and "usage: python -m grader" in helped.stdout, helped.stderr
    checked = simulated("windows", ROOT / "solutions", "--no-pictures", "--json", tmp_path / "self.json")
    assert checked.returncode == 0, checked.stderr
    assert "Total: 100/100" in checked.stdout and "Traceback" not in checked.stderr
    assert json.loads((tmp_path / "self.json").read_text())["score"] == 100
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "alice.py").write_text(solution_source())
    for name in ("mask_includes_diagonal", "unscaled_scores"):
        shutil.copy(SUBMISSIONS / f"{name}.py", klass / f"{name}.py")
    batch = simulated("windows", "batch", klass, "--out", tmp_path / "out")
    assert batch.returncode == 0, batch.stderr
    native = run_cli("batch", klass, "--out", tmp_path / "native")
    assert native.returncode == 0, native.stderr
    assert (tmp_path / "out" / "grades.csv").read_bytes() == (tmp_path / "native" / "grades.csv").read_bytes()


def test_on_macos_a_refused_memory_limit_still_grades_to_full_marks():
    checked = simulated("macos", ROOT / "solutions", "--no-pictures")
    assert checked.returncode == 0, checked.stderr
    assert "Total: 100/100" in checked.stdout and "Traceback" not in checked.stderr
    # The Linux backend, which sets limits before the worker runs, would fail here as it does on a real Mac.
    env = {**os.environ, "PYTHONPATH": f"{SIMULATION}{os.pathsep}{ROOT}", "SIMULATED_OS": "macos"}
    probe = subprocess.run([sys.executable, "-c", "import grader.limits as l; l.set_limits({'as': 2**32})"],
                           env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert probe.returncode != 0 and "ValueError" in probe.stderr


def test_a_notebook_check_works_on_windows(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat and nbclient come with the nbgrader extra")
    nbclient = pytest.importorskip("nbclient", reason="nbformat and nbclient come with the nbgrader extra")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(solution_source()),
        nbformat.v4.new_code_cell("from grader.in_notebook import check\ncheck('causal_mask')"),
    ])
    for name, value in (("PYTHONPATH", f"{SIMULATION}{os.pathsep}{ROOT}"), ("SIMULATED_OS", "windows"),
                        ("GRADER_ISOLATION", "portable")):
        monkeypatch.setenv(name, value)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [o for o in notebook.cells[1].outputs if o["output_type"] == "display_data"]
    errors = [o for cell in notebook.cells for o in cell.outputs if o["output_type"] == "error"]
    assert not errors, errors
    assert shown and "self-check causal_mask: 12/12" in shown[0]["data"]["text/plain"]


def test_the_portable_backend_grades_every_submission_as_the_linux_backend(corpus_batch, tmp_path):
    """Every hand-written and edited submission, the unrunnable ones among them: the same grades.csv."""
    env = {**os.environ, "GRADER_ISOLATION": "portable", "PYTHONPATH": str(ROOT)}
    portable = subprocess.run([sys.executable, "-m", "grader", "batch", str(corpus_batch / "class"), "--out",
                               str(tmp_path / "portable")], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=2400)
    assert portable.returncode == 0, portable.stderr
    grades = {folder: list(csv.reader(path.open())) for folder, path in (
        ("linux", corpus_batch / "out" / "grades.csv"), ("portable", tmp_path / "portable" / "grades.csv"))}
    assert len(grades["linux"]) > 80 and grades["portable"] == grades["linux"]


def test_a_portable_worker_that_ends_before_it_connects_could_not_start(monkeypatch, write):
    """The grader's failure, reported as such, and the grading process goes on (no traceback)."""
    from grader import sandbox
    from grader.catalogue import load
    from grader.pipeline import grade_submission
    from grader.submission import locate

    monkeypatch.setattr(sandbox, "python_executable", lambda: shutil.which("false"))
    portable = sandbox.Sandbox(None, False, sandbox.unconfined_missing(), backend="portable")
    report = grade_submission(locate(str(write("attention.py", solution_source()))), load(),
                              concepts=("attention_scores",), sandbox=portable)
    assert report.grader_fault and report.status == "error"
    assert report.error.startswith("grader error, not the student's: the worker could not start"), report.error
