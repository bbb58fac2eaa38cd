"""The notebook version of the exercises, and a real nbgrader course: generate, submit, autograde."""
import ast
import json
import subprocess
import sys

import pytest

pytest.importorskip("nbgrader")

import nbformat  # noqa: E402 (nbgrader's dependency, skipped with it)
import torch  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402

from conftest import ROOT, run_cli  # noqa: E402
from grader.catalogue import load  # noqa: E402
from grader.errors import UsageError  # noqa: E402
from grader.platforms.nbgrader_course import write_course  # noqa: E402
from grader.notebook_version import source_notebook, student_notebook  # noqa: E402
from grader.pipeline import grade  # noqa: E402
from grader.submission import CONTRACT_NAMES, ROLE_KEY  # noqa: E402
from notebook_submissions import SOLUTIONS, filled, nbgrader_env  # noqa: E402

CATALOGUE = load()
# Two students: autograding runs the notebook in a kernel, with one grading run per test cell position.
STUDENTS = {"honest": {}, "mask_diagonal": {"CausalAttention": "mask_includes_diagonal",
                                              "MultiHeadAttention": "mask_includes_diagonal"}}


def source_of(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def code_lines(notebook) -> set[str]:
    return {line.strip() for cell in notebook["cells"] if cell["cell_type"] == "code"
            for line in source_of(cell).splitlines()}


def solution_lines() -> set[str]:
    """Lines of the solutions' function bodies and constants that the exercises' stubs do not show."""
    source = SOLUTIONS.read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            found |= {line.strip() for line in lines[body[0].lineno - 1:node.end_lineno]}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            found |= {line.strip() for line in lines[node.lineno - 1:node.end_lineno]}
    shown = {line.strip() for line in (ROOT / "exercises" / "attention.py").read_text().splitlines()}
    return found - shown - {""}


def outputs(course, student) -> dict[str, list]:
    """Each code cell's outputs in the student's autograded notebook, by cell id."""
    autograded = json.loads((course / "autograded" / student / "attention" / "attention.ipynb").read_text())
    return {c["id"]: c["outputs"] for c in autograded["cells"] if c["cell_type"] == "code"}


def nbgrader(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=nbgrader_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course written by the CLI, released and autograded by nbgrader for each of STUDENTS."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    result = run_cli("nbgrader", course)
    assert result.returncode == 0, result.stderr
    assert str(course) in result.stdout
    nbgrader("generate_assignment", "attention", "--force", cwd=course)
    release = json.loads((course / "release" / "attention" / "attention.ipynb").read_text())
    for student, swaps in STUDENTS.items():
        folder = course / "submitted" / student / "attention"
        folder.mkdir(parents=True)
        (folder / "attention.ipynb").write_text(json.dumps(filled(release, swaps)))
    nbgrader("autograde", "attention", "--force", "--Execute.timeout=600", cwd=course)
    return course


def test_release_has_no_solution_code_and_is_the_student_notebook(course):
    release = json.loads((course / "release" / "attention" / "attention.ipynb").read_text())
    assert not code_lines(release) & solution_lines()
    assert [source_of(c) for c in release["cells"]] == [c["source"] for c in student_notebook(CATALOGUE)["cells"]]


def test_autograded_totals_match_the_grader(course):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course.name) as gradebook:
        for student in STUDENTS:
            notebook = course / "submitted" / student / "attention" / "attention.ipynb"
            report = grade(str(notebook), config=course / "source" / "attention" / "assignment.toml")
            graded = {g.name: g.score for g in gradebook.find_submission_notebook("attention", "attention",
                                                                                  student).grades}
            expected = {f"test_{c.concept.id}": c.score for c in report.concepts}
            assert graded == pytest.approx(expected, abs=0.01), (student, outputs(course, student))
            assert gradebook.find_submission("attention", student).score == pytest.approx(report.score, abs=0.01)
        cells = gradebook.find_submission_notebook("attention", "attention", "mask_diagonal").grades
        lost = {g.name: g.max_score - g.score for g in cells if g.score < g.max_score}
    assert set(lost) == {"test_causal_mask"}  # the mask's checks; its layers keep the contract and pass


def test_honest_student_gets_full_marks_and_test_cells_write_no_stderr(course):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course.name) as gradebook:
        total = gradebook.find_submission("attention", "honest").score
    assert total == sum(c.points for c in CATALOGUE.concepts), outputs(course, "honest")
    for student in STUDENTS:
        cells = outputs(course, student)
        assert not [o for out in cells.values() for o in out if o["output_type"] == "error"
                    or o.get("name") == "stderr"], (student, cells)
    cell = outputs(course, "mask_diagonal")["test_causal_mask"]
    printed = "".join(t for o in cell if o.get("name") == "stdout" for t in o["text"])
    assert "graded causal_mask: 3/12" in printed and "mask_includes_diagonal" in printed  # concept_score's feedback
    (shown,) = [o["data"] for o in cell if o["output_type"] == "display_data"]  # check()'s rich result
    plain, page = "".join(shown["text/plain"]), "".join(shown["text/html"])
    assert "self-check causal_mask: 6/12" in plain and "[××]" in plain  # the text form, heatmap included
    assert "The mask also hides the diagonal" in page and page.count("<svg") == 3  # yours, expected, legend
    passed = [o["data"] for o in outputs(course, "honest")["test_causal_mask"] if o["output_type"] == "display_data"]
    assert "passed" in "".join(passed[0]["text/html"]) and "<svg" not in "".join(passed[0]["text/html"])


def test_student_notebook_has_no_solutions_and_every_name_is_a_stub():
    notebook = student_notebook(CATALOGUE)
    text = json.dumps(notebook)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "concept_score(" not in text
    assert not code_lines(notebook) & solution_lines()
    namespace = {}
    for cell in notebook["cells"]:
        # The test cells do nothing outside Jupyter; the demo cells call the stubs.
        if cell["cell_type"] == "code" and cell["metadata"].get(ROLE_KEY, {}).get("role") != "demo":
            exec(compile(cell["source"], cell["id"], "exec"), namespace)
    assert all(name in namespace for name in CONTRACT_NAMES)
    with pytest.raises(NotImplementedError):
        namespace["attention_scores"](torch.ones(2, 3))
    with pytest.raises(NotImplementedError):
        namespace["MultiHeadAttention"](3, 2, 6, 0.0, num_heads=2)


def test_grading_cells_do_nothing_outside_jupyter(capsys):
    from grader.in_notebook import check, concept_score

    assert concept_score("causal_mask") == 0.0 and check("causal_mask") is None
    assert capsys.readouterr() == ("", "")


def test_student_notebook_grades_zero_and_source_notebook_full_marks(tmp_path):
    for name, notebook, expected in (("student", student_notebook(CATALOGUE), 0),
                                     ("source", source_notebook(CATALOGUE), 100)):
        nbformat.validate(nbformat.from_dict(notebook))
        path = tmp_path / f"{name}.ipynb"
        path.write_text(json.dumps(notebook))
        report = grade(str(path))
        assert report.status == "graded" and report.score == expected, name
    assert all("not implemented yet" in " ".join(c.feedback) for c in grade(str(tmp_path / "student.ipynb")).concepts)


def test_course_files_are_kept_or_replaced_as_asked(tmp_path):
    course = tmp_path / "new" / "course"
    assert write_course(course) == course
    config = course / "nbgrader_config.py"
    assert "c.CourseDirectory.course_id = 'course'" in config.read_text()
    config.write_text("# mine\n")
    result = run_cli("nbgrader", course)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "attention.ipynb exists" in result.stderr and "--force" in result.stderr
    write_course(course, force=True)
    assert config.read_text() == "# mine\n"
    assert (course / "source" / "attention" / "assignment.toml").read_text() == \
        (ROOT / "grader" / "assignment.toml").read_text()


def test_course_with_a_config_and_bad_paths(tmp_path, write):
    config = write("two.toml", "[points]\ncausal_mask = 10\ngpt2_sizing = 5\n")
    course = write_course(tmp_path / "course", config=config)
    notebook = json.loads((course / "source" / "attention" / "attention.ipynb").read_text())
    points = {c["id"]: c["metadata"]["nbgrader"]["points"] for c in notebook["cells"]
              if c["metadata"].get("nbgrader", {}).get("grade")}
    assert points == {"test_causal_mask": 10, "test_gpt2_sizing": 5}
    with pytest.raises(UsageError, match="is a file"):
        write_course(config)
    with pytest.raises(UsageError, match="not found"):
        write_course(tmp_path / "other", config=tmp_path / "missing.toml")
