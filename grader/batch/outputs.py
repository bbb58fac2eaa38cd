"""grades.csv, a pure function of the students' reports; the pages are grader.feedback.pages."""
import csv
import io

from grader.results import Report


def _points(value) -> str:
    return f"{value:.2f}"


def grades_csv(reports: dict[str, Report], concept_ids: tuple[str, ...]) -> str:
    """One row per student, sorted by id: student, one column per concept, total, max_total, status."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *concept_ids, "total", "max_total", "status"])
    for student in sorted(reports):
        report = reports[student]
        scores = {c.concept.id: c.score for c in report.concepts}
        writer.writerow([student, *(_points(scores.get(cid, 0.0)) for cid in concept_ids),
                         _points(report.score), _points(report.max_score), report.status])
    return out.getvalue()
