"""Write an nbgrader course whose one assignment, `attention`, is the notebook generated from solutions/.

The course is then used with nbgrader's own commands, run from the course folder:
`nbgrader generate_assignment attention`, then `nbgrader autograde attention` on the submissions.
"""
import json
import shutil
from pathlib import Path

from grader.catalogue import ASSIGNMENT_FILE, load as load_catalogue
from grader.checkout import require_checkout
from grader.errors import UsageError
from grader.notebook_version import ASSIGNMENT_NAME, source_notebook

ASSIGNMENT_ID = "attention"

CONFIG = '''\
# nbgrader configuration written by `python -m grader nbgrader`.
# The grader never overwrites this file, not even with --force: it is yours to edit.
c = get_config()  # noqa: F821 (nbgrader defines get_config)

c.CourseDirectory.course_id = {course_id!r}
# The one assignment is "{assignment}": source/{assignment}/{assignment}.ipynb and its {assignment_file}.

# Every test cell grades the notebook in a worker process, within the grader's own 300 s budget.
c.Execute.timeout = 600
# The notebook's kernel is "python3", whose launcher "python" nbgrader runs as its own interpreter: run
# nbgrader from the environment that has the grader, torch and ipykernel (pip install -e '.[nbgrader]').
'''


def write_course(course_dir, config=None, force: bool = False) -> Path:
    """Write the course's nbgrader_config.py (only if absent) and source/attention/; return the course folder.

    Raises UsageError for a bad --config, a course_dir that is a file, or an existing notebook without force.
    """
    require_checkout("nbgrader", "solutions/", "exercises/")  # the notebook is made from them
    course = Path(course_dir)
    if course.exists() and not course.is_dir():
        raise UsageError(f"{course} is a file; give the folder of the nbgrader course")
    assignment = Path(config) if config else ASSIGNMENT_FILE
    catalogue = load_catalogue(assignment.resolve())
    folder = course / "source" / ASSIGNMENT_ID
    notebook = folder / f"{ASSIGNMENT_ID}.ipynb"
    if notebook.exists() and not force:
        raise UsageError(f"{notebook} exists; pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    settings = course / "nbgrader_config.py"
    if not settings.exists():
        settings.write_text(CONFIG.format(course_id=course.resolve().name, assignment=ASSIGNMENT_ID,
                                          assignment_file=ASSIGNMENT_NAME), encoding="utf-8")
    notebook.write_text(json.dumps(source_notebook(catalogue), indent=1) + "\n", encoding="utf-8")
    shutil.copyfile(assignment, folder / ASSIGNMENT_NAME)
    return course
