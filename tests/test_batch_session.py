"""A batch's grading process keeps one pytest session and grades in it each student it is handed; a session that
fails costs only the student it was grading, who is graded alone, and the next student gets a new session."""
import pytest

from conftest import solution_source
from grader import runner
from grader.batch import job
from grader.batch.options import BatchOptions
from grader.pipeline import Grading
from grader.sandbox import detect
from grader.zygote_client import ZygoteServer

STUDENTS = ("ada", "bob", "cy", "dee")


@pytest.fixture
def hand_out(tmp_path, monkeypatch):
    """Grade the named students one at a time as a grading process does; returns their reports and how many
    pytest sessions ran."""
    sessions = []
    session = runner._session

    def counted(*args, **kwargs):
        sessions.append(args)
        return session(*args, **kwargs)
    monkeypatch.setattr(runner, "_session", counted)
    for student in STUDENTS:
        (tmp_path / f"{student}.py").write_text(solution_source())
    sandbox = detect(True)
    options = BatchOptions()

    def grade(students):
        with ZygoteServer(sandbox, "cpu") as server:
            reports = [job.grade_in_session((str(tmp_path / f"{s}.py"), f"{s}.py", s), options, server.path, sandbox)
                       for s in students]
            job._session(options, server.path, sandbox).close()
        job._session.cache_clear()
        return reports, len(sessions)
    return grade


def total(report) -> float:
    return sum(concept.score for concept in report.concepts)


def test_one_session_grades_every_student_handed_to_it(hand_out):
    reports, sessions = hand_out(STUDENTS)
    assert [r.status for r in reports] == ["graded"] * len(STUDENTS)
    assert {total(r) for r in reports} == {100.0}
    assert [r.submission for r in reports] == [f"{s}.py" for s in STUDENTS]
    assert sessions == 1


def test_a_failed_session_costs_its_student_a_session_of_their_own_and_the_next_gets_a_new_one(hand_out,
                                                                                              monkeypatch):
    finish = Grading.finish
    failed = []

    def fails_once_for_bob(self, outcomes, pictures):
        if self.submission.display_path == "bob.py" and not failed:
            failed.append(True)
            raise RuntimeError("the session broke")
        return finish(self, outcomes, pictures)
    monkeypatch.setattr(Grading, "finish", fails_once_for_bob)
    reports, sessions = hand_out(STUDENTS)
    assert failed, "the failure was never met"
    assert [r.status for r in reports] == ["graded"] * len(STUDENTS)
    assert {total(r) for r in reports} == {100.0}
    assert sessions == 3  # ada and bob's, bob's own, then cy and dee's
