"""Grade a notebook from inside its own Jupyter kernel: the test cells of the nbgrader notebook call these.

`concept_score` is the value an autograded test cell ends with (nbgrader reads it as the cell's partial
credit); `check` is the student's self-check with the public checks. Both grade the code this kernel has
run, in a worker process as usual, and share one grading run per state of the kernel. nbgrader gives a
test cell zero for any output on stderr, so grading writes nothing there.
"""
import contextlib
import hashlib
import html
import io
import os
import re
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from grader.feedback.wording import fraction, status_shown
from grader.results import ConceptResult
from grader.submission import Cell, Submission, strip_magics

GRADING_CELL = re.compile(r"^\s*(from\s+grader\.in_notebook\s+import|import\s+grader\.in_notebook)", re.M)
_reports = {}  # (assignment file, hash of the cells' sources) -> Report: one grading run per kernel state


def concept_score(concept_id: str, assignment=None) -> float:
    """The concept's score for the code run so far (feedback printed when it lost points); 0.0 outside
    Jupyter, where there is no history to grade."""
    graded = _graded(concept_id, _assignment_file(assignment, required=True))
    if graded is None:
        return 0.0  # not None: nbgrader gives full credit to a test cell without a result
    result = graded.result
    if result.score < result.concept.points:
        from grader.console import needs_ascii, write

        write(graded.text(ascii_only=needs_ascii(sys.stdout)) + "\n")
    return float(min(result.score, result.concept.points))  # nbgrader rejects more than the cell's points


def hint(concept_id: str, assignment=None) -> None:
    """Show the next hint for the concept, from the idea to the operation to use; the level reached is kept in
    the notebook's folder (see grader.hints)."""
    from grader.catalogue import load as load_catalogue
    from grader.hints import next_hint

    found = next_hint(load_catalogue(_assignment_file(assignment, required=False)), concept_id, Path.cwd())
    print(found.shown(f'hint("{found.concept}")'))


def check(concept_id: str, assignment=None) -> None:
    """Self-check: grade the code run so far and show the concept's score on the public checks.

    Jupyter shows it as HTML (the concept's row, with its heatmaps when it lost points); a frontend without
    HTML shows the same as text. A missing assignment file falls back to the grader's own: a student release
    may not ship one."""
    graded = _graded(concept_id, _assignment_file(assignment, required=False), public=True)
    if graded is not None:
        from IPython.display import display

        display(graded)


@dataclass(frozen=True)
class CheckedConcept:
    """One concept's result and pictures, displayed by Jupyter as HTML and by anything else as text."""
    result: ConceptResult
    pictures: tuple
    label: str

    @property
    def drawn(self) -> bool:
        """Whether its pictures are shown: the concept lost points, and some of its code is written."""
        return self.result.status != "passed" and not self.result.not_written

    def text(self, ascii_only: bool = False) -> str:
        result = self.result
        lines = [f"{self.label} {result.concept.id}: {fraction(result.score, result.concept.points)} "
                 f"({status_shown(result)})"]
        lines += [f"  recognised: {title} ({misconception})" for misconception, title in result.diagnoses]
        lines += [f"  - {feedback}" for feedback in result.feedback]
        if self.drawn:
            from grader.feedback.terminal import picture_lines

            for picture in self.pictures:
                lines += ["", *picture_lines(picture, ascii_only=ascii_only)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        from grader.feedback.heatmaps import picture_html
        from grader.feedback.pages import concept_row_html, concept_table_html

        parts = [f"<p><strong>{html.escape(self.label)}</strong> (public checks)</p>",
                 concept_table_html([concept_row_html(self.result)])]
        if self.drawn:
            shown = uuid.uuid4().hex[:8]  # ids unique in the notebook, however often a concept is checked
            parts += [picture_html(p, f"{self.result.concept.id}-{shown}-{i}")
                      for i, p in enumerate(self.pictures)]
        return f'<div class="attention-check">{"".join(parts)}</div>'


def executed_cells() -> tuple[Cell, ...] | None:
    """The cells this kernel has run, in order, without the grading cells; None outside IPython."""
    # `python -m grader notebook.ipynb` runs the test cells too, in a worker without IPython: nothing to do.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    if shell is None:
        return None
    # The raw history, not `In`: `In` holds IPython's translation, in which `%magic` is already a call to
    # get_ipython(), which the worker has not got. strip_magics treats the raw text as for a notebook file.
    cells = []
    for number, source in enumerate(shell.history_manager.input_hist_raw):
        python = None if GRADING_CELL.search(source) else strip_magics(source)
        if python and python.strip():
            cells.append(Cell(filename=f"notebook In [{number}]", source=python))
    return tuple(cells)


def _assignment_file(assignment, required: bool) -> Path:
    from grader.catalogue import ASSIGNMENT_FILE

    if not assignment:
        return ASSIGNMENT_FILE
    path = (Path.cwd() / assignment).resolve()  # the kernel runs in the notebook's folder
    return path if required or path.is_file() else ASSIGNMENT_FILE


def _graded(concept_id: str, path: Path, public: bool = False):
    """The concept's result and pictures for the code run so far (its public tests only if `public`), grading
    at most once per state of the kernel; None outside IPython."""
    from grader.catalogue import load as load_catalogue
    from grader.errors import UsageError
    from grader.scoring import concept_feedback

    cells = executed_cells()
    if cells is None:
        return None
    catalogue = load_catalogue(path)
    if concept_id not in catalogue.concept_ids:
        raise UsageError(f"{concept_id!r} is not a concept of {path}")
    key = (str(path), hashlib.sha256("\0".join(c.source for c in cells).encode()).hexdigest())
    if key not in _reports:
        from grader.pipeline import grade_submission

        # As for a notebook file given to `python -m grader`: no folder of the student's own modules.
        submission = Submission("this notebook", None, cells)
        with _silenced():
            _reports[key] = grade_submission(submission, catalogue)
    report = _reports[key]
    result = next(c for c in report.concepts if c.concept.id == concept_id)
    pictures = tuple(p for p in report.pictures if p.concept == concept_id)
    if not public:
        return CheckedConcept(result, pictures, "graded")
    # Every test runs on its own inputs with fixed seeds: dropping the hidden ones is a public-only grading.
    tests = [t for t in result.tests if t.visibility == "public"]
    public_result = ConceptResult(result.concept, tuple(tests), concept_feedback(catalogue, concept_id, tests),
                                  result.titles)
    return CheckedConcept(public_result, pictures, "self-check")


@contextlib.contextmanager
def _silenced():
    """Nothing reaches the cell's output while grading: warnings, Python-level and descriptor-level writes."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()), _descriptor_to_devnull(2):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _descriptor_to_devnull(fd: int):
    # ipykernel forwards writes to file descriptor 2 (from C code, say) to the cell as stderr.
    saved = os.dup(fd)  # also keeps ipykernel's pipe open, so its reader does not see end-of-file
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
