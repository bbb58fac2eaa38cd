"""What grading produced: frozen records with derived scores. Specs live in catalogue.py."""
from dataclasses import dataclass, field

from grader.catalogue import Concept

STATUS_ORDER = ("timeout", "error", "failed")  # a concept's status is the worst of its tests'


@dataclass(frozen=True)
class TestOutcome:
    """One test of one submission."""
    __test__ = False  # not a pytest test class

    nodeid: str
    concept: str
    visibility: str
    status: str  # passed | failed | error | timeout | skipped
    message: str | None = None
    misconception: str | None = None
    not_implemented: bool = False
    grader_fault: bool = False  # the grader failed (an internal error, a worker that could not start)


@dataclass(frozen=True)
class ConceptResult:
    """How one concept of one submission was graded."""
    concept: Concept
    tests: tuple[TestOutcome, ...]
    feedback: tuple[str, ...] = ()
    titles: tuple[tuple[str, str], ...] = ()  # (misconception id, title) from the catalogue

    @property
    def counted(self) -> tuple[TestOutcome, ...]:
        return tuple(t for t in self.tests if t.status != "skipped")

    @property
    def score(self) -> float:
        if not self.counted:
            return 0.0
        passed = sum(t.status == "passed" for t in self.counted)
        return round(self.concept.points * passed / len(self.counted), 2)

    @property
    def status(self) -> str:
        statuses = {t.status for t in self.counted}
        if not self.counted:
            return "error"
        return next((s for s in STATUS_ORDER if s in statuses), "passed")

    @property
    def misconceptions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.misconception for t in self.tests if t.misconception))

    @property
    def diagnoses(self) -> tuple[tuple[str, str], ...]:
        """(id, title) of each misconception recognised here; the id stands in for a title the catalogue lacks."""
        titles = dict(self.titles)
        return tuple((m, titles.get(m, m)) for m in self.misconceptions)


Matrix = tuple[tuple[float, ...], ...]  # rows of a (T, T) attention-weight matrix; NaN where the student's has NaN


@dataclass(frozen=True)
class Picture:
    """One heatmap pair for a concept: the student's attention weights on the public example beside another matrix."""
    concept: str
    label: str  # which matrix: "attention weights", "head 1", ...
    tokens: tuple[str, ...]
    student: Matrix | None  # None when the student's code could not produce it (see problem)
    other: Matrix
    other_is: str = "expected"  # expected (the reference's weights) | training (the same module in training mode)
    problem: str | None = None

    @property
    def differs(self) -> tuple[tuple[bool, ...], ...]:
        """Per cell, whether the student's value is not the expected one (all False unless other is expected)."""
        if self.student is None or self.other_is != "expected":
            return tuple(tuple(False for _ in row) for row in self.other)
        return cells_differ(self.student, self.other)


def is_missing(value) -> bool:
    """A cell with no value: NaN, or null in a picture's JSON."""
    return value is None or value != value


def cells_differ(student, expected) -> tuple[tuple[bool, ...], ...]:
    """Per cell of two matrices (NaN or None where missing), whether they differ beyond float32 noise."""
    def same(a, b):
        if is_missing(a) or is_missing(b):
            return is_missing(a) and is_missing(b)
        return abs(a - b) <= 1e-4 + 1e-3 * abs(b)
    return tuple(tuple(not same(a, b) for a, b in zip(mine, theirs)) for mine, theirs in zip(student, expected))


@dataclass(frozen=True)
class Report:
    """The graded submission."""
    submission: str
    status: str  # graded | error
    error: str | None
    device: str
    grader_version: str
    suites_hash: str
    concepts: tuple[ConceptResult, ...]
    output: str = ""  # what the student's code printed
    notes: tuple[str, ...] = ()  # problems that did not stop grading, e.g. a notebook cell that failed
    public_only: bool = False  # graded with the public checks only (a student's self-check in a release)
    layouts: tuple[str, ...] = ()  # how each attention class keeps its weights, one line per class
    output_cut_bytes: int = 0  # printed bytes the report does not show
    pictures: tuple[Picture, ...] = ()  # heatmaps of attention weights on the public example
    missing: tuple[str, ...] = ()  # exercise names the submission does not define (all of them: nothing ran)
    grader_fault: bool = False  # the grader failed (see error): not a grade the student earned
    pytest_json: dict | None = field(default=None, compare=False)  # pytest-json-report's report, when asked for

    @property
    def not_run(self) -> tuple[str, ...]:
        """Why checks could not run (and so were not counted), each reason once."""
        return tuple(dict.fromkeys(t.message or "skipped" for c in self.concepts for t in c.tests
                                   if t.status == "skipped"))

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.concepts), 2)

    @property
    def max_score(self) -> float:
        return round(sum(c.concept.points for c in self.concepts), 2)
