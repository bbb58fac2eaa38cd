"""The feedback page and the class summary, pure functions of the students' JSON reports.

Pages are self-contained HTML (inline CSS and SVG, no scripts or web fonts) so they work offline.
"""
import html
from collections import Counter

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;
vertical-align:top}.passed{color:#1a7f37}.failed,.error{color:#c62828}.timeout{color:#b26a00}
.num{text-align:right;white-space:nowrap}pre{background:#f6f6f6;padding:.8em;overflow:auto;max-height:20em}
.muted{color:#666}"""


def _points(value) -> str:
    return f"{value:.2f}"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def feedback_html(student: str, report: dict) -> str:
    """The page handed back to one student: per-concept scores, diagnoses and feedback."""
    e = html.escape
    rows = []
    for c in report["concepts"]:
        diagnosis = ", ".join(c["misconceptions"])
        feedback = "".join(f"<p>{e(line)}</p>" for line in c["feedback"])
        rows.append(f"<tr><td>{e(c['title'])}</td><td class=\"num\">{_points(c['score'])} / {_points(c['max_score'])}"
                    f"</td><td class=\"{e(c['status'])}\">{e(c['status'])}</td>"
                    f"<td>{'<strong>' + e(diagnosis) + '</strong>' if diagnosis else ''}{feedback}</td></tr>")
    parts = [f"<h1>Attention exercises: {e(student)}</h1>",
             f"<p><strong>Score: {_points(report['score'])} / {_points(report['max_score'])}</strong></p>"]
    if report.get("error"):
        parts.append(f"<p class=\"error\">Could not grade everything: {e(report['error'])}</p>")
    parts += [f"<p class=\"muted\">Note: {e(note)}</p>" for note in report.get("notes", [])]
    parts.append("<table><tr><th>concept</th><th>score</th><th>status</th><th>diagnosis and feedback</th></tr>"
                 + "".join(rows) + "</table>")
    if report.get("output", "").strip():
        parts.append(f"<h2>What your code printed</h2><pre>{e(report['output'])}</pre>")
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


def summary_html(reports: dict[str, dict], concepts: list[tuple[str, str, float]], skipped: list[str]) -> str:
    """The class page: pass rates and mean scores per concept, the score distribution, frequent misconceptions.

    `concepts` is [(id, title, points)] in catalogue order.
    """
    e = html.escape
    n = len(reports)
    graded = [r for r in reports.values() if r["status"] == "graded"]
    max_total = sum(points for _, _, points in concepts)
    pass_rates, mean_shares = [], []
    for cid, _, points in concepts:
        results = [c for r in reports.values() for c in r["concepts"] if c["id"] == cid]
        pass_rates.append(100 * sum(c["status"] == "passed" for c in results) / max(len(results), 1))
        mean_shares.append(100 * sum(c["score"] for c in results) / max(len(results) * points, 1e-9))
    histogram = score_histogram([r["score"] for r in reports.values()], max_total)
    misconceptions = Counter(m for r in reports.values() for c in r["concepts"] for m in c["misconceptions"])
    totals = sorted(r["score"] for r in reports.values())
    median = (totals[(n - 1) // 2] + totals[n // 2]) / 2 if n else 0.0
    parts = [
        "<h1>Attention exercises: class summary</h1>",
        f"<p>{n} students, {len(graded)} graded, {n - len(graded)} with errors. Mean score "
        f"{_points(sum(totals) / max(n, 1))} / {_points(max_total)}, median {_points(median)}.</p>",
        "<h2>Students who passed each concept</h2>",
        _bar_chart([cid for cid, _, _ in concepts], pass_rates, 100, "{:.0f}%"),
        "<h2>Mean share of points per concept</h2>",
        _bar_chart([cid for cid, _, _ in concepts], mean_shares, 100, "{:.0f}%"),
        "<h2>Score distribution</h2>",
        _bar_chart([f"{i * max_total / 10:.0f}–{(i + 1) * max_total / 10:.0f}" for i in range(10)],
                   [float(c) for c in histogram], max(histogram + [1]), "{:.0f}"),
        "<h2>Most frequent misconceptions</h2>",
    ]
    if misconceptions:
        rows = "".join(f"<tr><td>{e(m)}</td><td class=\"num\">{count}</td></tr>"
                       for m, count in sorted(misconceptions.items(), key=lambda kv: (-kv[1], kv[0]))[:15])
        parts.append(f"<table><tr><th>misconception</th><th>students</th></tr>{rows}</table>")
    else:
        parts.append("<p>None recognised.</p>")
    errors = sorted((s, r["error"]) for s, r in reports.items() if r["status"] == "error")
    if errors:
        parts.append("<h2>Submissions with errors</h2><table>" + "".join(
            f"<tr><td>{e(s)}</td><td>{e(str(err))}</td></tr>" for s, err in errors) + "</table>")
    if skipped:
        parts.append(f"<p class=\"muted\">Skipped (not gradable): {e(', '.join(skipped))}</p>")
    return _page("Attention exercises: class summary", "\n".join(parts))
