"""What grading did to one mutant: detected or not, where its points were lost, and whether that is where the
concept table allows."""
from dataclasses import dataclass

from benchmarks.mutation.mutants import Mutant
from grader.results import Report

MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Charge:
    """A test the mutant did not pass."""
    nodeid: str
    concept: str
    status: str  # failed | error | timeout
    message: str


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    allowed: frozenset[str]
    lost: tuple[tuple[str, float], ...]  # (concept, points lost), for each concept that lost any
    charges: tuple[Charge, ...]
    import_error: str | None = None  # the whole file did not run: the report's reason
    grader_fault: str | None = None  # the grader failed on it (its own error, not a grade): the report's reason
    equivalent: bool | None = None  # probed for undetected mutants only
    difference: str | None = None  # the first probe whose outcome differs from the reference's
    exception: str | None = None  # the reason given in exceptions.toml, where the mutant is listed

    @property
    def runs(self) -> bool:
        """Graded: the file ran and the grader did not fail on it."""
        return self.import_error is None and self.grader_fault is None

    @property
    def detected(self) -> bool:
        return self.runs and bool(self.lost)

    @property
    def losing(self) -> frozenset[str]:
        return frozenset(concept for concept, _ in self.lost)

    @property
    def outside(self) -> frozenset[str]:
        """The concepts that lost points although the mutant's changes do not belong to them."""
        return self.losing - self.allowed

    @property
    def localised(self) -> bool:
        return self.detected and not self.outside

    @property
    def verdict(self) -> str:
        if self.grader_fault is not None:
            return "grader fault"
        if self.import_error is not None:
            return "does not run"
        if self.detected:
            return "localised" if self.localised else "not localised"
        return "equivalent" if self.equivalent else "undetected"


def from_report(mutant: Mutant, allowed: frozenset[str], report: Report) -> Outcome:
    if report.grader_fault:
        return Outcome(mutant, allowed, (), (), grader_fault=report.error or "not graded")
    if report.status == "error":
        return Outcome(mutant, allowed, (), (), import_error=report.error or "not graded")
    lost = tuple((c.concept.id, round(c.concept.points - c.score, 2)) for c in report.concepts
                 if c.score < c.concept.points)
    charges = tuple(Charge(t.nodeid, t.concept, t.status, (t.message or "")[:MESSAGE_CHARS])
                    for c in report.concepts for t in c.tests if t.status in ("failed", "error", "timeout"))
    return Outcome(mutant, allowed, lost, charges)
