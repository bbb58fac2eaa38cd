"""What the student command line and the instructors' commands share: a parser whose errors are one line, and
the options that grading one submission and grading a batch both take."""
import argparse
import sys

from grader.errors import UsageError

# Named here, not only in grader.instructor_commands, so that a student release, which leaves that module out,
# still knows them for what they are.
INSTRUCTOR_COMMANDS = ("release", "batch", "gradescope", "nbgrader", "classroom", "prairielearn", "export")


class Parser(argparse.ArgumentParser):
    """Bad arguments become a one-line UsageError instead of argparse's usage dump."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    from grader.pipeline import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, DEVICES

    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where student code runs (default: cpu)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"wall-clock budget for one submission (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--config", metavar="PATH",
                        help="assignment file: concepts and points (default: grader/assignment.toml)")
    parser.add_argument("--memory", type=float, default=DEFAULT_MEMORY_GB, metavar="GIB",
                        help=f"memory limit of student code in GiB (default: {DEFAULT_MEMORY_GB:g})")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run student code without bubblewrap even where it is available")


def print_warning(text: str | None) -> None:
    if text:
        print(text, file=sys.stderr)
