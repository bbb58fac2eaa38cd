"""Compact text heatmaps for the terminal report, pure functions of a Picture (grader.results).

Shades, not colours, carry the values, so the picture reads in a terminal without colour and in a log file.
Every line fits the width it is drawn for (60 columns and up), in Unicode or, for an output whose encoding
lacks the shades (cp1252, ascii), in ASCII.
"""
import textwrap
from dataclasses import dataclass

from grader.feedback.heatmaps import outlined_cells, scale_of
from grader.results import Picture, is_missing

ZERO = 0.005  # below this a weight prints as a dot: masked or negligible
LABEL_WIDTH = 8
CELL_WIDTH = 4  # each cell is two shade characters, between brackets where it differs from the expected value
INDENT, GAP = "  ", "    "  # before each grid, and between two grids side by side


@dataclass(frozen=True)
class Glyphs:
    """The characters a heatmap is drawn with."""
    shades: str  # 0, then quarters of the scale, lightest first
    zero: str
    nan: str


UNICODE = Glyphs(shades=" ░▒▓█", zero="·", nan="×")
ASCII = Glyphs(shades=" :+#@", zero=".", nan="x")  # densest last, as in the usual ASCII-art ramp " .:-=+*#%@"


def shade(value, maximum: float, glyphs: Glyphs = UNICODE) -> str:
    if is_missing(value):
        return glyphs.nan * 2
    if abs(value) < ZERO:
        return " " + glyphs.zero
    if value < 0:
        return "--"  # not a weight a softmax gives
    top = len(glyphs.shades) - 1
    return glyphs.shades[max(min(round(value / maximum * top), top), 1)] * 2


def grid(values, tokens, title: str, maximum: float, outlined=None, glyphs: Glyphs = UNICODE) -> list[str]:
    """One matrix as lines of text: a title, the key tokens' first letters on top, one line per query token."""
    width = LABEL_WIDTH + CELL_WIDTH * len(tokens)
    lines = [title[:width].ljust(width), " " * LABEL_WIDTH + "".join(t[:CELL_WIDTH - 1].center(CELL_WIDTH)
                                                                  for t in tokens)]
    for i, row in enumerate(values):
        cells = []
        for j, value in enumerate(row):
            mark = outlined is not None and outlined[i][j]
            cells.append(("[" if mark else " ") + shade(value, maximum, glyphs) + ("]" if mark else " "))
        lines.append(tokens[i][:LABEL_WIDTH - 1].ljust(LABEL_WIDTH) + "".join(cells))
    return lines


def picture_lines(picture: Picture, width: int = 80, ascii_only: bool = False) -> list[str]:
    """The student's heatmap beside the other one (under it where `width` is too narrow for both), then a
    legend; or why the student's could not be drawn. No line is longer than `width` (from 60 columns)."""
    glyphs = ASCII if ascii_only else UNICODE
    student, other, other_is, tokens = picture.student, picture.other, picture.other_is, picture.tokens
    maximum = scale_of(student, other)
    sentence = " ".join(tokens)
    lines = _packed([f"{picture.concept}: {picture.label}", f'on "{sentence}"', "(rows: queries, columns: keys)"],
                   " ", width)
    if not student:
        problem = f"yours could not be drawn: {picture.problem or 'no output'}"
        return lines + textwrap.wrap(problem, width, initial_indent=INDENT, subsequent_indent=INDENT * 2)
    outlined = outlined_cells(picture)
    mine = grid(student, tokens, "yours" + (", eval mode" if other_is == "training" else ""), maximum, outlined,
                glyphs)
    theirs = grid(other, tokens, "expected" if other_is == "expected" else "yours, training mode", maximum,
                  glyphs=glyphs) if other else []
    if theirs and len(INDENT + mine[0] + GAP + theirs[0]) > width:
        lines += [INDENT + line for line in mine] + [""] + [INDENT + line for line in theirs]
    else:
        lines += [f"{INDENT}{left}{GAP}{right}".rstrip() for left, right in zip(mine, theirs or [""] * len(mine))]
    shades = " ".join(glyphs.shades[1:])
    legend = [f"shades: {glyphs.zero} 0  {shades} up to {maximum:.2f}", f"{glyphs.nan * 2} NaN", "-- negative"]
    if outlined is not None:
        legend.append("[  ] differs from expected")
    return lines + [INDENT + line for line in _packed(legend, "   ", width - len(INDENT))]


def _packed(items: list[str], separator: str, width: int) -> list[str]:
    """The items on as few lines as fit `width`, never split; each line after the first indented."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1] + separator + item) <= width:
            lines[-1] += separator + item
        else:
            lines.append(INDENT + item)
    return lines
