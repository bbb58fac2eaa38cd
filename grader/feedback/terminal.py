"""Compact text heatmaps for the terminal report, pure functions of a Picture (grader.results).

Shades, not colours, carry the values, so the picture reads in a terminal without colour and in a log file.
"""
from grader.feedback.heatmaps import outlined_cells, scale_of
from grader.results import Picture, is_missing

SHADES = " ░▒▓█"  # 0, then quarters of the scale
ZERO = 0.005  # below this a weight prints as a dot: masked or negligible
LABEL_WIDTH = 8
CELL_WIDTH = 4  # each cell is two shade characters, between brackets where it differs from the expected value


def shade(value, maximum: float) -> str:
    if is_missing(value):
        return "××"
    if abs(value) < ZERO:
        return " ·"
    if value < 0:
        return "--"  # not a weight a softmax gives
    level = min(round(value / maximum * (len(SHADES) - 1)), len(SHADES) - 1)
    return SHADES[max(level, 1)] * 2


def grid(values, tokens, title: str, maximum: float, outlined=None) -> list[str]:
    """One matrix as lines of text: a title, the key tokens' first letters on top, one line per query token."""
    width = LABEL_WIDTH + CELL_WIDTH * len(tokens)
    lines = [title[:width].ljust(width), " " * LABEL_WIDTH + "".join(t[:CELL_WIDTH - 1].center(CELL_WIDTH)
                                                                  for t in tokens)]
    for i, row in enumerate(values):
        cells = []
        for j, value in enumerate(row):
            mark = outlined is not None and outlined[i][j]
            cells.append(("[" if mark else " ") + shade(value, maximum) + ("]" if mark else " "))
        lines.append(tokens[i][:LABEL_WIDTH - 1].ljust(LABEL_WIDTH) + "".join(cells))
    return lines


def picture_lines(picture: Picture) -> list[str]:
    """The student's heatmap beside the other one, then a legend; or why the student's could not be drawn."""
    student, other, other_is, tokens = picture.student, picture.other, picture.other_is, picture.tokens
    maximum = scale_of(student, other)
    lines = [f"{picture.concept}: {picture.label} on \"{' '.join(tokens)}\" (rows: queries, columns: keys)"]
    if not student:
        return lines + [f"  yours could not be drawn: {picture.problem or 'no output'}"]
    outlined = outlined_cells(picture)
    mine = grid(student, tokens, "yours" + (", eval mode" if other_is == "training" else ""), maximum, outlined)
    theirs = grid(other, tokens, "expected" if other_is == "expected" else "yours, training mode", maximum) \
        if other else []
    for left, right in zip(mine, theirs or [""] * len(mine)):
        lines.append(f"  {left}    {right}".rstrip())
    legend = f"  shades: · 0  ░ ▒ ▓ █ up to {maximum:.2f}   ×× NaN   -- negative"
    if outlined is not None:
        legend += "   [  ] differs from expected"
    return lines + [legend]
