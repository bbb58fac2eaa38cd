"""The suites runner: a mis-tagged test stops grading with a message instead of scoring silently, and tests
called directly get the verdicts pytest's own protocol gives them."""
import pytest

from conftest import SUBMISSIONS, grade_json, solution_source
from edited_submissions import CASES, apply_edits, case_source
from grader.catalogue import load
from grader.errors import GraderError
from grader.isolation import Launcher
from grader.pipeline import grade_submissions
from grader.plugin import GradingPlugin
from grader.proxy import StudentProxy
from grader.reporters import to_json
from grader.runner import run_suites
from grader.sandbox import detect
from grader.submission import Submission, locate
from grader.zygote_client import ZygoteClient, ZygoteServer
from test_layouts import CONTRACT_OFF, STACKED


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


def one_suite(root, name: str, body: str):
    """A suite of one file, named apart from the other tests' (pytest keeps a suite module it imported once)."""
    (root / "public").mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "public" / f"test_{name}.py").write_text(f"from grader.checks import concept\n\n{body}")


class Student:
    """A StudentRun whose worker never starts: the suites below never call the student's code."""

    def open(self):
        return StudentProxy(Submission("x.py", None), Launcher(detect()))

    def finish(self, outcomes, pictures):
        self.outcomes = outcomes


def test_ctrl_c_while_the_suites_run_reaches_the_caller(tmp_path):
    """pytest catches Ctrl-C; the runner raises it again, so that --watch and the CLI end as the user asked."""
    one_suite(tmp_path, "ctrl_c",
              '@concept("causal_mask", visibility="public")\ndef test_x():\n    raise KeyboardInterrupt\n')
    with pytest.raises(KeyboardInterrupt):
        run_suites([Student()], "cpu", ("causal_mask",), root=tmp_path)


def test_a_suite_that_cannot_be_collected_is_the_graders_error_not_an_interrupt(tmp_path):
    one_suite(tmp_path, "broken", "this is not python\n")
    with pytest.raises(GraderError, match="could not run"):
        run_suites([Student()], "cpu", ("causal_mask",), root=tmp_path)


def test_feedback_names_the_students_line(tmp_path, write):
    source = solution_source().replace("    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)",
                                       "    raise ValueError('scores went wrong')", 1)
    report = grade_json(write("attention.py", source), "--concept", "attention_scores", tmp_path=tmp_path)
    feedback = " ".join(report["concepts"][0]["feedback"])
    assert "ValueError: scores went wrong" in feedback
    line = source.splitlines().index("    raise ValueError('scores went wrong')") + 1
    assert f"attention.py, line {line}" in feedback



def test_tests_called_directly_get_the_verdicts_pytest_gives(tmp_path, monkeypatch):
    # Hand-written submissions (correct ones, each catalogued mistake, crashes, hangs, missing names), every
    # layout and mistake of the edited ones, and a layout the grader does not recognise.
    sources = {path.stem: path.read_text() for path in SUBMISSIONS.glob("*.py")}
    sources.update({name: case_source(name) for name in CASES})
    sources["stacked"] = apply_edits(solution_source(), STACKED)
    paths = []
    for name, source in sorted(sources.items()):
        paths.append(tmp_path / f"{name}.py")
        paths[-1].write_text(source)
    config = tmp_path / "assignment.toml"
    config.write_text(CONTRACT_OFF)

    with ZygoteServer(detect(True), "cpu") as server:
        def graded():
            reports = grade_submissions([locate(str(p)) for p in paths], load(config),
                                        zygote=ZygoteClient(server.path))
            return [to_json(report) for report in reports]

        direct = graded()
        monkeypatch.setattr(GradingPlugin, "callable_directly", lambda self, item: False)
        through_pytest = graded()
    assert any(r["score"] < r["max_score"] for r in direct)
    assert any(t["outcome"] == "skipped" for r in direct for t in r["tests"])  # the unrecognised layout's
    for path, ours, pytests in zip(paths, direct, through_pytest):
        assert ours == pytests, path.stem
