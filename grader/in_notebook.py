"""Grade a notebook from inside its own Jupyter kernel: the test cells of the nbgrader notebook call these.

`concept_score` is the value an autograded test cell ends with (nbgrader reads it as the cell's partial
credit); `check` is the student's self-check with the public checks. Both grade the code this kernel has
run, in a worker process as usual, and share one grading run per state of the kernel and concepts asked
for. The kernel keeps workers ready between gradings (grader.isolation.kept), started when it imports this
module, so a check imports no torch of its own; the code always runs in a worker, never in the kernel: on
Linux a fresh one for each grading, elsewhere the last one once it has forgotten its submission and shown
that its process is as it started (grader.worker_state). nbgrader gives a test cell zero for any output on stderr, so grading writes nothing there.
"""
import atexit
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
_reports = {}  # (assignment file, hash of the cells' sources, concept ids) -> Report: one per kernel state
_workers = None  # the grader.isolation.kept.KeptWorkers of this kernel, from its import of this module on


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


def check(*concept_ids: str, assignment=None) -> None:
    """Self-check: grade the code run so far and show the named concepts' scores on the public checks; with
    no name, every concept's and the total.

    Jupyter shows it as HTML (the concepts' rows, with their heatmaps when they lost points); a frontend
    without HTML shows the same as text. A missing assignment file falls back to the grader's own: a student
    release may not ship one."""
    path = _assignment_file(assignment, required=False)
    graded = _report(path, concept_ids)
    if graded is not None:
        from IPython.display import display

        catalogue, report = graded
        shown = concept_ids or catalogue.concept_ids
        display(CheckedConcepts(tuple(_checked(catalogue, report, c, public=True) for c in shown),
                                total=not concept_ids))


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
        return CheckedConcepts((self,))._repr_html_()


@dataclass(frozen=True)
class CheckedConcepts:
    """Several concepts' self-checks shown as one table, with their total when `total`."""
    concepts: tuple[CheckedConcept, ...]
    total: bool = False

    def _drawn(self, checked: CheckedConcept) -> bool:
        # A concept not written yet is a row, never a picture of nothing; in the total, only failures are drawn.
        return checked.drawn and (checked.result.status == "failed" or not self.total)

    def _total_line(self) -> str:
        score = sum(c.result.score for c in self.concepts)
        points = sum(c.result.concept.points for c in self.concepts)
        return f"Total: {fraction(score, points)} (public checks)"

    def text(self, ascii_only: bool = False) -> str:
        parts = [c.text(ascii_only) if self._drawn(c) else CheckedConcept(c.result, (), c.label).text(ascii_only)
                 for c in self.concepts]
        return "\n".join(parts + ([self._total_line()] if self.total else []))

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        from grader.feedback.heatmaps import picture_html
        from grader.feedback.pages import concept_row_html, concept_table_html

        label = self.concepts[0].label if self.concepts else "self-check"
        parts = [f"<p><strong>{html.escape(label)}</strong> (public checks)</p>",
                 concept_table_html([concept_row_html(c.result) for c in self.concepts])]
        for checked in self.concepts:
            if self._drawn(checked):
                shown = uuid.uuid4().hex[:8]  # ids unique in the notebook, however often a concept is checked
                parts += [picture_html(p, f"{checked.result.concept.id}-{shown}-{i}")
                          for i, p in enumerate(checked.pictures)]
        if self.total:
            parts.append(f"<p><strong>{html.escape(self._total_line())}</strong></p>")
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
    """The concept's result and pictures for the code run so far (its public tests only if `public`); None
    outside IPython."""
    graded = _report(path, (concept_id,))
    return None if graded is None else _checked(*graded, concept_id, public)


def _report(path: Path, concept_ids=()):
    """The catalogue and the report for the code run so far, grading at most once per state of the kernel;
    None outside IPython. Every id must be a concept of the assignment."""
    from grader.catalogue import load as load_catalogue
    from grader.errors import UsageError

    cells = executed_cells()
    if cells is None:
        return None
    catalogue = load_catalogue(path)
    for concept_id in concept_ids:
        if concept_id not in catalogue.concept_ids:
            raise UsageError(f"{concept_id!r} is not a concept of {path}")
    state = (str(path), hashlib.sha256("\0".join(c.source for c in cells).encode()).hexdigest())
    # The concepts shown, and only those, are graded (each concept's checks are its own: see the CLI's --concept).
    graded = tuple(c for c in catalogue.concept_ids if c in concept_ids) or catalogue.concept_ids
    report = next((r for (s, ids), r in _reports.items() if s == state and set(graded) <= set(ids)), None)
    if report is None:
        from grader.pipeline import grade_submission

        # As for a notebook file given to `python -m grader`: no folder of the student's own modules.
        submission = Submission("this notebook", None, cells)
        with _silenced():
            report = _reports[state, graded] = grade_submission(submission, catalogue, concepts=graded,
                                                                workers=_kept_workers())
    return catalogue, report


def _kept_workers():
    """This kernel's workers kept between gradings, started the first time it asks for them; they end with it."""
    global _workers
    if _workers is None:
        from grader.isolation import Launcher
        from grader.isolation.kept import KeptWorkers
        from grader.pipeline import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, worker_limits
        from grader.sandbox import detect

        _workers = KeptWorkers()
        atexit.register(_workers.close)
        # On the terms every check grades with (grade_submission's defaults): its torch import starts now.
        _workers.start(Launcher(detect(), limits=worker_limits(DEFAULT_TIMEOUT, DEFAULT_MEMORY_GB)))
    return _workers


def _checked(catalogue, report, concept_id: str, public: bool) -> "CheckedConcept":
    """One concept's result and pictures in a report (its public tests only if `public`)."""
    from grader.scoring import concept_feedback

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


if executed_cells() is not None:  # imported in a kernel (a cell at the handout's top): the first check's worker starts
    _kept_workers()
