"""The feedback page and the class summary, pure functions of the students' reports.

Pages are self-contained HTML (inline CSS and SVG, no scripts or web fonts) so they work offline.
"""
import html
from collections import Counter
from urllib.parse import quote

from grader.catalogue import Concept
from grader.feedback.heatmaps import outlined_cells, picture_html
from grader.feedback.wording import NOT_WRITTEN, PUBLIC_ONLY, count, fraction, number, status_shown
from grader.results import ConceptResult, Picture, Report

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:62em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;
vertical-align:top}.passed{color:#1a7f37}.failed,.error{color:#c62828}.timeout{color:#b26a00}
.num{text-align:right;white-space:nowrap}pre{background:#f6f6f6;padding:.8em;overflow:auto;max-height:20em}
.muted{color:#666}code{font-size:.85em;color:#555}figure.picture{margin:1em 0 2em}figcaption{font-weight:bold;
margin-bottom:.4em}.pair{display:flex;flex-wrap:wrap;gap:1.5em}.missing{width:330px;border:1px dashed #999;padding:1em}
table.values{width:auto;margin:.5em 1.5em .5em 0;display:inline-table;font-size:.85em}table.values caption{text-align:left}
@media print{body{max-width:none;margin:0}figure.picture{break-inside:avoid}details{display:none}}"""


STATUS_COLOURS = {"passed": "#1a7f37", "failed": "#c62828", "error": "#c62828", "timeout": "#b26a00",
                  NOT_WRITTEN: "#666"}
EXAMPLE_STUDENT = "An example student's"  # whose heatmap the class page shows: anonymous, never the reader's


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def diagnosis_html(concept: ConceptResult) -> str:
    """Each recognised misconception as its title in bold with its id beside it."""
    return "".join(f"<p><strong>{html.escape(title)}</strong> <code>{html.escape(m)}</code></p>"
                   for m, title in concept.diagnoses)


def concept_row_html(concept: ConceptResult, pictures_link: str | None = None) -> str:
    """One concept's row: title, score, status in colour, diagnoses and feedback (and a link to its pictures)."""
    e = html.escape
    feedback = "".join(f"<p>{e(line)}</p>" for line in concept.feedback)
    link = f'<p><a href="{e(pictures_link)}">See the picture</a></p>' if pictures_link else ""
    status = status_shown(concept)
    colour = STATUS_COLOURS.get(status, "#222")
    return (f'<tr><td>{e(concept.concept.title)}</td><td class="num">{fraction(concept.score, concept.concept.points)}'
            f'</td><td class="{e(concept.status)}" style="color:{colour};white-space:nowrap">{e(status)}</td>'
            f"<td>{diagnosis_html(concept)}{feedback}{link}</td></tr>")


def concept_table_html(rows: list[str]) -> str:
    return ("<table><tr><th>concept</th><th>score</th><th>status</th><th>diagnosis and feedback</th></tr>"
            + "".join(rows) + "</table>")


def pictures_html(report: Report) -> str:
    """The report's heatmaps concept by concept: those that lost points first, then the others folded away."""
    e = html.escape
    by_concept = {}
    for index, picture in drawn_pictures(report):
        by_concept.setdefault(picture.concept, []).append((index, picture))
    pictured = [c for c in report.concepts if c.concept.id in by_concept]
    sections = {"lost": [], "passed": []}
    for c in pictured:
        section = [f'<h3 id="pictures-{e(c.concept.id)}">{e(c.concept.title)} <span class="{e(c.status)}">'
                   f'({e(c.status)})</span></h3>']
        section += [picture_html(picture, f"p{index}") for index, picture in by_concept[c.concept.id]]
        sections["passed" if c.status == "passed" else "lost"] += section
    parts = sections["lost"]
    if sections["passed"]:
        parts.append(f'<details{"" if parts else " open"}><summary>The concepts you got right</summary>'
                     + "\n".join(sections["passed"]) + "</details>")
    return "\n".join(parts)


PICTURES_INTRO = ("<p>Each picture runs your code on the book's public example, “Your journey starts with one step”: "
                  "one-hot tokens, query and key weights made from the book's embeddings, identity values, so that "
                  "the output is the attention-weight matrix. Rows are the tokens that attend (queries), columns the "
                  "tokens attended to (keys). Expected values are shown for this public example only.</p>")


def drawn_pictures(report: Report) -> list[tuple[int, Picture]]:
    """The report's pictures worth drawing, with their index: none for a concept whose code is not written yet."""
    not_written = {c.concept.id for c in report.concepts if c.not_written}
    return [(index, p) for index, p in enumerate(report.pictures) if p.concept not in not_written]


def feedback_html(student: str, report: Report) -> str:
    """The page handed back to one student: per-concept scores, diagnoses, feedback and heatmaps. Like the
    terminal's report, it leaves the classes' layouts to the JSON."""
    e = html.escape
    pictured = {p.concept for _, p in drawn_pictures(report)}
    rows = [concept_row_html(c, f"#pictures-{c.concept.id}" if c.concept.id in pictured else None)
            for c in report.concepts]
    checks = f' <span class="muted">({PUBLIC_ONLY})</span>' if report.public_only else ""
    parts = [f"<h1>Attention exercises: {e(student)}</h1>",
             f"<p><strong>Score: {fraction(report.score, report.max_score)}</strong>{checks}</p>"]
    if report.error:
        parts.append(f"<p class=\"error\">Could not grade everything: {e(report.error)}</p>")
    parts += [f"<p class=\"muted\">Note: {e(note)}</p>" for note in report.notes]
    parts.append(concept_table_html(rows))
    if pictured:
        parts += ["<h2>Your attention weights</h2>", PICTURES_INTRO, pictures_html(report)]
    if report.output.strip():
        parts.append(f"<h2>What your code printed</h2><pre>{e(report.output)}</pre>")
    return _page(f"Feedback: {student}", "\n".join(parts))


def _bar_chart(labels: list[str], values: list[float], maximum: float, unit: str) -> str:
    """Horizontal bars as inline SVG; values in [0, maximum]."""
    row, label_width, bar_width = 22, 190, 360
    height = row * len(labels) + 10
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{label_width + bar_width + 70}\" height=\"{height}\" "
             "role=\"img\" font-family=\"sans-serif\" font-size=\"12\">"]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 5 + i * row
        width = 0 if maximum <= 0 else bar_width * value / maximum
        parts.append(f"<text x=\"{label_width - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{html.escape(label)}</text>"
                     f"<rect x=\"{label_width}\" y=\"{y + 2}\" width=\"{width:.1f}\" height=\"{row - 6}\" fill=\"#4a7bd0\"/>"
                     f"<text x=\"{label_width + width + 4:.1f}\" y=\"{y + 14}\">{html.escape(unit.format(value))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def score_histogram(totals: list[float], maximum: float, bins: int = 10) -> list[int]:
    """How many students fall in each tenth of the maximum (the last bin includes the maximum)."""
    counts = [0] * bins
    for total in totals:
        index = bins - 1 if maximum <= 0 else min(int(total / maximum * bins), bins - 1)
        counts[index] += 1
    return counts


def summary_html(reports: dict[str, Report], concepts: tuple[Concept, ...], skipped: list[str]) -> str:
    """The class page: pass rates and mean scores per concept, the score distribution, the misconceptions (each
    linked to its students, with an anonymous heatmap for the three most frequent) and every student's page.

    `concepts` are the assignment's, in catalogue order.
    """
    e = html.escape
    n = len(reports)
    graded = [r for r in reports.values() if r.status == "graded"]
    max_total = sum(c.points for c in concepts)
    pass_rates, mean_shares = [], []
    for concept in concepts:
        results = [c for r in reports.values() for c in r.concepts if c.concept.id == concept.id]
        pass_rates.append(100 * sum(c.status == "passed" for c in results) / max(len(results), 1))
        mean_shares.append(100 * sum(c.score for c in results) / max(len(results) * concept.points, 1e-9))
    histogram = score_histogram([r.score for r in reports.values()], max_total)
    totals = sorted(r.score for r in reports.values())
    median = (totals[(n - 1) // 2] + totals[n // 2]) / 2 if n else 0.0
    parts = [
        "<h1>Attention exercises: class summary</h1>",
        f"<p>{count(n, 'student')}, {len(graded)} graded, {n - len(graded)} with errors. Mean score "
        f"{fraction(sum(totals) / max(n, 1), max_total)}, median {number(median)}.</p>",
        "<h2>Students who passed each concept</h2>",
        _bar_chart([c.id for c in concepts], pass_rates, 100, "{:.0f}%"),
        "<h2>Mean share of points per concept</h2>",
        _bar_chart([c.id for c in concepts], mean_shares, 100, "{:.0f}%"),
        "<h2>Score distribution</h2>",
        _bar_chart([f"{i * max_total / 10:.0f}–{(i + 1) * max_total / 10:.0f}" for i in range(10)],
                   [float(c) for c in histogram], max(histogram + [1]), "{:.0f}"),
    ]
    parts += misconceptions_html(reports, {c.id: c.title for c in concepts})
    parts.append(students_html(reports))
    errors = sorted((s, r.error) for s, r in reports.items() if r.status == "error")
    if errors:
        parts.append("<h2>Submissions with errors</h2><table>" + "".join(
            f"<tr><td>{e(s)}</td><td>{e(str(err))}</td></tr>" for s, err in errors) + "</table>")
    if skipped:
        parts.append(f"<p class=\"muted\">Skipped (not gradable): {e(', '.join(skipped))}</p>")
    return _page("Attention exercises: class summary", "\n".join(parts))


def feedback_link(student: str) -> str:
    """A link from the summary to the student's feedback page (feedback/<student>.html beside it)."""
    return f'<a href="feedback/{quote(student)}.html">{html.escape(student)}</a>'


def misconceptions_html(reports: dict[str, Report], concept_titles: dict[str, str]) -> list[str]:
    """Who has each misconception, how often per concept, and for the three most frequent an anonymous example."""
    e = html.escape
    students, titles, per_concept = {}, {}, Counter()
    for student in sorted(reports):
        for c in reports[student].concepts:
            for m, title in c.diagnoses:
                titles[m] = title
                students.setdefault(m, []).append(student)
                per_concept[c.concept.id, m] += 1
    parts = ["<h2>Misconceptions</h2>"]
    if not students:
        return parts + ["<p>None recognised.</p>"]
    ranked = sorted(students, key=lambda m: (-len(set(students[m])), m))
    rows = "".join(f'<tr><td id="m-{e(m)}"><strong>{e(titles[m])}</strong> <code>{e(m)}</code></td>'
                   f'<td class="num">{len(set(students[m]))}</td>'
                   f'<td>{", ".join(feedback_link(s) for s in dict.fromkeys(students[m]))}</td></tr>' for m in ranked)
    parts.append(f"<table><tr><th>misconception</th><th>students</th><th>who</th></tr>{rows}</table>")
    rows = "".join(f'<tr><td>{e(concept_titles.get(cid, cid))}</td><td><a href="#m-{e(m)}">{e(titles[m])}</a></td>'
                   f'<td class="num">{count}</td></tr>'
                   for (cid, m), count in sorted(per_concept.items(), key=lambda kv: (-kv[1], kv[0])))
    parts += ["<h3>By concept</h3>", f"<table><tr><th>concept</th><th>misconception</th><th>students</th></tr>{rows}"
              "</table>", "<h3>What the most frequent ones look like</h3>"]
    for m in ranked[:3]:
        example = _example_picture(reports, students[m], m)
        parts.append(f"<h4>{e(titles[m])} <code>{e(m)}</code></h4>")
        parts.append(picture_html(example, f"m-{m}", EXAMPLE_STUDENT) if example else
                     "<p class=\"muted\">No picture: this misconception is not about attention weights.</p>")
    return parts


def _example_picture(reports: dict[str, Report], students, misconception) -> Picture | None:
    """One anonymous picture of the misconception: the first student's (by id) drawn in a concept that named it,
    one that shows the mistake (cells that differ, or dropout's pair) before one that does not."""
    candidates = []
    for student in dict.fromkeys(students):
        report = reports[student]
        named = {c.concept.id for c in report.concepts if misconception in c.misconceptions}
        candidates += [p for p in report.pictures if p.concept in named and p.student]
    showing = [p for p in candidates if p.other_is != "expected" or any(map(any, outlined_cells(p) or ()))]
    return (showing or candidates or [None])[0]


def students_html(reports: dict[str, Report]) -> str:
    """Every student with score and status, linked to their feedback page."""
    e = html.escape
    rows = "".join(f'<tr><td>{feedback_link(s)}</td><td class="num">{fraction(r.score, r.max_score)}'
                   f'</td><td class="{e(r.status)}">{e(r.status)}</td></tr>' for s, r in sorted(reports.items()))
    return f"<h2>Students</h2><table><tr><th>student</th><th>score</th><th>status</th></tr>{rows}</table>"
