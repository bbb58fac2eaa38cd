"""What a student reads in the terminal report and on the feedback page, from hand-made reports: the same words
and the same numbers in both, nothing about layouts, and nothing drawn for code not written yet."""
import re

from grader.catalogue import load
from grader.feedback.pages import feedback_html, summary_html
from grader.feedback.wording import count, fraction
from grader.in_notebook import CheckedConcept
from grader.reporters import render_table, to_json
from grader.results import ConceptResult, Picture, Report, TestOutcome

CATALOGUE = load()
WEIGHTS = ((1.0, 0.0), (0.5, 0.5))
LAYOUT = "CausalAttention: q/k/v in W_query, W_key, W_value, mask in self.mask (the attribute contract)"


def result(concept_id: str, *statuses: str, not_implemented: bool = False, message: str | None = None,
           misconception: str | None = None, feedback: tuple[str, ...] = ()) -> ConceptResult:
    tests = tuple(TestOutcome(f"t::{concept_id}_{i}", concept_id, "public", status, message, misconception,
                              not_implemented) for i, status in enumerate(statuses))
    titles = ((misconception, CATALOGUE.misconceptions[misconception].title),) if misconception else ()
    return ConceptResult(CATALOGUE.concept(concept_id), tests, feedback, titles)


def report(*concepts: ConceptResult, **fields) -> Report:
    return Report(submission="mine.py", status="graded", error=None, device="cpu", grader_version="0",
                  suites_hash="x", concepts=concepts, **fields)


NOT_WRITTEN = "not implemented yet (mine.py, line 45)"
STUB = result("attention_weights", "error", "error", not_implemented=True, message=NOT_WRITTEN, feedback=(NOT_WRITTEN,))
MASKED = result("causal_mask", "passed", "passed", "passed", "failed", misconception="mask_includes_diagonal",
                feedback=(CATALOGUE.misconceptions["mask_includes_diagonal"].feedback,))
STUB_PICTURE = Picture("attention_weights", "attention_weights(scores)", ("a", "b"), None, WEIGHTS, problem=NOT_WRITTEN)
MASK_PICTURE = Picture("causal_mask", "CausalAttention", ("a", "b"), ((float("nan"), float("nan")), (1.0, 0.0)),
                       WEIGHTS)
WITH_A_STUB = report(STUB, MASKED, pictures=(STUB_PICTURE, MASK_PICTURE), layouts=(LAYOUT,))


def row(text: str, concept_id: str) -> str:
    """A concept's row of the terminal table, its wrapped lines included."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(concept_id))
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:25].strip() or not lines[i].strip())
    return " ".join(line.strip() for line in lines[start:end])


def test_an_unwritten_concept_says_not_written_yet_and_draws_nothing():
    text = render_table(WITH_A_STUB)
    assert "not written yet" in row(text, "attention_weights") and "error" not in row(text, "attention_weights")
    assert "could not be drawn" not in text and "attention_weights: attention_weights(scores)" not in text
    assert "causal_mask: CausalAttention" in text  # a written concept that lost points is still drawn
    page = feedback_html("mine", WITH_A_STUB)
    assert "not written yet" in page and "Could not be drawn" not in page
    assert 'id="pictures-attention_weights"' not in page
    assert 'href="#pictures-causal_mask"' in page and 'href="#pictures-attention_weights"' not in page


def test_a_written_concept_that_failed_keeps_its_status():
    text = render_table(WITH_A_STUB)
    assert "failed" in row(text, "causal_mask") and "not written" not in row(text, "causal_mask")


def test_the_layouts_are_the_instructors_not_in_the_students_view():
    assert "Layout" not in render_table(WITH_A_STUB) and "attribute contract" not in render_table(WITH_A_STUB)
    assert "attribute contract" not in feedback_html("mine", WITH_A_STUB)
    assert to_json(WITH_A_STUB)["layouts"] == [LAYOUT]


def test_a_release_report_says_public_checks_only_beside_the_score_in_the_terminal_and_on_the_page():
    released = report(MASKED, public_only=True)
    assert "Total: 9/12 (public checks only)" in render_table(released)
    page = feedback_html("me", released)
    assert '<strong>Score: 9/12</strong> <span class="muted">(public checks only)</span>' in page
    assert "public checks only" not in feedback_html("me", report(MASKED)) + render_table(report(MASKED))


def test_scores_read_the_same_on_the_page_as_in_the_terminal():
    text, page = render_table(WITH_A_STUB), feedback_html("mine", WITH_A_STUB)
    assert "9/12" in row(text, "causal_mask") and '<td class="num">9/12</td>' in page
    assert "Total: 9/18" in text and "Score: 9/18" in page and not re.search(r"\d / \d", page)
    thirds = report(result("causal_mask", "passed", "failed", "failed"))
    assert "4/12" in render_table(thirds) and '<td class="num">4/12</td>' in feedback_html("me", thirds)
    assert fraction(4.5, 6) == "4.5/6" and fraction(2.67, 8) == "2.67/8" and fraction(6.0, 6) == "6/6"


def test_the_class_page_counts_in_words_and_shows_an_example_students_heatmap():
    one = summary_html({"ada": report(MASKED, pictures=(MASK_PICTURE,))}, CATALOGUE.concepts, [])
    assert "<p>1 student, 1 graded, 0 with errors. Mean score 9/100, median 9.</p>" in one
    examples = one.split("What the most frequent ones look like")[1]
    assert "An example student&#x27;s" in examples and "Yours" not in examples
    assert "Yours" in feedback_html("ada", report(MASKED, pictures=(MASK_PICTURE,)))  # the student's own page
    assert count(1, "student") == "1 student" and count(0, "student") == "0 students"
    assert count(2, "entry", "entries") == "2 entries"


def test_whether_a_concept_is_written_survives_the_json():
    again = Report.from_json(to_json(WITH_A_STUB))
    assert [c.not_written for c in again.concepts] == [True, False]
    assert render_table(again) == render_table(WITH_A_STUB)


def test_a_notebook_check_of_an_unwritten_concept_draws_nothing():
    checked = CheckedConcept(STUB, (STUB_PICTURE,), "self-check")
    assert checked.text().splitlines() == ["self-check attention_weights: 0/6 (not written yet)", f"  - {NOT_WRITTEN}"]
    assert "Could not be drawn" not in checked._repr_html_() and "not written yet" in checked._repr_html_()
    assert "causal_mask: CausalAttention" in CheckedConcept(MASKED, (MASK_PICTURE,), "self-check").text()


def test_the_report_ends_with_where_its_files_were_written_wrapped_to_the_width():
    long_path = "/home/student/" + "attention/" * 8 + "feedback.html"
    text = render_table(report(MASKED), width=60, written=(("JSON report", "r.json"), ("feedback page", long_path)))
    assert "Wrote the JSON report to r.json\n" in text and "Wrote the feedback page to /home/student/" in text
    assert max(map(len, text.splitlines())) <= 60
