"""The terminal report wherever it is printed: the terminal's width (80 for a pipe), any encoding, a reader
that goes away or a standard output that is closed; the files are written whatever becomes of the printing."""
import io
import json
import os
import struct
import subprocess
import sys

import pytest
from rich.cells import cell_len

from conftest import ROOT, assert_report_fits, run_cli, solution_source
from edited_submissions import MISTAKES, apply_edits
from grader.catalogue import load
from grader.console import needs_ascii, width_of, write
from grader.in_notebook import CheckedConcept
from grader.pipeline import grade_submissions
from grader.reporters import render_table
from grader.submission import locate

PRINTED = "weights: ░▒▓█ 注意"  # what the student's code prints: shades and characters no code page has
PIPED = {"COLUMNS": None}  # the width a pipe gets, whatever the shell running the tests exports


@pytest.fixture(scope="module")
def mistaken(tmp_path_factory):
    """A submission whose causal mask hides the diagonal (a picture with NaN, zeros and shades) and that prints."""
    path = tmp_path_factory.mktemp("console") / "mine.py"
    source = f"print({PRINTED!r})\n" + apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"])
    path.write_text(source, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(mistaken):
    (graded,) = grade_submissions([locate(str(mistaken))], load())
    return graded


def widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


def test_piped_output_is_drawn_for_80_columns(mistaken, tmp_path):
    result = run_cli(mistaken, "--json", tmp_path / "r.json", env=PIPED)
    assert result.returncode == 0, result.stderr
    assert 78 <= widest(result.stdout) <= 80  # the table's rule spans the 80 columns; nothing is wider
    assert "  Your    [××][××][××][××][××][××]    Your     ██   ·   ·   ·   ·   ·" in result.stdout
    assert f"  {PRINTED}" in result.stdout


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_an_output_without_the_shades_gets_ascii_ones_and_the_json_is_written(mistaken, tmp_path, encoding):
    out = tmp_path / "r.json"
    result = run_cli(mistaken, "--json", out, env={**PIPED, "PYTHONIOENCODING": encoding})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.isascii() and widest(result.stdout) <= 80
    written = json.loads(out.read_text(encoding="utf-8"))
    assert "\n --------" in result.stdout and f"Total: {written['score']:g}/100" in result.stdout
    assert "  Your    [xx][xx][xx][xx][xx][xx]    Your     @@   .   .   .   .   ." in result.stdout
    assert "shades: . 0  : + # @ up to 1.00   xx NaN   -- negative" in result.stdout
    assert "  weights: ???? ??" in result.stdout  # the student's characters the encoding lacks
    assert written["output"].strip() == PRINTED


def test_the_files_are_written_when_the_report_cannot_be_printed(mistaken, tmp_path):
    """A reader that goes away before the report comes (`| head`), and a standard output closed from the start."""
    command = [sys.executable, "-m", "grader", str(mistaken), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reader_gone = subprocess.Popen([*command, tmp_path / "gone.json", "--html", tmp_path / "gone.html"], cwd=ROOT,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader_gone.stdout.close()
    stderr = reader_gone.stderr.read()
    assert reader_gone.wait(timeout=300) == 0 and "Traceback" not in stderr and "ignored" not in stderr, stderr
    closed = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *command, tmp_path / "closed.json"], cwd=ROOT,
                            env=env, stderr=subprocess.PIPE, text=True, timeout=300)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    for name in ("gone.json", "closed.json"):
        written = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert written["status"] == "graded" and written["output"].strip() == PRINTED
    assert "causal_mask" in (tmp_path / "gone.html").read_text(encoding="utf-8")


def test_the_width_is_the_terminals_from_60_columns_and_80_for_a_pipe_or_a_file(monkeypatch, tmp_path):
    fcntl, termios = pytest.importorskip("fcntl"), pytest.importorskip("termios")
    monkeypatch.delenv("COLUMNS", raising=False)

    def terminal(columns):
        leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        leaders.append(leader)  # open until the end: a terminal without its leader has hung up
        return open(follower, "w")

    leaders = []

    read_end, write_end = os.pipe()
    os.close(read_end)
    with terminal(132) as wide, terminal(100) as medium, terminal(50) as narrow, open(write_end, "w") as pipe, \
            open(tmp_path / "report.txt", "w") as file:
        assert [width_of(s) for s in (wide, medium, narrow, pipe, file)] == [132, 100, 60, 80, 80]
        monkeypatch.setenv("COLUMNS", "90")  # the user's say, as for any program that draws text
        assert [width_of(s) for s in (wide, pipe)] == [90, 90]
    for leader in leaders:
        os.close(leader)


def test_ascii_is_chosen_for_encodings_without_the_shades_and_anything_else_becomes_a_question_mark():
    streams = {encoding: io.TextIOWrapper(io.BytesIO(), encoding=encoding) for encoding in
               ("utf-8", "utf-16", "cp1252", "ascii")}
    assert {e: needs_ascii(s) for e, s in streams.items()} == {"utf-8": False, "utf-16": False, "cp1252": True,
                                                              "ascii": True}
    write(f"café {PRINTED}\n", streams["cp1252"])
    assert streams["cp1252"].buffer.getvalue() == "café weights: ???? ??\n".encode("cp1252")


def test_the_pictures_go_one_under_the_other_where_side_by_side_does_not_fit(report):
    for width in (60, 80, 100):
        assert_report_fits(report, width)
    side_by_side, stacked = render_table(report, width=80), render_table(report, width=60)
    mine, expected = "  Your    [××][××][××][××][××][××]", "  Your     ██   ·   ·   ·   ·   ·"
    assert f"{mine}    {expected.strip()}" in side_by_side
    assert f"\n{mine}\n" in stacked and f"\n{expected}\n" in stacked
    for text, grids_per_line in ((side_by_side, 2), (stacked, 1)):  # no row of either grid is lost
        for token in report.pictures[0].tokens:
            rows = [line for line in text.splitlines() if line.startswith(f"  {token:8}")]
            assert len(rows) == 2 // grids_per_line and all(line.count(token) == grids_per_line for line in rows)


def test_in_ascii_only_the_students_own_characters_are_left_for_the_printing_to_replace(report):
    text = render_table(report, ascii_only=True)
    assert {c for c in text if not c.isascii()} == set(PRINTED) - set("weights: ")
    causal = next(c for c in report.concepts if c.concept.id == "causal_mask")
    checked = CheckedConcept(causal, tuple(p for p in report.pictures if p.concept == "causal_mask"), "graded")
    assert checked.text(ascii_only=True).isascii() and "[xx][xx]" in checked.text(ascii_only=True)
    assert "[××][××]" in checked.text()
