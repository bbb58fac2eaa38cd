"""The hint ladder: the next hint each time, from the idea to the operation; the level kept beside the submission
and shown to the instructor in the report, never in the grade; no hint quotes the solution."""
import json
import re
import shutil

import pytest

from conftest import ROOT, run_cli, solution_source
from grader.catalogue import load
from grader.hints import HINTS_FILE, levels_taken, next_hint
from grader.pipeline import grade
from grader.results import Report

CATALOGUE = load()


def solution_lines() -> set[str]:
    """The solution's code lines worth quoting: not blank, not comments or docstrings, not a bare keyword."""
    lines = set()
    for line in (ROOT / "solutions" / "attention.py").read_text().splitlines():
        code = line.split("  #")[0].strip()
        if len(code) >= 12 and not code.startswith(("#", '"', "'")):
            lines.add(code)
    return lines


@pytest.mark.parametrize("concept", CATALOGUE.concepts, ids=lambda c: c.id)
def test_each_concept_has_a_ladder_of_two_or_three_hints_that_quote_no_solution_line(concept):
    assert 2 <= len(concept.ladder) <= 3 and len(set(concept.ladder)) == len(concept.ladder)
    quoted = [line for line in solution_lines() for hint in concept.ladder if line in hint]
    assert not quoted, quoted
    assert not re.search(r"\b(self\.\w+\s*=|return\s)", " ".join(concept.ladder))  # no statement of code


def test_the_ladder_climbs_one_step_each_time_and_stays_at_the_last(tmp_path):
    ladder = CATALOGUE.concept("causal_mask").ladder
    shown = [next_hint(CATALOGUE, "causal_mask", tmp_path) for _ in range(len(ladder) + 1)]
    assert [h.level for h in shown] == [*range(1, len(ladder) + 1), len(ladder)]
    assert [h.text for h in shown] == [*ladder, ladder[-1]]
    assert "again for the next one" in shown[0].shown("x") and "the last one" in shown[-1].shown("x")
    next_hint(CATALOGUE, "attention_scores", tmp_path)
    assert levels_taken(tmp_path) == {"causal_mask": len(ladder), "attention_scores": 1}


def test_a_damaged_hints_file_starts_the_ladder_again(tmp_path):
    (tmp_path / HINTS_FILE).write_text("{not json")
    assert levels_taken(tmp_path) == {} and next_hint(CATALOGUE, "causal_mask", tmp_path).level == 1


def test_the_cli_gives_the_next_hint_and_an_unknown_concept_is_one_line(tmp_path):
    folder = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", folder)
    first = run_cli("--hint", "causal_mask", folder)
    second = run_cli("--hint", "causal_mask", folder)
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout.startswith("Hint 1 of 3 for causal_mask: ") and second.stdout.startswith("Hint 2 of 3")
    assert json.loads((folder / HINTS_FILE).read_text()) == {"causal_mask": 2}
    unknown = run_cli("--hint", "masking", folder)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "unknown concept 'masking'" in unknown.stderr


def test_the_report_shows_the_levels_and_the_grade_does_not_change(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "attention.py").write_text(solution_source())
    without = grade(str(folder), concepts=["attention_scores"])
    next_hint(CATALOGUE, "attention_scores", folder)
    next_hint(CATALOGUE, "attention_scores", folder)
    report = grade(str(folder), concepts=["attention_scores"])
    assert report.hints_taken == (("attention_scores", 2),) and without.hints_taken == ()
    assert report.score == without.score == report.max_score
    doc = report.to_json()
    assert doc["hints_taken"] == {"attention_scores": 2} and "hints_taken" not in without.to_json()
    assert Report.from_json(doc).to_json() == doc


def test_in_a_notebook_hint_uses_the_notebooks_folder(tmp_path, monkeypatch, capsys):
    from grader.in_notebook import hint

    monkeypatch.chdir(tmp_path)
    hint("multihead_attention")
    assert capsys.readouterr().out.startswith("Hint 1 of 3 for multihead_attention: ")
    assert 'hint("multihead_attention") again' in (hint("multihead_attention") or capsys.readouterr().out)
    assert levels_taken(tmp_path) == {"multihead_attention": 2}
