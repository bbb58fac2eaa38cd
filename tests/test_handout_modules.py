"""A student release holds the modules the student commands import and nothing else: each student command runs
in one where the instructors' modules are really absent, and each instructor command there is a one-line error."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT, clean_env, python_without_the_project, run_cli
from grader.arguments import INSTRUCTOR_COMMANDS
from grader.handout_modules import INSTRUCTORS_ONLY, handout_files

LEFT_OUT = ("instructor_commands.py", "live_reference.py", "release.py", "handout_modules.py", "handout_texts.py",
            "notebook_version.py", "checkout.py", "package_files.py", "batch", "platforms", "suites/hidden")
# The notebook's functions, in an IPython shell as a kernel runs them: the solution's cells, then the grading ones.
IN_NOTEBOOK = """
import sys
from pathlib import Path
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell(Path(sys.argv[1]).read_text(), store_history=True)
for line in ("from grader.in_notebook import check, concept_score, hint", "check('causal_mask')",
             "print('score', concept_score('causal_mask'))", "hint('causal_mask')"):
    if not shell.run_cell(line, store_history=True).success:
        raise SystemExit(f"failed: {line}")
"""


@pytest.fixture(scope="module")
def student(release, tmp_path_factory):
    """run(*args, cwd=release, env=None): `python -m grader ARGS` (or python ARGS with python=True) in the release,
    with a Python that has torch and the rest but not this project."""
    home = tmp_path_factory.mktemp("student")
    python = python_without_the_project(home / "venv")

    def run(*args, cwd=release, env=None, python_only=False):
        argv = [str(python), *([] if python_only else ["-m", "grader"]), *map(str, args)]
        return subprocess.run(argv, cwd=cwd, env=clean_env(home, **(env or {})), capture_output=True, text=True,
                              timeout=300)
    return run


def test_the_release_holds_the_student_modules_only(release):
    held = sorted(p.relative_to(release / "grader") for p in (release / "grader").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)
    assert [p for p in held if p.suffix == ".py"] == [p for p in handout_files() if p.suffix == ".py"]
    for name in LEFT_OUT:
        assert not (release / "grader" / name).exists(), name
    assert {"grader.instructor_commands", "grader.live_reference"} == set(INSTRUCTORS_ONLY)


def test_every_student_command_runs_where_the_instructor_modules_are_absent(release, student, tmp_path):
    probe = student("-c", "import importlib.util as u; print(u.find_spec('grader.instructor_commands'))",
                    python_only=True)
    assert probe.stdout.strip() == "None", probe.stderr  # the instructors' modules are really absent
    modules = [".".join(("grader", *p.with_suffix("").parts)).removesuffix(".__init__").removesuffix(".__main__")
               for p in handout_files() if p.suffix == ".py" and "suites" not in p.parts]
    imported = student("-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)", *modules,
                       python_only=True)
    assert imported.returncode == 0, imported.stderr

    stubs = student("--no-pictures")
    assert stubs.returncode == 0 and "Total: 0/100 (public checks only)" in stubs.stdout, stubs.stderr
    mine = tmp_path / "mine.py"
    shutil.copy(ROOT / "solutions" / "attention.py", mine)
    outputs = {"--json": tmp_path / "r.json", "--html": tmp_path / "f.html", "--pytest-json": tmp_path / "p.json"}
    graded = student(mine, "--concept", "causal_mask", "--fail-under", "100%",
                     *[str(part) for option, path in outputs.items() for part in (option, path)])
    assert graded.returncode == 0 and "Total: 12/12" in graded.stdout, graded.stderr
    assert json.loads(outputs["--json"].read_text())["score"] == 12
    assert json.loads(outputs["--pytest-json"].read_text())["summary"]["total"] > 0
    assert "causal_mask" in outputs["--html"].read_text()
    hint = student("--hint", "causal_mask", mine)
    assert hint.returncode == 0 and "causal_mask" in hint.stdout, hint.stderr
    notebook = student("attention.ipynb", "--no-pictures")
    assert notebook.returncode == 0 and "Total: 0/100" in notebook.stdout, notebook.stderr
    inside = student("--no-pictures", cwd=release / "exercises", env={"PYTHONPATH": str(release)})
    assert inside.returncode == 0 and "Attention exercises: . " in inside.stdout, inside.stderr
    assert "Total: 0/100" in inside.stdout
    kernel = student("-c", IN_NOTEBOOK, mine, python_only=True, env={"IPYTHONDIR": str(tmp_path / "ipython")})
    assert kernel.returncode == 0, kernel.stdout + kernel.stderr
    assert "self-check causal_mask: 12/12" in kernel.stdout and "score 12.0" in kernel.stdout


def test_help_lists_the_student_commands_only(student):
    result = student("--help")
    assert result.returncode == 0 and "--hint" in result.stdout and "--json" in result.stdout
    assert not [command for command in INSTRUCTOR_COMMANDS if command in result.stdout], result.stdout
    assert "Instructors" not in result.stdout


@pytest.mark.parametrize("argv", [["release", "again"], ["batch", "class", "--out", "graded"],
                                  ["export", "graded", "--to", "canvas", "--out", "x.csv"],
                                  ["gradescope", "autograder.zip"], ["nbgrader", "course"], ["classroom", "."],
                                  ["prairielearn", "pl"]])
def test_an_instructor_command_in_a_release_is_a_one_line_error(student, release, argv):
    result = student(*argv)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: `python -m grader {argv[0]}` is an instructor command: it needs the full "
                             "project, which this student handout is not; to grade yourself, run "
                             "`python -m grader`\n")
    assert not (release / argv[1]).exists() or argv[1] == "."


def test_the_full_project_lists_its_instructor_commands():
    result = run_cli("--help")
    assert result.returncode == 0 and all(command in result.stdout for command in INSTRUCTOR_COMMANDS)
