"""Heatmaps of attention weights as inline SVG, pure functions of a Picture (grader.results).

Viridis, a sequential palette that colour-blind readers and greyscale printers both read in order; every cell
also prints its value, NaN cells are hatched, and cells that differ from the expected weights are outlined.
"""
import functools
import html

from grader.results import Picture, is_missing

VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725")
CELL, LABELS_WIDTH, TOP = 44, 66, 62  # pixels: a cell's side, the row labels' width, the title and column labels
OTHER_TITLE = {"expected": "Expected", "training": "Your module in training mode"}
# The palette's (red, green, blue), read once: a batch colours hundreds of cells per student.
_CHANNELS = tuple(tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)) for hex_colour in VIRIDIS)


@functools.lru_cache(maxsize=4096)  # a class's pages colour the same expected weights, and many zeros, again and again
def colour(value: float, maximum: float) -> str:
    """The palette's colour for value on a 0..maximum scale (values outside are clipped)."""
    share = min(max(value / maximum if maximum > 0 else 0.0, 0.0), 1.0) * (len(VIRIDIS) - 1)
    low = int(share)
    high = min(low + 1, len(VIRIDIS) - 1)
    mix = share - low
    (r, g, b), (r2, g2, b2), keep = _CHANNELS[low], _CHANNELS[high], 1 - mix
    return f"#{round(r * keep + r2 * mix):02x}{round(g * keep + g2 * mix):02x}{round(b * keep + b2 * mix):02x}"


def _ink(value: float, maximum: float) -> str:
    """Black on the light half of the palette, white on the dark half."""
    return "#000" if maximum > 0 and value / maximum > 0.55 else "#fff"


def outlined_cells(picture: Picture):
    """Per cell, whether the student's weight differs from the expected one; None where the picture compares
    nothing (no matrix of the student's, or dropout's pair of the student's own)."""
    if not picture.student or not picture.other or picture.other_is != "expected":
        return None
    return picture.differs


def scale_of(*matrices) -> float:
    """The largest finite value of the matrices (1 if there is none): both sides of a picture share one scale,
    stretched over the values there are, so that flat weights still show their pattern."""
    finite = [v for m in matrices if m for row in m for v in row if not is_missing(v)]
    return max(finite) if finite and max(finite) > 0 else 1.0


def describe(values, tokens, outlined) -> str:
    """The picture in words, for its alt text: NaN rows and how many cells differ."""
    n = len(values)
    words = [f"{n} by {n} attention weights, one row per query token and one column per key token "
             f"({' '.join(tokens)})."]
    nan_rows = [tokens[i] for i, row in enumerate(values) if any(is_missing(v) for v in row)]
    if nan_rows:
        words.append(f"Rows with NaN: {', '.join(nan_rows)}.")
    differing = sum(map(sum, outlined)) if outlined else 0
    if differing:
        words.append(f"{differing} of {n * n} cells differ from the expected weights (outlined).")
    return " ".join(words)


def _hatch(pattern_id: str) -> str:
    """The diagonal grey hatch that NaN cells are filled with."""
    return (f'<pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            '<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="2.5"/>'
            '</pattern>')


def heatmap_svg(values, tokens, title: str, maximum: float, uid: str, outlined=None) -> str:
    """One matrix as an SVG heatmap with the tokens on both axes (rows: queries, columns: keys)."""
    e = html.escape
    n = len(values)
    width, height = LABELS_WIDTH + n * CELL + 6, TOP + n * CELL + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-labelledby="{uid}-t {uid}-d" font-family="sans-serif" font-size="11">',
             f'<title id="{uid}-t">{e(title)}</title><desc id="{uid}-d">{e(describe(values, tokens, outlined))}</desc>',
             f'<defs>{_hatch(uid + "-nan")}</defs>',
             f'<text x="0" y="14" font-size="13" font-weight="bold">{e(title)}</text>',
             f'<text x="{LABELS_WIDTH}" y="{TOP - 24}" fill="#555">keys →</text>'
             f'<text x="{LABELS_WIDTH - 6}" y="{TOP - 8}" text-anchor="end" fill="#555">queries ↓</text>']
    for j, token in enumerate(tokens):
        parts.append(f'<text x="{LABELS_WIDTH + j * CELL + CELL / 2}" y="{TOP - 8}" text-anchor="middle">'
                     f'{e(token)}</text>')
    for i, row in enumerate(values):
        y = TOP + i * CELL
        parts.append(f'<text x="{LABELS_WIDTH - 6}" y="{y + CELL / 2 + 4}" text-anchor="end">{e(tokens[i])}</text>')
        for j, value in enumerate(row):
            x = LABELS_WIDTH + j * CELL
            if is_missing(value):
                parts.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="url(#{uid}-nan)"/>'
                             f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" text-anchor="middle" '
                             'font-weight="bold">NaN</text>')
                continue
            parts.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{colour(value, maximum)}"/>'
                         f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" text-anchor="middle" '
                         f'fill="{_ink(value, maximum)}">{value:.2f}</text>')
    for i, row in enumerate(outlined or ()):
        for j, differs in enumerate(row):
            if differs:  # a black frame with a white line inside shows on light and dark cells alike
                x, y = LABELS_WIDTH + j * CELL, TOP + i * CELL
                parts.append(f'<rect x="{x + 1.5}" y="{y + 1.5}" width="{CELL - 3}" height="{CELL - 3}" fill="none" '
                             f'stroke="#000" stroke-width="3"/><rect x="{x + 3.5}" y="{y + 3.5}" width="{CELL - 7}" '
                             f'height="{CELL - 7}" fill="none" stroke="#fff" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_svg(maximum: float, uid: str, outlines: bool = True) -> str:
    """The colour scale from 0 to maximum, with the NaN hatch (and the outline, where cells are compared) beside it."""
    stops = "".join(f'<stop offset="{i / (len(VIRIDIS) - 1):.3f}" stop-color="{c}"/>' for i, c in enumerate(VIRIDIS))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="520" height="34" role="img" font-family="sans-serif" '
            'font-size="11" aria-label="Colour scale from 0 (dark purple) to '
            f'{maximum:.2f} (yellow); hatched cells are NaN{"; outlined cells differ from the expected weights" if outlines else ""}">'
            f'<defs><linearGradient id="{uid}-scale">{stops}</linearGradient>{_hatch(uid + "-nan")}</defs>'
            f'<rect x="20" y="4" width="160" height="12" fill="url(#{uid}-scale)"/>'
            f'<text x="20" y="30" text-anchor="middle">0</text><text x="180" y="30" text-anchor="middle">{maximum:.2f}</text>'
            f'<rect x="215" y="4" width="16" height="16" fill="url(#{uid}-nan)" stroke="#888"/>'
            '<text x="236" y="16">NaN</text>'
            + ('<rect x="290" y="4" width="16" height="16" fill="#ccc" stroke="#000" stroke-width="3"/>'
               '<text x="312" y="16">differs from the expected weights</text>' if outlines else "") + "</svg>")


def values_table(values, tokens, caption: str) -> str:
    """The matrix as a small table, with each row's sum (a softmax row sums to 1)."""
    e = html.escape
    head = "".join(f"<th>{e(t)}</th>" for t in tokens)
    rows = []
    for token, row in zip(tokens, values):
        cells = "".join(f'<td class="num">{"NaN" if is_missing(v) else f"{v:.3f}"}</td>' for v in row)
        total = "NaN" if any(is_missing(v) for v in row) else f"{sum(row):.3f}"
        rows.append(f'<tr><th>{e(token)}</th>{cells}<td class="num">{total}</td></tr>')
    return (f'<table class="values"><caption>{e(caption)}</caption><tr><th></th>{head}<th>row sum</th></tr>'
            + "".join(rows) + "</table>")


def picture_html(picture: Picture, uid: str, whose: str = "Yours") -> str:
    """A picture's two heatmaps side by side, its values as tables, or the reason the student's is missing.
    `whose` titles the student's side: the reader's own ("Yours"), or an anonymous student's on the class page."""
    e = html.escape
    other, other_is, student, tokens = picture.other, picture.other_is, picture.student, picture.tokens
    maximum = scale_of(student, other)
    outlined = outlined_cells(picture)
    mine_title = f"{whose}, eval mode" if other_is == "training" else whose
    figures, tables = [], []
    if student:
        figures.append(heatmap_svg(student, tokens, mine_title, maximum, f"{uid}-s", outlined))
        tables.append(values_table(student, tokens, mine_title))
    else:
        figures.append(f'<div class="missing"><strong>{e(mine_title)}</strong><p>Could not be drawn: '
                       f'{e(picture.problem or "no output")}</p></div>')
    if other:
        title = OTHER_TITLE.get(other_is, other_is)
        figures.append(heatmap_svg(other, tokens, title, maximum, f"{uid}-o"))
        tables.append(values_table(other, tokens, title))
    caption = f"{picture.label}: attention weights on “{' '.join(tokens)}”"
    if other_is == "training":
        caption += " (in training mode each weight should be either dropped to 0 or scaled by 1/(1-p))"
    parts = [f'<figure class="picture"><figcaption>{e(caption)}</figcaption><div class="pair">{"".join(figures)}</div>',
             legend_svg(maximum, f"{uid}-l", outlines=other_is == "expected"),
             f'<details><summary>Values as tables</summary>{"".join(tables)}</details>' if tables else "",
             "</figure>"]
    return "".join(parts)


def pair_svg(picture: Picture, uid: str) -> str:
    """A picture as one standalone SVG image (yours beside the other, the legend below), for platforms that show
    images rather than HTML."""
    other_is, student, other, tokens = picture.other_is, picture.student, picture.other, picture.tokens
    maximum = scale_of(student, other)
    outlined = outlined_cells(picture)
    panels = [heatmap_svg(m, tokens, title, maximum, f"{uid}-{i}", lines)
              for i, (m, title, lines) in enumerate(((student, "Yours", outlined),
                                                      (other, OTHER_TITLE.get(other_is, other_is), None))) if m]
    width = LABELS_WIDTH + len(tokens) * CELL + 6
    height = TOP + len(tokens) * CELL + 6
    nested = "".join(f'<g transform="translate({i * (width + 20)},0)">{panel}</g>' for i, panel in enumerate(panels))
    legend = f'<g transform="translate(0,{height + 8})">{legend_svg(maximum, f"{uid}-l", outlined is not None)}</g>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(2 * width + 20, 520)}" height="{height + 46}" '
            f'role="img" aria-label="{html.escape(picture.label)}: your attention weights beside '
            f'{"the expected ones" if other_is == "expected" else "your training-mode ones"}">{nested}{legend}</svg>')
