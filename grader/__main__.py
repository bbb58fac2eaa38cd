"""The command line: `python -m grader [SUBMISSION] [options]` grades one submission (the student commands);
subcommands (`release`, `batch`, `gradescope`, `nbgrader`, `classroom`, `prairielearn`, `export`) serve
instructors and live in grader.instructor_commands, which a student release leaves out. It only parses
arguments and calls the library; the project's own errors become a one-line message and an exit status."""
import gc
import importlib.util
import json
import signal
import sys
import threading
from pathlib import Path

from grader.arguments import INSTRUCTOR_COMMANDS, Parser, add_grading_options, print_warning
from grader.errors import GraderError, UsageError

BELOW_THRESHOLD = 3  # --fail-under: graded, but the total is below the bar (no other outcome exits with 3)
INSTRUCTOR_MODULE = "grader.instructor_commands"
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def has_instructor_commands() -> bool:
    """Whether this copy of the grader is the full project's, not a student release."""
    return importlib.util.find_spec(INSTRUCTOR_MODULE) is not None


def grade_parser():
    description = "Grade an attention-chapter submission concept by concept."
    if has_instructor_commands():
        description += f" Instructors: python -m grader {{{','.join(INSTRUCTOR_COMMANDS)}}} --help"
    parser = Parser(prog="python -m grader", description=description)
    parser.add_argument("submission", nargs="?", default=None,
                        help="a folder (copy of exercises/), a .py file or a .ipynb notebook (default: ./exercises, "
                             "or, from inside that folder, the folder itself)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument("--html", metavar="PATH", help="also write the feedback page (with its heatmaps) to PATH")
    parser.add_argument("--pytest-json", metavar="PATH",
                        help="also write pytest-json-report's report to PATH (needs pytest-json-report installed)")
    parser.add_argument("--no-pictures", dest="pictures", action="store_false",
                        help="leave the text heatmaps out of the terminal report (JSON and HTML keep them)")
    parser.add_argument("--concept", action="append", default=[], metavar="ID",
                        help="grade only this concept (repeatable)")
    parser.add_argument("--watch", action="store_true",
                        help="grade again each time the submission is saved (Ctrl-C ends); after the first grading "
                             "each takes a fraction of a second")
    parser.add_argument("--hint", metavar="ID",
                        help="instead of grading, show the next hint for this concept (from the idea to the operation)")
    parser.add_argument("--fail-under", metavar="SCORE",
                        help=f"exit with status {BELOW_THRESHOLD} when the total (of the --concept ones, if given) is "
                             "below SCORE: points, or a percentage such as 80%%")
    add_grading_options(parser)
    return parser


def show_hint(options) -> int:
    from grader.catalogue import load as load_catalogue
    from grader.console import write
    from grader.hints import hints_folder, next_hint

    submission = Path(options.submission)
    if not submission.exists():
        raise UsageError(f"submission not found: {options.submission} (the hint level is kept beside it)")
    catalogue = load_catalogue(Path(options.config)) if options.config else load_catalogue()
    hint = next_hint(catalogue, options.hint, hints_folder(submission))
    write(hint.shown(f"`python -m grader --hint {hint.concept}`") + "\n")
    return 0


def grade_one(options, workers=None) -> int:
    """Grade the submission once and show the report (with `workers` kept from an earlier grading, if any)."""
    from grader import installation
    from grader.console import needs_ascii, width_of, write
    from grader.feedback.pages import feedback_html
    from grader.pipeline import grade
    from grader.reporters import render_table
    from grader.scoring import Threshold

    threshold = Threshold.parse(options.fail_under) if options.fail_under is not None else None
    outputs = {kind: path for kind, path in (("JSON report", options.json), ("feedback page", options.html),
                                             ("pytest-json-report report", options.pytest_json)) if path}
    for kind, path in outputs.items():
        check_output_path(path, kind, options.submission)
    if len({Path(path).resolve() for path in outputs.values()}) < len(outputs):
        raise UsageError("--json, --html and --pytest-json must name different files")
    if workers is None:  # --watch says it once, before its first grading
        print_warning(installation.check())  # a torch outside the tested range: said before grading starts
    report = grade(options.submission, device=options.device, concepts=options.concept, timeout=options.timeout,
                   config=options.config, sandbox=options.sandbox, memory_gb=options.memory,
                   pytest_json=bool(options.pytest_json), workers=workers)
    # The files first: whatever becomes of the printing (a closed pipe, an encoding), they are written.
    if options.json:
        write_output(options.json, "JSON report", json.dumps(report.to_json(), indent=2) + "\n")
    if options.html:
        write_output(options.html, "feedback page", feedback_html(report.submission, report))
    if options.pytest_json:
        write_output(options.pytest_json, "pytest-json-report report", json.dumps(report.pytest_json, indent=2) + "\n")
    warn_about_sandbox(options.sandbox, quiet=report.public_only)
    write(render_table(report, width=width_of(sys.stdout), pictures=options.pictures,
                       ascii_only=needs_ascii(sys.stdout), written=tuple(outputs.items())))
    if threshold is not None and not threshold.met_by(report.score, report.max_score):
        print(f"below the bar: {report.score:g} of {report.max_score:g} points, under "
              f"{threshold.points(report.max_score):g} (--fail-under {options.fail_under})", file=sys.stderr)
        return BELOW_THRESHOLD
    return 0


def watch_one(options) -> int:
    """Grade the submission now and again at each save, until Ctrl-C, which ends it with one line."""
    from grader import installation
    from grader.isolation.kept import KeptWorkers
    from grader.watch import watch, watched_path

    path = watched_path(options.submission)
    print_warning(installation.check())
    workers = KeptWorkers()

    def grade_and_show():
        grade_one(options, workers)
        print(f"watching {options.submission}: graded again at each save (Ctrl-C ends)", flush=True)

    try:
        watch(path, grade_and_show)
    except KeyboardInterrupt:
        print(f"stopped watching {options.submission}", file=sys.stderr)
    finally:
        workers.close()
    return 0


def check_output_path(path: str, kind: str, submission: str) -> None:
    """Refuse, before grading, a path that cannot take the output or that is the submission itself."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write the {kind} to {path}: it is a folder; give a file name")
    if not target.parent.resolve().is_dir():
        raise UsageError(f"cannot write the {kind} to {path}: folder not found: {target.parent}")
    given = Path(submission).resolve()
    if target.resolve() == given or given in target.resolve().parents:
        raise UsageError(f"refusing to write the {kind} to {path}: it is part of the submission; choose another file")


def write_output(path: str, kind: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write the {kind} to {path}: {exc.strerror}") from None


def warn_about_sandbox(enabled: bool, quiet: bool = False):
    """Say once which protections this machine lacks (never in a student's self-check)."""
    from grader.sandbox import detect

    warning = detect(enabled).warning()
    if warning and not quiet:
        print(warning, file=sys.stderr)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a scheduler's timeout, a closed terminal): stop and clean up as Ctrl-C does."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on(signum, frame):
    for stop_signal in STOP_SIGNALS:  # a second signal must not break the cleanup of the first
        signal.signal(stop_signal, signal.SIG_IGN)
    raise Stopped(signum)


def main(argv=None) -> int:
    from grader.console import reopen_closed_standard_descriptors

    reopen_closed_standard_descriptors()
    argv = sys.argv[1:] if argv is None else list(argv)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {stop_signal: signal.signal(stop_signal, _stop_on) for stop_signal in STOP_SIGNALS}
    try:
        return _run(argv)
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


def run_instructor_command(command: str, argv: list[str]) -> None:
    if not has_instructor_commands():
        raise UsageError(f"`python -m grader {command}` is an instructor command: it needs the full project, "
                         "which this student handout is not; to grade yourself, run `python -m grader`")
    from grader.instructor_commands import run

    run(command, argv)


def _run(argv) -> int:
    try:
        if argv and argv[0] in INSTRUCTOR_COMMANDS:
            run_instructor_command(argv[0], argv[1:])
        else:
            options = grade_parser().parse_args(argv)
            if options.submission is None:
                from grader.submission import default_submission
                options.submission = default_submission(Path.cwd())
            if options.hint and options.watch:
                raise UsageError("--watch grades and --hint shows a hint: give one of them")
            if options.hint:
                return show_hint(options)
            return watch_one(options) if options.watch else grade_one(options)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GraderError as exc:
        print(f"grader error: {exc}", file=sys.stderr)
        return 1
    except Stopped as stop:
        print(f"stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    code = main()
    gc.freeze()  # the process ends: its last collection need not visit torch's and pytest's objects (0.3 s)
    sys.exit(code)
