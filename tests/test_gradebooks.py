"""Canvas and Moodle gradebooks: a real batch's totals in the files each LMS imports, with nobody dropped."""
import csv
import io
import json

import pytest

from conftest import run_cli, solution_source
from edited_submissions import MISTAKES, apply_edits
from grader.batch.entries import LmsId, find_entries, identify

MISTAKEN = apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"])  # 94/100
CLASS = {
    "smithjane_1001_5001_attention.py": solution_source(),  # Canvas: login_userid_submissionid_name
    "doejohn_late_1002_5002_attention.py": MISTAKEN,
    "leeann_1003_5003_attention.py": solution_source(),  # no gradebook row
    "kimlee.py": MISTAKEN,  # renamed by hand: matched by SIS Login ID
    "carol_1007_6001_attention.py": solution_source(),  # two entries for one student: not graded, left blank
    "carol_1007_6002_attention.py": MISTAKEN,
    "Ann Lee_201_assignsubmission_file_attention.py": solution_source(),  # Moodle: two students, one name
    "Ann Lee_202_assignsubmission_file_attention.py": MISTAKEN,
    "Bob Ray_203_assignsubmission_file_attention.py": MISTAKEN,
}
CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (11),Attention (12345),Current Points\n"
    "    Points Possible,,,,,10.00,50.00,(read only)\n"
    '"Smith, Jane",1001,S1,smithjane,Section A,9.00,,9.00\n'
    '"Doe, John",1002,S2,doejohn,Section A,7.00,,7.00\n'
    '"Lee, Kim",1006,S6,kimlee,Section B,8.00,,8.00\n'
    '"Absent, Max",1004,S4,absentmax,Section B,,,0.00\n'
    '"Two, Carol",1007,S7,carol,Section B,5.00,,5.00\n'
    ",,,,,,,\n"  # a blank line: not a student
)
MOODLE_WORKSHEET = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
    "Participant 201,Ann Lee,ann.lee@example.edu,Submitted for grading,,20.00,Yes,-,-,\n"
    "Participant 202,Ann Lee,ann.lee2@example.edu,Submitted for grading,,20.00,Yes,-,-,\n"
    "Participant 203,Bob Ray,bob@example.edu,Submitted for grading,,20.00,Yes,-,-,\n"
    "Participant 204,Cy No,cy@example.edu,No submission,,20.00,Yes,-,-,\n"
)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_download_names_give_the_student_and_the_lms_number(tmp_path):
    assert identify(tmp_path / "doejohn_late_1002_5002_attention.py") == ("doejohn", LmsId("canvas", "1002"))
    assert identify(tmp_path / "Ann Lee_201_assignsubmission_file_a.py") == ("Ann_Lee", LmsId("moodle", "201"))
    assert identify(tmp_path / "kimlee.py") == ("kimlee", None)
    for name in CLASS:
        (tmp_path / name).write_text("")
    entries, _ = find_entries(tmp_path)
    students = {e.student: e for e in entries}
    assert {"Ann_Lee_201", "Ann_Lee_202", "Bob_Ray", "doejohn", "smithjane"} <= set(students)
    assert [e.student for e in entries if e.problem] == ["carol"]  # two Ann Lees are two students, not a clash
    (tmp_path / "Ann_Lee_201.py").write_text("")  # an id the split gives already taken: one student, two entries
    clash = {e.student: e for e in find_entries(tmp_path)[0]}["Ann_Lee_201"]
    assert "several entries map to student Ann_Lee_201" in clash.problem


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("gradebooks")
    (root / "class").mkdir()
    for name, source in CLASS.items():
        (root / "class" / name).write_text(source)
    result = run_cli("batch", root / "class", "--out", root / "graded", timeout=900)
    assert result.returncode == 0, result.stderr
    (root / "canvas.csv").write_text(CANVAS_EXPORT)
    (root / "worksheet.csv").write_text(MOODLE_WORKSHEET)
    return root


def test_batch_reports_keep_the_lms_id_beside_the_student_id(graded):
    report = json.loads((graded / "graded" / "reports" / "doejohn.json").read_text())
    assert report["lms_id"] == {"lms": "canvas", "id": "1002"} and report["score"] == 94
    assert json.loads((graded / "graded" / "reports" / "kimlee.json").read_text())["lms_id"] is None


def test_canvas_import_scales_totals_and_leaves_rows_without_a_submission_blank(graded):
    out = graded / "canvas_import.csv"
    result = run_cli("export", graded / "graded", "--to", "canvas", "--gradebook", graded / "canvas.csv",
                     "--assignment", "Attention (12345)", "--out", out)
    assert result.returncode == 0, result.stderr
    table = rows(out.read_text())
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Attention (12345)"]
    assert table[1][0].strip() == "Points Possible" and table[1][-1] == "50.00"
    by_id = {row[1]: row[-1] for row in table[2:]}
    assert by_id == {"1001": "50", "1002": "47", "1006": "47", "1004": "", "1007": ""}  # 94% of 50; blank, not 0
    assert "unmatched: not graded (left blank): carol (several entries map to student carol" in result.stderr
    assert "unmatched: graded student without a gradebook row: leeann (Canvas user id 1003)" in result.stderr
    assert "gradebook row without a submission: Absent, Max" in result.stderr
    unmatched = rows((graded / "unmatched.csv").read_text())
    assert {r[1] for r in unmatched[1:]} >= {"leeann", "Absent, Max", "Ann_Lee_201", "Bob_Ray"}


def test_moodle_worksheet_gets_grades_and_misconception_titles(graded):
    out = graded / "worksheet_filled.csv"
    result = run_cli("export", graded / "graded", "--to", "moodle", "--worksheet", graded / "worksheet.csv",
                     "--out", out, "--force")
    assert result.returncode == 0, result.stderr
    table = rows(out.read_text())
    assert table[0] == rows(MOODLE_WORKSHEET)[0]
    by_participant = {row[0]: row for row in table[1:]}
    assert by_participant["Participant 201"][4] == "20" and by_participant["Participant 202"][4] == "18.8"
    assert by_participant["Participant 202"][9] == "Score 94/100. Misconceptions: The mask also hides the diagonal."
    assert by_participant["Participant 201"][9] == "Score 100/100."
    assert by_participant["Participant 204"][4] == "" and "Cy No" in result.stderr
    assert len(table) == len(rows(MOODLE_WORKSHEET))  # every worksheet row kept, in order


def test_bad_export_inputs_are_one_line_errors(graded, tmp_path):
    cases = [
        (["--to", "canvas", "--out", tmp_path / "x.csv"], "needs --gradebook"),
        (["--to", "canvas", "--gradebook", graded / "canvas.csv", "--assignment", "Attention", "--out",
          tmp_path / "x.csv"], "no column 'Attention'"),
        (["--to", "canvas", "--gradebook", graded / "canvas.csv", "--assignment", "Attention (12345)", "--out",
          graded / "canvas.csv"], "the file you exported"),
        (["--to", "moodle", "--worksheet", graded / "canvas.csv", "--out", tmp_path / "x.csv"], "lacks the column"),
        (["--to", "moodle", "--worksheet", tmp_path / "none.csv", "--out", tmp_path / "x.csv"], "not found"),
    ]
    for args, message in cases:
        result = run_cli("export", graded / "graded", *args)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert run_cli("export", tmp_path, "--to", "moodle", "--worksheet", graded / "worksheet.csv", "--out",
                   tmp_path / "y.csv").returncode == 2
    assert (graded / "canvas.csv").read_text() == CANVAS_EXPORT  # the LMS's file is never written
