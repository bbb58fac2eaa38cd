"""`python -m grader --watch`: the report again at each save, the same as `python -m grader` prints, and one line
for bad input and for Ctrl-C."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli, solution_source
from grader.errors import UsageError
from grader.handout_modules import student_modules
from grader.watch import snapshot, watch, watched_path

WATCHING = "watching attention.py: graded again at each save (Ctrl-C ends)\n"


def read_until(stream, line: str, timeout: float = 300) -> str:
    """What the watcher prints up to and including `line`."""
    deadline, text = time.monotonic() + timeout, ""
    while not text.endswith(line):
        assert time.monotonic() < deadline, text
        chunk = stream.readline()
        assert chunk, f"the watcher ended: {text}"
        text += chunk
    return text


def test_each_save_prints_the_report_python_m_grader_prints_and_ctrl_c_ends_in_one_line(tmp_path):
    mistaken = (SUBMISSIONS / "mask_includes_diagonal.py").read_text()
    (tmp_path / "attention.py").write_text(solution_source())
    watcher = subprocess.Popen([sys.executable, "-m", "grader", "--watch", "attention.py"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        reports = [read_until(watcher.stdout, WATCHING)]
        for source in (mistaken, solution_source()):
            (tmp_path / "attention.py").write_text(source)
            reports.append(read_until(watcher.stdout, WATCHING))
        watcher.send_signal(signal.SIGINT)
        _, stderr = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0 and stderr == "stopped watching attention.py\n"
    (tmp_path / "mistaken.py").write_text(mistaken)
    for report, name in zip(reports, ("attention.py", "mistaken.py", "attention.py")):
        fresh = run_cli(name, cwd=tmp_path)
        assert report.removesuffix(WATCHING) == fresh.stdout.replace("mistaken.py", "attention.py")
    assert "Total: 100/100" in reports[0] and "Total: 100/100" not in reports[1]


def test_ctrl_c_while_grading_ends_in_one_line_too(tmp_path):
    (tmp_path / "attention.py").write_text(solution_source() + "\nimport time\ntime.sleep(30)\n")
    watcher = subprocess.Popen([sys.executable, "-m", "grader", "--watch", "attention.py"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(8)  # grading: the top level sleeps
    watcher.send_signal(signal.SIGINT)
    stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0 and stderr == "stopped watching attention.py\n" and not stdout


@pytest.mark.parametrize("given, said", [("missing.py", "submission not found: missing.py"),
                                         ("empty", "cannot watch empty: no .py or .ipynb file in empty defines")])
def test_a_path_with_nothing_to_watch_is_one_line(tmp_path, given, said):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.py").write_text("x = 1\n")
    result = run_cli("--watch", given, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {said}")
    assert result.stderr.count("\n") == 1 and not result.stdout


def test_a_folder_changes_with_its_own_modules_and_not_with_its_caches(tmp_path):
    (tmp_path / "attention.py").write_text(solution_source())
    assert watched_path(str(tmp_path)) == tmp_path
    before = snapshot(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "attention.py").write_text("cached")
    (tmp_path / "notes.txt").write_text("not code")
    assert snapshot(tmp_path) == before
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "masks.py").write_text("MASK = 1\n")
    assert snapshot(tmp_path) != before
    assert snapshot(tmp_path / "gone.py") is None


def test_watch_grades_once_per_change_and_waits_while_the_file_is_missing(tmp_path):
    path = tmp_path / "attention.py"
    path.write_text("a = 1\n")
    # What happens during each poll's sleep: nothing, a save, nothing, a removal, a save, nothing, then Ctrl-C.
    edits = [lambda: None, lambda: path.write_text("a = 22\n"), lambda: None, path.unlink,
             lambda: path.write_text("a = 333\n"), lambda: None]
    graded = []

    def sleep(_):
        if not edits:
            raise KeyboardInterrupt
        edits.pop(0)()

    with pytest.raises(KeyboardInterrupt):
        watch(path, lambda: graded.append(path.read_text()), sleep=sleep)
    assert graded == ["a = 1\n", "a = 22\n", "a = 333\n"]


def test_watch_is_a_student_command():
    assert {"grader.watch", "grader.isolation.kept"} <= student_modules()
    with pytest.raises(UsageError):
        watched_path(str(ROOT / "no such file.py"))
