"""What a student looks at: feedback pages, the class summary, the terminal report and the JSON, with their pictures."""
import json
import re
from html.parser import HTMLParser

import pytest

from conftest import grade_forked, run_cli, solution_source
from edited_submissions import MISTAKES, apply_edits
from grader.catalogue import load
from grader.feedback.pages import feedback_html, summary_html
from grader.reporters import render_table, to_json
from grader.submission import locate

SOFTMAX_OVER_QUERIES = [("return torch.softmax(scores, dim=-1)  # (..., T, T)",
                         "return torch.softmax(scores, dim=0)  # (..., T, T)")]
CLASS = {"ada": [], "ben": MISTAKES["mask_includes_diagonal"],
         "cy": MISTAKES["mask_includes_diagonal"] + SOFTMAX_OVER_QUERIES, "dee": MISTAKES["heads_share_weights"]}
VOID = {"meta", "br", "hr", "img", "input", "link", "stop", "rect", "line", "path", "circle"}


class Page(HTMLParser):
    """Parses a page, failing on unbalanced tags, and keeps what the tests look at."""

    def __init__(self, text: str):
        super().__init__()
        self.stack, self.tags, self.links, self.svg_titles = [], [], [], 0
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "title" and "svg" in self.stack:
            self.svg_titles += 1
        self.links += [value for name, value in attrs if name in ("href", "src")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.links += [value for name, value in attrs if name in ("href", "src")]

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def count(self, tag, **attrs):
        return sum(1 for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items()))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    paths = []
    for student, edits in CLASS.items():
        paths.append(folder / f"{student}.py")
        paths[-1].write_text(apply_edits(solution_source(), edits))
    graded = grade_forked([locate(str(p)) for p in paths], load())
    return {student: report for student, report in zip(CLASS, graded)}


def test_the_json_report_carries_every_picture_as_plain_json(reports):
    data = to_json(reports["ben"])
    text = json.dumps(data, allow_nan=False)  # NaN is not JSON: it is written as null
    pictures = json.loads(text)["pictures"]
    assert len(pictures) == len(reports["ben"].pictures)
    causal = next(p for p in pictures if p["concept"] == "causal_mask")
    assert set(causal) >= {"concept", "label", "tokens", "student", "expected"}
    assert causal["student"][0] == [None] * 6 and causal["expected"][0][0] == 1.0
    concept = next(c for c in data["concepts"] if c["id"] == "causal_mask")
    assert concept["diagnoses"] == [{"id": "mask_includes_diagonal", "title": "The mask also hides the diagonal"}]


def test_the_feedback_page_draws_each_picture_inline_with_alt_text_tables_and_titles(reports):
    report = reports["ben"]
    text = feedback_html("ben", report)
    page = Page(text)
    assert page.count("figure") == len(report.pictures)
    assert page.count("svg") == 3 * len(report.pictures)  # yours, expected (or training mode), the legend
    assert page.svg_titles == 2 * len(report.pictures)  # each heatmap has a title and a description
    assert page.count("table", **{"class": "values"}) == 2 * len(report.pictures)
    assert all(link.startswith("#") for link in page.links), page.links  # offline: no outside resource
    assert "<script" not in text and "<img" not in text
    causal = next(p for p in report.pictures if p.concept == "causal_mask")
    differing = sum(map(sum, causal.differs))
    index = report.pictures.index(causal)
    own_cells = re.findall(rf'<svg[^>]*aria-labelledby="p{index}-s-t.*?</svg>', text, re.S)[0]
    assert own_cells.count('stroke-width="3"') == differing == 6 + 2 + 3 + 4 + 5 + 6  # the NaN row, each row shifted
    assert own_cells.count(f'fill="url(#p{index}-s-nan)"') == 6
    assert "<strong>The mask also hides the diagonal</strong> <code>mask_includes_diagonal</code>" in text
    assert "Expected values are shown for this public example only" in text


def test_a_correct_submissions_page_outlines_nothing(reports):
    text = feedback_html("ada", reports["ada"])
    Page(text)
    heatmaps = re.findall(r'<svg[^>]*aria-labelledby="p\d+-s-t.*?</svg>', text, re.S)
    assert heatmaps and not any('stroke-width="3"' in svg for svg in heatmaps)


def test_the_summary_links_misconceptions_to_students_and_shows_anonymous_examples(reports):
    text = summary_html(reports, load().concepts, [])
    page = Page(text)
    assert {"feedback/ada.html", "feedback/ben.html", "feedback/cy.html", "feedback/dee.html"} <= set(page.links)
    row = re.search(r'<tr><td id="m-mask_includes_diagonal">.*?</tr>', text).group(0)
    assert "The mask also hides the diagonal" in row and "feedback/ben.html" in row and "feedback/cy.html" in row
    assert '<td class="num">2</td>' in row and "feedback/dee.html" not in row
    examples = text.split("What the most frequent ones look like")[1].split("<h2>Students</h2>")[0]
    assert examples.count("<figure") == 3  # one heatmap each for the three most frequent misconceptions
    assert "feedback/" not in examples and not any(f">{name}<" in examples for name in CLASS), "not anonymous"
    assert "#m-heads_share_weights" in page.links  # the per-concept counts link to the misconception


def test_the_terminal_report_draws_failing_concepts_in_text_only(reports):
    text = render_table(reports["ben"])
    assert "causal_mask: CausalAttention on \"Your journey starts with one step\"" in text
    assert "[××][××][××][××][××][××]" in text and "\x1b[" not in text  # readable without colour
    assert "The mask also hides the diagonal (mask_includes_diagonal)" in text.replace("\n", " ").replace(
        "   ", " ") or "The mask also hides the diagonal" in text
    assert "multihead_wrapper:" not in text  # a passed concept draws nothing
    assert "××" not in render_table(reports["ben"], pictures=False)
    assert "Your journey" not in render_table(reports["ada"])


def test_the_cli_writes_the_feedback_page_and_can_leave_pictures_out(tmp_path):
    submission = tmp_path / "mine.py"
    submission.write_text(apply_edits(solution_source(), MISTAKES["mask_wrong_triangle"]))
    page = tmp_path / "feedback.html"
    shown = run_cli(submission, "--html", page, env={"COLUMNS": "300"})  # the path on one line
    assert shown.returncode == 0, shown.stderr
    assert "[" in shown.stdout and "causal_mask: CausalAttention on" in shown.stdout
    assert f"Wrote the feedback page to {page}\n" in shown.stdout
    parsed = Page(page.read_text())
    assert parsed.count("figure") >= 6 and "The mask hides the past instead of the future" in page.read_text()
    quiet = run_cli(submission, "--no-pictures")
    assert quiet.returncode == 0 and "causal_mask: CausalAttention on" not in quiet.stdout
    refused = run_cli(submission, "--html", submission)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "part of the submission" in refused.stderr
    assert submission.read_text().startswith('"""Reference solutions')  # not overwritten
