"""The command line's standard output: the width and characters to draw the report with, a write that cannot
fail on an encoding or on a reader that went away, and standard descriptors that exist."""
import os
import sys

PIPE_WIDTH = 80  # a pipe or a file: the width terminals open at, where the text is read later
MIN_WIDTH = 60  # narrower, the table has no room left for its diagnosis column
DRAWING = "─░▒▓█×·"  # the report's rules and shades, which cp1252 and ascii lack


def width_of(stream) -> int:
    """The columns to draw for: $COLUMNS where it is set, else the stream's terminal's; 80 for a pipe or a file."""
    columns = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else 0
    if not columns:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 0
        except (AttributeError, OSError, ValueError):  # no stream, no descriptor, or not a terminal after all
            columns = 0
    return max(columns, MIN_WIDTH) if columns else PIPE_WIDTH  # 0: a terminal that does not say its size


def needs_ascii(stream) -> bool:
    """Whether the stream's encoding lacks the report's rules and shades (a Windows redirect's cp1252, ascii)."""
    try:
        DRAWING.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def write(text: str, stream=None) -> None:
    """Write text to the stream (default: standard output) and flush it. A character its encoding lacks
    becomes "?"; a reader that went away (`| head`) ends the output quietly, any other failure in one line."""
    stream = sys.stdout if stream is None else stream
    if stream is None:  # Python started with its standard output closed
        return
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        stream.write(text.encode(encoding, errors="replace").decode(encoding))
        stream.flush()
    except OSError as exc:
        if not isinstance(exc, BrokenPipeError):
            print(f"cannot print the report: {exc.strerror or exc}", file=sys.stderr)
        _discard_rest(stream)


def _discard_rest(stream) -> None:
    # What is still buffered would fail again when Python flushes it at exit, with a traceback: send it nowhere.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def reopen_closed_standard_descriptors() -> None:
    """Point a standard descriptor that was closed at start (`>&-`) at the null device. Left closed, a pipe the
    grader opens to its worker would take that number, which the worker's own standard streams then overwrite."""
    for fd in (0, 1, 2):  # in order: os.open takes the lowest free number, which is this one
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
