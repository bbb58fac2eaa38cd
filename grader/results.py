"""What grading produced: frozen records with derived scores. Specs live in catalogue.py."""
from dataclasses import dataclass

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
