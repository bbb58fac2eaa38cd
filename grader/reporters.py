"""Pure functions of a Report: its JSON form and its terminal table."""
from grader.feedback.terminal import picture_lines
from grader.feedback.wording import NOT_WRITTEN, PUBLIC_ONLY, fraction, status_shown
from grader.results import Report

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow", NOT_WRITTEN: ""}


def to_json(report: Report) -> dict:
    """The report as JSON-ready data: `Report.to_json`, which `Report.from_json` reads back."""
    return report.to_json()


def render_table(report: Report, width: int = 80, pictures: bool = True, ascii_only: bool = False,
                 written: tuple[tuple[str, str], ...] = ()) -> str:
    """A readable per-concept table with diagnoses, the student's printed output and any error; with `pictures`,
    text heatmaps of the attention weights of each concept that lost points and has code written. Lines fit
    `width` (a long one wraps under its own start, not at column 0); `ascii_only` draws rules and shades in
    ASCII. It is what the student reads: the classes' layouts are the JSON's, for the instructor. Each
    (kind, path) of `written` ends it with where that file was written."""
    from rich import box
    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    # legacy_windows=False: the text is the same whatever console this process happens to run in.
    console = Console(width=width, record=True, file=_Discard(), force_terminal=False, color_system=None,
                      legacy_windows=False)
    label = f" ({PUBLIC_ONLY})" if report.public_only else ""
    console.print(_labelled("Attention exercises:", f"{report.submission}{label}", "bold"))
    if report.error:
        console.print(_labelled("Could not grade everything:", report.error, "red"))
    for note in report.notes:
        console.print(_labelled("Note: a cell failed and was skipped:", note, "yellow"))
    # SIMPLE_HEAD draws one rule, under the header; in ASCII the same rule is hyphens.
    rules = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True) if ascii_only else box.SIMPLE_HEAD
    table = Table(box=rules, show_lines=False, expand=True)
    table.add_column("concept", no_wrap=True)  # whole ids: the diagnosis column takes what the width leaves
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("diagnosis and feedback", ratio=1, overflow="fold")  # a long word breaks, never "…"
    for c in report.concepts:
        diagnosis = Text()
        for misconception, title in c.diagnoses:
            diagnosis.append(title, style="bold")
            diagnosis.append(f" ({misconception})\n")
        diagnosis.append("\n".join(c.feedback))
        status = status_shown(c)
        table.add_row(c.concept.id, fraction(c.score, c.concept.points),
                      Text(status, style=STATUS_STYLE.get(status, "")), diagnosis)
    console.print(table)
    console.print(Text(f"Total: {fraction(report.score, report.max_score)}{label}", style="bold"))
    if pictures:
        failing = {c.concept.id for c in report.concepts if c.status != "passed" and not c.not_written}
        for picture in report.pictures:  # the pictures that show something: a difference, dropout, a problem
            if picture.concept in failing and (picture.problem or picture.other_is != "expected"
                                               or any(map(any, picture.differs))):
                console.print(Text("\n" + "\n".join(picture_lines(picture, width, ascii_only))))
    for reason in report.not_run:
        console.print(_labelled("Not run (not counted):", reason, "yellow"))
    if report.output.strip():
        console.print(Text("\nYour code printed:", style="bold"))
        console.print(Padding(Text(report.output.rstrip()), (0, 0, 0, 2)))  # wrapped lines stay indented too
    for kind, path in written:
        console.print(_labelled(f"Wrote the {kind} to", path))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def _labelled(label: str, text: str, style: str = ""):
    """`label text` on one line, the text wrapping under itself rather than under the label."""
    from rich.table import Table
    from rich.text import Text

    line = Table.grid(padding=(0, 1))
    line.add_column(no_wrap=True)
    line.add_column(overflow="fold")
    line.add_row(Text(label, style=style), Text(text, style=style))
    return line


class _Discard:
    """A file that drops what is written: the table is recorded, then returned as a string."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass
