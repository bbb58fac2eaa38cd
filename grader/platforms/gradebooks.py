"""Canvas and Moodle gradebooks: a graded batch's totals written into the file each LMS imports.

Canvas: its gradebook export (Student, ID, SIS User ID, SIS Login ID, Section, then `Name (id)` assignment
columns and a "Points Possible" row) becomes an import file with those leading columns and one assignment
column. Moodle: the assignment's offline grading worksheet ("Participant N" identifiers) gets its Grade and
Feedback comments filled in. A graded student nobody matches, and a gradebook row without a submission, are
listed (stderr and unmatched.csv), never dropped.
"""
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from grader.batch.entries import safe_id
from grader.errors import UsageError
from grader.results import LmsId, Report, ReportFormatError

CANVAS_LEADING = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_IDENTIFIER = "Participant "


@dataclass(frozen=True)
class Graded:
    """One student of a graded batch, as a gradebook needs them."""
    student: str
    report: Report

    @property
    def lms_id(self) -> LmsId | None:
        """The LMS's number for the student, from the download name."""
        return self.report.batch.lms_id if self.report.batch else None

    @property
    def score(self) -> float:
        return self.report.score

    @property
    def max_score(self) -> float:
        return self.report.max_score

    @property
    def titles(self) -> tuple[str, ...]:
        """The misconceptions named, by title."""
        return tuple(dict.fromkeys(title for c in self.report.concepts for _, title in c.diagnoses))

    @property
    def not_graded(self) -> str | None:
        """Why the grader could not grade them (its fault): their grade stays blank."""
        return (self.report.error or "grader error") if self.report.grader_fault else None

    @property
    def share(self) -> float:
        return self.score / self.max_score if self.max_score else 0.0


@dataclass(frozen=True)
class Export:
    """What to write: the import file's text, and who could not be matched (kind, student or row, why)."""
    text: str
    unmatched: tuple[tuple[str, str, str], ...]


def read_graded(graded_dir: Path) -> list[Graded]:
    """The students of a batch's output folder (its reports/<student>.json)."""
    reports_dir = graded_dir / "reports"
    if not reports_dir.is_dir():
        raise UsageError(f"no reports in {graded_dir}: give the --out folder of `python -m grader batch`")
    graded = []
    for path in sorted(reports_dir.glob("*.json")):
        if path.name.endswith(".pytest.json"):
            continue
        try:
            graded.append(Graded(path.stem, Report.from_json(json.loads(path.read_text(encoding="utf-8")))))
        except ReportFormatError as exc:
            raise UsageError(f"cannot export {path}: it was {exc}; grade the class again with this version "
                             "(python -m grader batch ... --out the same folder) first") from None
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
    if not graded:
        raise UsageError(f"no reports in {reports_dir}")
    return graded


def read_csv(path: Path, what: str) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # exports often start with a byte-order mark
            return [row for row in csv.reader(f)]
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc}") from None


def _points(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _csv(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


# --- Canvas ----------------------------------------------------------------------------------------------

def canvas_import(graded: list[Graded], gradebook: list[list[str]], assignment: str) -> Export:
    """The import file for one assignment column, matching by Canvas user id, then SIS Login ID, then SIS User ID."""
    if not gradebook or gradebook[0][:2] != ["Student", "ID"]:
        raise UsageError("the Canvas gradebook must start with the columns Student, ID (export it from Canvas's "
                         "Gradebook: Export > Export Entire Gradebook)")
    header = gradebook[0]
    gradebook = [header] + [row + [""] * (len(header) - len(row)) for row in gradebook[1:]]
    if assignment not in header:
        columns = [c for c in header if c.endswith(")") and "(" in c]
        raise UsageError(f"no column {assignment!r} in the gradebook; its assignments are: {', '.join(columns)}")
    leading = [c for c in CANVAS_LEADING if c in header]
    where = {name: header.index(name) for name in (*leading, assignment)}
    points_row = next((row for row in gradebook[1:] if row and "Points Possible" in row[0]), None)
    try:
        possible = float(points_row[where[assignment]]) if points_row else None
    except ValueError:
        possible = None
    if not possible:
        raise UsageError(f"the gradebook has no Points Possible for {assignment!r}; publish the assignment with its "
                         "points and export again")
    by_canvas_id = {g.lms_id.id: g for g in graded if g.lms_id and g.lms_id.lms == "canvas"}
    by_student = {g.student.lower(): g for g in graded}
    rows = [[*leading, assignment], [*(points_row[where[c]] for c in leading), points_row[where[assignment]]]]
    matched, unmatched = set(), []
    for row in gradebook[1:]:
        if row is points_row or not row[where["ID"]].strip():  # the Points Possible row; no student
            continue
        cell = {name: row[i] for name, i in where.items()}
        student = (by_canvas_id.get(cell["ID"]) or by_student.get(cell.get("SIS Login ID", "").lower() or "\0")
                   or by_student.get(cell.get("SIS User ID", "").lower() or "\0"))
        if student is None or student.student in matched:
            score = ""  # no submission: left blank, never 0
            unmatched.append(("gradebook row without a submission", cell["Student"], f"Canvas ID {cell['ID']}"))
        else:
            matched.add(student.student)
            score = "" if student.not_graded else _points(student.share * possible)
        rows.append([*(cell[c] for c in leading), score])
    unmatched += [("graded student without a gradebook row", g.student,
                   f"Canvas user id {g.lms_id.id}" if g.lms_id else "no LMS id in the file name")
                  for g in graded if g.student not in matched]
    return Export(_csv(rows), tuple(unmatched) + not_graded(graded, matched))


def not_graded(graded: list[Graded], matched: set[str]) -> tuple[tuple[str, str, str], ...]:
    """Matched students whose grade was left blank because the grader could not grade them."""
    return tuple(("not graded (left blank)", g.student, g.not_graded) for g in graded
                 if g.student in matched and g.not_graded)


# --- Moodle ----------------------------------------------------------------------------------------------

def moodle_worksheet(graded: list[Graded], worksheet: list[list[str]]) -> Export:
    """The grading worksheet with Grade (scaled to Maximum Grade) and Feedback comments filled in, matching by
    participant id, or by full name where the download name had none and the name is unique."""
    header = worksheet[0] if worksheet else []
    needed = ("Identifier", "Full name", "Grade", "Maximum Grade", "Feedback comments")
    missing = [c for c in needed if c not in header]
    if missing:
        raise UsageError(f"the Moodle worksheet lacks the column {missing[0]!r} (download it from the assignment: "
                         "View all submissions > Grading action > Download grading worksheet, with offline grading "
                         "worksheets and feedback comments enabled)")
    col = {name: header.index(name) for name in needed}
    by_participant = {g.lms_id.id: g for g in graded if g.lms_id and g.lms_id.lms == "moodle"}
    names = [row[col["Full name"]] for row in worksheet[1:] if len(row) > col["Full name"]]
    by_name = {g.student: g for g in graded if not g.lms_id}
    rows, matched, unmatched = [header], set(), []
    for row in worksheet[1:]:
        row = row + [""] * (len(header) - len(row))
        participant = row[col["Identifier"]].removeprefix(MOODLE_IDENTIFIER).strip()
        full_name = row[col["Full name"]]
        student = by_participant.get(participant)
        if student is None and names.count(full_name) == 1:
            student = by_name.get(safe_id(full_name))
        if student is None or student.student in matched:
            unmatched.append(("worksheet row without a submission", full_name, row[col["Identifier"]]))
        else:
            matched.add(student.student)
            try:
                maximum = float(row[col["Maximum Grade"]])
            except ValueError:
                raise UsageError(f"the worksheet's Maximum Grade for {full_name} is {row[col['Maximum Grade']]!r}, "
                                 "not a number") from None
            if not student.not_graded:
                row[col["Grade"]] = _points(student.share * maximum)
                row[col["Feedback comments"]] = feedback_comment(student)
        rows.append(row)
    unmatched += [("graded student without a worksheet row", g.student,
                   f"participant {g.lms_id.id}" if g.lms_id else "no participant id in the file name")
                  for g in graded if g.student not in matched]
    return Export(_csv(rows), tuple(unmatched) + not_graded(graded, matched))


def feedback_comment(student: Graded) -> str:
    """A short text for the gradebook: the score and the titles of the misconceptions named."""
    text = f"Score {_points(student.score)}/{_points(student.max_score)}."
    if student.titles:
        text += " Misconceptions: " + "; ".join(student.titles) + "."
    return text


# --- writing -----------------------------------------------------------------------------------------------

def export(graded_dir, to: str, out, gradebook=None, assignment=None, worksheet=None, force: bool = False) -> Export:
    """Read the batch and the LMS file, write the import file to `out` and unmatched.csv beside it."""
    out = Path(out)
    inputs = [Path(p) for p in (gradebook, worksheet) if p]
    if to == "canvas" and (not gradebook or not assignment):
        raise UsageError("--to canvas needs --gradebook CANVAS_EXPORT.csv and --assignment \"Name (id)\"")
    if to == "moodle" and not worksheet:
        raise UsageError("--to moodle needs --worksheet WORKSHEET.csv")
    if any(out.resolve() == p.resolve() for p in inputs):
        raise UsageError(f"--out {out} is the file you exported from the LMS; write the import to another file")
    if not out.parent.is_dir():
        raise UsageError(f"folder not found: {out.parent}")
    for path in (out, out.parent / "unmatched.csv"):
        if path.exists() and not force:
            raise UsageError(f"{path} exists; pass --force to replace it")
    graded = read_graded(Path(graded_dir))
    if to == "canvas":
        result = canvas_import(graded, read_csv(Path(gradebook), "Canvas gradebook"), assignment)
    else:
        result = moodle_worksheet(graded, read_csv(Path(worksheet), "Moodle worksheet"))
    out.write_text(result.text, encoding="utf-8")
    (out.parent / "unmatched.csv").write_text(_csv([("kind", "student", "detail"), *result.unmatched]),
                                             encoding="utf-8")
    return result
