"""The suites runner: a mis-tagged test stops grading with a message instead of scoring silently."""
import pytest

from conftest import grade_json, solution_source
from grader.errors import GraderError
from grader.runner import run_suites


@pytest.mark.parametrize("marker", ['@concept("no_such_concept", visibility="public")',
                                    '@concept("causal_mask", visibility="hidden")',
                                    '@concept("causal_mask", visibility="publik")',
                                    ''])
def test_mis_tagged_tests_are_refused(tmp_path, marker):
    (tmp_path / "public").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "public" / "test_x.py").write_text(
        f"from grader.checks import concept\n\n{marker}\ndef test_x():\n    pass\n")
    with pytest.raises(GraderError, match="inconsistent"):
        run_suites([], "cpu", ("causal_mask",), root=tmp_path)


def test_feedback_names_the_students_line(tmp_path, write):
    source = solution_source().replace("    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)",
                                       "    raise ValueError('scores went wrong')", 1)
    report = grade_json(write("attention.py", source), "--concept", "attention_scores", tmp_path=tmp_path)
    feedback = " ".join(report["concepts"][0]["feedback"])
    assert "ValueError: scores went wrong" in feedback
    line = source.splitlines().index("    raise ValueError('scores went wrong')") + 1
    assert f"attention.py, line {line}" in feedback
