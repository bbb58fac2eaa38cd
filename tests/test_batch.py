"""Batch grading a class: every entry form, LMS names, errors that never stop the class, resumable output."""
import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, run_cli, solution_source
from grader.batch.entries import student_id
from test_submission_forms import notebook


@pytest.mark.parametrize("name, expected", [
    ("alice.py", "alice"),
    ("alice", "alice"),
    ("bob.ipynb", "bob"),
    ("smithjohn_12345_67890_attention.py", "smithjohn"),
    ("smithjohn_late_12345_67890_attention.ipynb", "smithjohn"),
    ("Jane Doe_4242_assignsubmission_file_attention.py", "Jane_Doe"),
    ("Attention_jdoe7_attempt_2026-11-27-10-30-00_attention.py", "jdoe7"),
    ("s1234_2_attention.py", "s1234"),
    ("erin.zip", "erin"),
])
def test_student_ids_from_lms_file_names(tmp_path, name, expected):
    path = tmp_path / name
    path.mkdir() if "." not in name else path.write_text("")
    assert student_id(path) == expected


def make_class(root: Path) -> Path:
    """A small class with every kind of entry."""
    klass = root / "class"
    klass.mkdir()
    (klass / "alice.py").write_text(solution_source())
    shutil.copy(SUBMISSIONS / "mask_includes_diagonal.py", klass / "bob_11_22_attention.py")
    (klass / "carol.ipynb").write_text(notebook(("code", solution_source())))
    (klass / "dave").mkdir()
    shutil.copy(SUBMISSIONS / "unscaled_scores.py", klass / "dave" / "attention.py")
    (klass / "erin.ipynb").write_text("{this is not json")
    with zipfile.ZipFile(klass / "frank.zip", "w") as archive:
        archive.writestr("exercises/attention.py", solution_source())
        archive.writestr("exercises/README.md", "my work")
    with zipfile.ZipFile(klass / "gina.zip", "w") as archive:
        archive.writestr("notes.txt", "nothing to grade")
    (klass / "hugo" / "attention").mkdir(parents=True)  # nbgrader's submitted/<student>/<assignment>/
    (klass / "hugo" / "attention" / "attention.ipynb").write_text(notebook(("code", solution_source())))
    (klass / "ivan_1_attention.py").write_text(solution_source())
    (klass / "ivan_2_attention.py").write_text(solution_source())
    (klass / "index.html").write_text("<p>LMS index</p>")
    return klass


def read_grades(out: Path) -> dict:
    with open(out / "grades.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    klass = make_class(root)
    result = run_cli("batch", klass, "--out", root / "out", "--jobs", "2", timeout=900)
    assert result.returncode == 0, result.stderr
    return root, klass, result


def test_every_entry_gets_a_row_and_the_right_total(graded_class):
    root, _, result = graded_class
    grades = read_grades(root / "out")
    assert list(grades) == sorted(grades) == ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo", "ivan"]
    totals = {student: (float(row["total"]), row["status"]) for student, row in grades.items()}
    assert totals["alice"] == totals["carol"] == totals["frank"] == totals["hugo"] == (100.0, "graded")
    # bob keeps two tests of causal_mask's eight: its layers keep the contract, its softmax normalises the keys
    assert totals["bob"] == (91.0, "graded") and float(grades["bob"]["causal_mask"]) == 3
    assert totals["dave"] == (92.0, "graded")
    for student in ("erin", "gina", "ivan"):
        assert totals[student] == (0.0, "error")
    with open(root / "out" / "grades.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[0] == "student" and header[-3:] == ["total", "max_total", "status"]
    assert header[1:-3][:3] == ["attention_scores", "attention_weights", "context_vectors"]


def test_errors_name_the_problem(graded_class):
    root, _, _ = graded_class
    reports = {p.stem: json.loads(p.read_text()) for p in (root / "out" / "reports").glob("*.json")}
    assert "not JSON" in reports["erin"]["error"]
    assert "nothing gradable" in reports["gina"]["error"]
    assert "ivan_1_attention.py" in reports["ivan"]["error"] and "ivan_2_attention.py" in reports["ivan"]["error"]
    assert "index" not in reports


def test_feedback_pages_and_summary_work_offline(graded_class):
    root, _, _ = graded_class
    feedback = (root / "out" / "feedback" / "bob.html").read_text()
    report = json.loads((root / "out" / "reports" / "bob.json").read_text())
    assert "mask_includes_diagonal" in feedback and f"Score: {report['score']:g}/100<" in feedback
    assert "hidden/" not in feedback and "Expected values are shown for this public example only" in feedback
    assert report["pictures"] and feedback.count("<figure") == len(report["pictures"])
    assert "The mask also hides the diagonal" in feedback
    summary = (root / "out" / "summary.html").read_text()
    assert "<svg" in summary and "<script" not in summary and "http://" not in summary.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in summary
    assert "mask_includes_diagonal" in summary and "unscaled_scores" in summary
    assert "index.html" in summary  # skipped entries are listed


def test_rerun_reuses_unchanged_reports_and_regrades_changes(graded_class, tmp_path):
    root, klass, _ = graded_class
    out = root / "out"
    before = (out / "grades.csv").read_bytes()
    again = run_cli("batch", klass, "--out", out)
    assert again.returncode == 0 and "0 graded" in again.stdout
    assert (out / "grades.csv").read_bytes() == before
    one = run_cli("batch", klass, "--out", out, "--student", "dave")
    assert "1 graded" in one.stdout
    assert (out / "grades.csv").read_bytes() == before


def test_grades_are_identical_whatever_the_number_of_jobs(graded_class):
    root, klass, _ = graded_class
    result = run_cli("batch", klass, "--out", root / "serial", "--jobs", "1", timeout=900)
    assert result.returncode == 0
    assert (root / "serial" / "grades.csv").read_bytes() == (root / "out" / "grades.csv").read_bytes()


def test_a_hanging_submission_does_not_stop_the_class(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "honest.py").write_text(solution_source())
    (klass / "stuck.py").write_text("while True:\n    pass\n" + solution_source())
    result = run_cli("batch", klass, "--out", tmp_path / "out", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    grades = read_grades(tmp_path / "out")
    assert grades["honest"]["total"] == "100.00" and grades["stuck"]["status"] == "error"


def test_bad_batch_input_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_notes").mkdir()
    (tmp_path / "only_notes" / "notes.txt").write_text("x")
    for args, message in ((["missing"], "submissions folder not found"), (["empty"], "no submissions"),
                          (["only_notes"], "no submissions")):
        result = run_cli("batch", *args, "--out", "out", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and result.stderr.strip().count("\n") == 0
    (tmp_path / "klass").mkdir()
    (tmp_path / "klass" / "a.py").write_text("")
    result = run_cli("batch", "klass", "--out", "out", "--student", "zed", cwd=tmp_path)
    assert result.returncode == 2 and "no student 'zed'" in result.stderr
    result = run_cli("batch", "klass", cwd=tmp_path)
    assert result.returncode == 2 and "--out" in result.stderr


def test_concepts_and_points_come_from_the_config_file(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(SUBMISSIONS / "mask_includes_diagonal.py", klass / "bob.py")
    config = tmp_path / "hw3.toml"
    config.write_text("[points]\ncausal_mask = 20\nattention_scores = 5\n")
    result = run_cli("batch", klass, "--out", tmp_path / "out", "--config", config)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["student", "attention_scores", "causal_mask", "total", "max_total", "status"],
                    ["bob", "5.00", "5.00", "10.00", "25.00", "graded"]]


@pytest.mark.parametrize("students", [1, 2, 5, 17, 60, 203, 1000])
@pytest.mark.parametrize("jobs", [1, 2, 3, 8, 32])
def test_a_clusters_sessions_shrink_so_that_its_threads_finish_together(students, jobs):
    """Every student in one session, in order; sessions as large as before at first (progress still shows), then
    never more than a thread's share of the students left, down to one student in the last session where
    several threads share the class."""
    from grader.batch.options import MAX_CHUNK, chunk_sizes, split_into_chunks

    sizes = chunk_sizes(students, jobs)
    assert sum(sizes) == students and min(sizes) >= 1 and max(sizes) <= MAX_CHUNK
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == max(1, min(MAX_CHUNK, -(-students // (jobs * 4))))
    if jobs > 1:
        left = students
        for size in sizes:
            assert size <= -(-left // jobs)
            left -= size
        assert sizes[-1] == 1
    else:
        assert len(set(sizes[:-1])) <= 1
    items = list(range(students))
    assert [item for chunk in split_into_chunks(items, jobs) for item in chunk] == items
