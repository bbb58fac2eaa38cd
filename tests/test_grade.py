"""The reference gets full marks, the stubs get zero, and every hand-written mutant loses exactly its concepts."""
import tomllib

import pytest

from conftest import ROOT, SUBMISSIONS, assert_report_fits, solution_source
from edited_submissions import MISTAKES, apply_edits
from grader import grade
from grader.catalogue import load
from grader.pipeline import FILE_DOES_NOT_RUN, grade_submissions
from grader.reporters import render_table
from grader.submission import locate

EXPECTED = tomllib.loads((SUBMISSIONS / "expected.toml").read_text())
HAND_WRITTEN = sorted(name for name in EXPECTED if (SUBMISSIONS / f"{name}.py").is_file())


def lost_concepts(report):
    return sorted(c.concept.id for c in report.concepts if c.score < c.concept.points)


def test_solutions_get_full_marks():
    report = grade(str(ROOT / "solutions"))
    assert report.status == "graded" and report.error is None
    assert (report.score, report.max_score) == (100, 100)
    assert all(t.status == "passed" for c in report.concepts for t in c.tests)


def test_stubs_get_zero_with_not_implemented_feedback():
    report = grade(str(ROOT / "exercises"))
    assert_report_fits(report, 80)
    assert report.status == "graded"
    assert report.score == 0
    for concept in report.concepts:
        assert concept.status == "error"
        assert concept.feedback and concept.feedback[0].startswith("not implemented yet"), concept.feedback


def assert_graded_as_expected(report, expected):
    """The report loses exactly the expected concepts and names the expected misconceptions, with feedback."""
    assert report.status == "graded", report.error
    assert lost_concepts(report) == sorted(expected["lose"])
    named = {m for c in report.concepts for m in c.misconceptions}
    assert set(expected["misconceptions"]) <= named, named
    catalogue = load()
    for concept in report.concepts:
        if concept.score < concept.concept.points:
            assert concept.feedback, f"{concept.concept.id} lost points without feedback"
        for misconception in concept.misconceptions:
            assert concept.concept.id in catalogue.misconceptions[misconception].concepts
            assert catalogue.misconceptions[misconception].feedback in concept.feedback


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_hand_written_submission(name):
    report = grade(str(SUBMISSIONS / f"{name}.py"))
    assert_graded_as_expected(report, EXPECTED[name])
    assert_report_fits(report, 80)


def test_every_catalogued_misconception_has_a_hand_written_mutant():
    covered = {m for entry in EXPECTED.values() for m in entry["misconceptions"]}
    assert set(load().misconceptions) <= covered


def test_grading_is_deterministic():
    first = grade(str(SUBMISSIONS / "mask_after_softmax.py"))
    second = grade(str(SUBMISSIONS / "mask_after_softmax.py"))
    assert [(c.concept.id, c.score, c.misconceptions) for c in first.concepts] == \
           [(c.concept.id, c.score, c.misconceptions) for c in second.concepts]


BROKEN = {"syntax_error": "import torch\ndef attention_scores(:\n    pass\n",
          "import_error": "import torch\nimport no_such_module_for_attention\n" + solution_source()}


@pytest.fixture(scope="module")
def broken_and_transposed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messages")
    sources = {**BROKEN, "transposed": apply_edits(solution_source(), MISTAKES["transpose_of_a_batch"])}
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(source)
    graded = grade_submissions([locate(str(folder / f"{name}.py")) for name in sources], load())
    return dict(zip(sources, graded))


@pytest.mark.parametrize("name, stopped", [("syntax_error", "SyntaxError: invalid syntax at "),
                                           ("import_error", "ModuleNotFoundError: No module named")])
def test_a_file_that_does_not_run_is_reported_once_with_its_line(broken_and_transposed, name, stopped):
    report = broken_and_transposed[name]
    assert report.error.startswith(f"the file does not run: {stopped}") and ", line 2: " in report.error
    assert report.notes == () and report.pictures == () and report.score == 0
    assert all(c.feedback == (FILE_DOES_NOT_RUN,) and c.status == "error" for c in report.concepts)
    text = render_table(report)
    assert text.count("line 2") == 1 and "not defined" not in text and "could not be drawn" not in text
    assert text.count(FILE_DOES_NOT_RUN) == len(report.concepts)


def test_a_transpose_of_a_batch_is_explained_in_the_concepts_row(broken_and_transposed):
    report = broken_and_transposed["transposed"]
    explanation = load().misconceptions["transpose_of_a_batch"].feedback
    row = next(c for c in report.concepts if c.concept.id == "causal_mask")
    assert "transpose_of_a_batch" in row.misconceptions and explanation in row.feedback
    table = " ".join(render_table(report, width=200).split("Total:")[0].split())
    assert ".T on a batched tensor (transpose_of_a_batch)" in table and " ".join(explanation.split()) in table
