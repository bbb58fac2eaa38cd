"""A class that holds every kind of report a batch writes: each hand-written and edited submission, the reference,
the stubs, unrunnable files, a zip with nothing to grade and two entries for one student (a grader-side error)."""
import shutil
import zipfile
from pathlib import Path

from conftest import ROOT, SUBMISSIONS, solution_source
from edited_submissions import CASES, case_source
from test_submission_forms import notebook


def make_corpus(folder: Path, edited: bool = True) -> Path:
    """Write the class into `folder` (created) and return it; without `edited`, the edited cases are left out."""
    folder.mkdir(parents=True)
    for path in sorted(SUBMISSIONS.glob("*.py")):
        shutil.copy(path, folder / path.name)
    if edited:
        for name in CASES:
            (folder / f"edited-{name}.py").write_text(case_source(name))
    (folder / "reference.py").write_text(solution_source())
    (folder / "stubs.py").write_text((ROOT / "exercises" / "attention.py").read_text())
    (folder / "in_a_notebook.ipynb").write_text(notebook(("code", solution_source())))
    (folder / "smithjane_1001_5001_attention.py").write_text(solution_source())  # a Canvas download name
    (folder / "not_utf8.py").write_bytes("# caf\u00e9\n".encode("latin-1") + solution_source().encode())
    (folder / "syntax_error.py").write_text(solution_source().replace("def forward(self, x):", "def forward(self, x)", 1))
    (folder / "broken.ipynb").write_text("{this is not json")
    with zipfile.ZipFile(folder / "nothing.zip", "w") as archive:
        archive.writestr("notes.txt", "nothing to grade")
    (folder / "twice_1_attention.py").write_text(solution_source())  # two entries for one student
    (folder / "twice_2_attention.py").write_text(solution_source())
    return folder

