"""What grading produced: frozen records with derived scores, and the report's one JSON form. Specs live in
catalogue.py.

A report crosses the code as a `Report`; it is a dict only where it is serialised (`Report.to_json`, read back
by `Report.from_json`): in report files and on a cluster's wire.
"""
import math
from dataclasses import dataclass, field

from grader.catalogue import Concept
from grader.errors import GraderError

STATUS_ORDER = ("timeout", "error", "failed")  # a concept's status is the worst of its tests'
SCHEMA_VERSION = 1  # of Report.to_json's form; a report file without it was written by an older grader


class ReportFormatError(GraderError):
    """A report file this grader cannot read: written by an older version, or not a report at all."""


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
    fault: str | None = None  # why the grader itself failed on this test (an internal error, no worker): not graded

    def to_json(self) -> dict:
        return {"nodeid": self.nodeid, "concept": self.concept, "outcome": self.status, "visibility": self.visibility,
                "message": self.message, "misconception": self.misconception, "not_implemented": self.not_implemented}

    @classmethod
    def from_json(cls, doc: dict) -> "TestOutcome":
        return cls(nodeid=doc["nodeid"], concept=doc["concept"], visibility=doc["visibility"], status=doc["outcome"],
                   message=doc["message"], misconception=doc["misconception"],
                   not_implemented=doc.get("not_implemented", False))  # reports of 0.2.0 and before lack it


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
    def not_written(self) -> bool:
        """Whether none of the concept's code is written yet: each of its tests stopped at a stub or at a
        definition the submission lacks."""
        return bool(self.tests) and all(t.not_implemented for t in self.tests)

    @property
    def misconceptions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.misconception for t in self.tests if t.misconception))

    @property
    def diagnoses(self) -> tuple[tuple[str, str], ...]:
        """(id, title) of each misconception recognised here; the id stands in for a title the catalogue lacks."""
        titles = dict(self.titles)
        return tuple((m, titles.get(m, m)) for m in self.misconceptions)

    def to_json(self) -> dict:
        """The concept's row; its tests are listed with the report's."""
        return {"id": self.concept.id, "title": self.concept.title, "score": self.score,
                "max_score": self.concept.points, "status": self.status, "feedback": list(self.feedback),
                "misconceptions": list(self.misconceptions),
                "diagnoses": [{"id": m, "title": title} for m, title in self.diagnoses]}

    @classmethod
    def from_json(cls, doc: dict, tests: tuple[TestOutcome, ...]) -> "ConceptResult":
        # The hint is the catalogue's, for feedback already written: a report does not carry it.
        concept = Concept(id=doc["id"], title=doc["title"], points=doc["max_score"], hint="")
        return cls(concept, tests, tuple(doc["feedback"]), tuple((d["id"], d["title"]) for d in doc["diagnoses"]))


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

    def to_json(self) -> dict:
        """The matrices with NaN as null, and what the other side is: `expected`, or `training` for dropout."""
        return {"concept": self.concept, "label": self.label, "tokens": list(self.tokens),
                "student": _json_matrix(self.student), "expected": _json_matrix(self.other) or None,
                "expected_is": self.other_is, "problem": self.problem}

    @classmethod
    def from_json(cls, doc: dict) -> "Picture":
        return cls(concept=doc["concept"], label=doc["label"], tokens=tuple(doc["tokens"]),
                   student=_matrix(doc["student"]), other=_matrix(doc["expected"]) or (),
                   other_is=doc["expected_is"], problem=doc["problem"])


def _json_matrix(matrix: Matrix | None) -> list | None:
    return None if matrix is None else [[v if math.isfinite(v) else None for v in row] for row in matrix]


def _matrix(rows: list | None) -> Matrix | None:
    return None if rows is None else tuple(tuple(math.nan if v is None else float(v) for v in row) for row in rows)


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
class LmsId:
    """The number an LMS's download name gives a student: Canvas's user id, Moodle's participant id."""
    lms: str  # canvas | moodle
    id: str


@dataclass(frozen=True)
class BatchRecord:
    """What a batch keeps with a student's report: when to reuse it, and whom the gradebook knows it by."""
    cache_key: str  # see grader.batch.run.cache_key
    lms_id: LmsId | None = None


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
    grader_fault: bool = False  # the grader failed (see error): not a grade the student earned
    batch: BatchRecord | None = None  # set by batch grading
    hints_taken: tuple[tuple[str, int], ...] = ()  # (concept, hint level reached) where the hints file came along
    # In-process only, not in the JSON form: the exercise names the submission does not define (all of them:
    # nothing ran), and pytest-json-report's report (written to a file of its own).
    missing: tuple[str, ...] = field(default=(), compare=False)
    pytest_json: dict | None = field(default=None, compare=False)

    @classmethod
    def could_not_grade(cls, submission: str, reason: str, concepts: tuple[Concept, ...], *, device: str,
                        grader_version: str, suites_hash: str, public_only: bool = False,
                        grader_fault: bool = False, missing: tuple[str, ...] = ()) -> "Report":
        """Every concept at zero with the reason, for a submission that was not graded at all: one that cannot
        run, is missing or is ambiguous, or (`grader_fault`) one the grader failed on, which is not the
        student's grade: exports leave it blank and a batch rerun grades it again."""
        results = tuple(ConceptResult(c, (TestOutcome(nodeid=f"submission::{c.id}", concept=c.id, visibility="public",
                                                      status="error", message=reason),), (reason,))
                        for c in concepts)
        return cls(submission=submission, status="error", error=reason, device=device, grader_version=grader_version,
                   suites_hash=suites_hash, concepts=results, public_only=public_only, grader_fault=grader_fault,
                   missing=missing)

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

    def to_json(self) -> dict:
        """The report as JSON-ready data (scores rounded to 2 decimals; the path as the user gave it)."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "submission": self.submission,
            "status": self.status,
            "error": self.error,
            "grader_fault": self.grader_fault,
            "score": self.score,
            "max_score": self.max_score,
            "device": self.device,
            "grader_version": self.grader_version,
            "suites_hash": self.suites_hash,
            "concepts": [c.to_json() for c in self.concepts],
            "checks": "public only" if self.public_only else "public and hidden",
            "tests": [t.to_json() for c in self.concepts for t in c.tests],
            "notes": list(self.notes),
            "layouts": list(self.layouts),
            "not_run": list(self.not_run),
            "output": self.output,
            "output_cut_bytes": self.output_cut_bytes,
            "pictures": [p.to_json() for p in self.pictures],
        }
        if self.hints_taken:
            doc["hints_taken"] = dict(self.hints_taken)
        if self.batch is not None:
            lms_id = self.batch.lms_id
            doc["cache_key"] = self.batch.cache_key
            doc["lms_id"] = None if lms_id is None else {"lms": lms_id.lms, "id": lms_id.id}
        return doc

    @classmethod
    def from_json(cls, doc) -> "Report":
        """The report `to_json` gave. Raises ReportFormatError for another schema version (an older grader's
        report has none) or for data that is not such a report."""
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        if version != SCHEMA_VERSION:
            raise ReportFormatError("written by an older version of the grader" if version is None else
                                    f"schema version {version!r}, and this grader reads version {SCHEMA_VERSION}")
        try:
            tests = [TestOutcome.from_json(t) for t in doc["tests"]]
            concepts = tuple(ConceptResult.from_json(c, tuple(t for t in tests if t.concept == c["id"]))
                             for c in doc["concepts"])
            batch = None
            if "cache_key" in doc:
                lms_id = doc["lms_id"] and LmsId(doc["lms_id"]["lms"], doc["lms_id"]["id"])
                batch = BatchRecord(doc["cache_key"], lms_id)
            return cls(submission=doc["submission"], status=doc["status"], error=doc["error"], device=doc["device"],
                       grader_version=doc["grader_version"], suites_hash=doc["suites_hash"], concepts=concepts,
                       output=doc["output"], notes=tuple(doc["notes"]), public_only=doc["checks"] == "public only",
                       layouts=tuple(doc["layouts"]), output_cut_bytes=doc["output_cut_bytes"],
                       pictures=tuple(Picture.from_json(p) for p in doc["pictures"]),
                       grader_fault=doc["grader_fault"], batch=batch,
                       hints_taken=tuple((str(k), int(v)) for k, v in doc.get("hints_taken", {}).items()))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ReportFormatError(f"not a report of this grader (at {exc})") from None
