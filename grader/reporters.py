"""Pure functions of a Report: its JSON form and its terminal table."""
from grader.feedback.terminal import picture_lines
from grader.results import Report

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow"}


def to_json(report: Report) -> dict:
    """The report as JSON-ready data: `Report.to_json`, which `Report.from_json` reads back."""
    return report.to_json()


def _points(value: float) -> str:
    return f"{value:g}"


def render_table(report: Report, width: int = 100, pictures: bool = True) -> str:
    """A readable per-concept table with diagnoses, the student's printed output and any error; with `pictures`,
    text heatmaps of the attention weights of each concept that lost points."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=width, record=True, file=_Discard(), force_terminal=False, color_system=None)
    label = " (public checks only)" if report.public_only else ""
    console.print(Text(f"Attention exercises: {report.submission}{label}", style="bold"))
    if report.error:
        console.print(Text(f"Could not grade everything: {report.error}", style="red"))
    for note in report.notes:
        console.print(Text(f"Note: a cell failed and was skipped: {note}", style="yellow"))
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, expand=True)
    table.add_column("concept", ratio=3)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("diagnosis and feedback", ratio=6)
    for c in report.concepts:
        diagnosis = Text()
        for misconception, title in c.diagnoses:
            diagnosis.append(title, style="bold")
            diagnosis.append(f" ({misconception})\n")
        diagnosis.append("\n".join(c.feedback))
        table.add_row(c.concept.id, f"{_points(c.score)}/{_points(c.concept.points)}",
                      Text(c.status, style=STATUS_STYLE.get(c.status, "")), diagnosis)
    console.print(table)
    console.print(Text(f"Total: {_points(report.score)}/{_points(report.max_score)}{label}", style="bold"))
    if pictures:
        failing = {c.concept.id for c in report.concepts if c.status != "passed"}
        for picture in report.pictures:  # the pictures that show something: a difference, dropout, a problem
            if picture.concept in failing and (picture.problem or picture.other_is != "expected"
                                               or any(map(any, picture.differs))):
                console.print(Text("\n" + "\n".join(picture_lines(picture))))
    for layout in report.layouts:
        console.print(Text(f"Layout: {layout}"))
    for reason in report.not_run:
        console.print(Text(f"Not run (not counted): {reason}", style="yellow"))
    if report.output.strip():
        console.print(Text("\nYour code printed:", style="bold"))
        console.print(Text(report.output.rstrip()))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


class _Discard:
    """A file that drops what is written: the table is recorded, then returned as a string."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass
