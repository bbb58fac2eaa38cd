"""The command line: `python -m grader [SUBMISSION] [options]` grades one submission; subcommands
(`release`, `batch`, `gradescope`, `nbgrader`, `classroom`, `prairielearn`, `export`) serve
instructors. It only parses arguments and calls the
library; the project's own errors become a one-line message and an exit status."""
import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from grader.errors import GraderError, UsageError

BELOW_THRESHOLD = 3  # --fail-under: graded, but the total is below the bar (no other outcome exits with 3)

COMMANDS = ("release", "batch", "gradescope", "nbgrader", "classroom", "prairielearn", "export")
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Parser(argparse.ArgumentParser):
    """Bad arguments become a one-line UsageError instead of argparse's usage dump."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _grading_options(parser):
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


def grade_parser():
    parser = _Parser(prog="python -m grader",
                     description="Grade an attention-chapter submission concept by concept. Instructors: "
                                 f"python -m grader {{{','.join(COMMANDS)}}} --help")
    parser.add_argument("submission", nargs="?", default="./exercises",
                        help="a folder (copy of exercises/), a .py file or a .ipynb notebook (default: ./exercises)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument("--html", metavar="PATH", help="also write the feedback page (with its heatmaps) to PATH")
    parser.add_argument("--pytest-json", metavar="PATH",
                        help="also write pytest-json-report's report to PATH (needs the platforms extra)")
    parser.add_argument("--no-pictures", dest="pictures", action="store_false",
                        help="leave the text heatmaps out of the terminal report (JSON and HTML keep them)")
    parser.add_argument("--concept", action="append", default=[], metavar="ID",
                        help="grade only this concept (repeatable)")
    parser.add_argument("--hint", metavar="ID",
                        help="instead of grading, show the next hint for this concept (from the idea to the operation)")
    parser.add_argument("--fail-under", metavar="SCORE",
                        help=f"exit with status {BELOW_THRESHOLD} when the total (of the --concept ones, if given) is "
                             "below SCORE: points, or a percentage such as 80%%")
    _grading_options(parser)
    return parser


def command_parser(command):
    parser = _Parser(prog=f"python -m grader {command}")
    if command == "release":
        parser.description = "Write the student handout: stubs, notebook, public checks only."
        parser.add_argument("out_dir", metavar="OUT_DIR")
        parser.add_argument("--force", action="store_true", help="replace an existing OUT_DIR")
    elif command == "batch":
        from grader.batch.options import BatchOptions
        parser.description = "Grade a whole class: reports, feedback pages, grades.csv and a summary page."
        parser.add_argument("submissions", metavar="SUBMISSIONS_DIR")
        parser.add_argument("--out", required=True, metavar="OUT_DIR")
        parser.add_argument("--jobs", type=int, default=None, metavar="N",
                            help="students graded at once (default: the machine's cores)")
        parser.add_argument("--force", action="store_true", help="regrade everyone, ignoring saved reports")
        parser.add_argument("--student", action="append", default=[], metavar="ID",
                            help="regrade only this student (repeatable)")
        parser.add_argument("--pytest-json", action="store_true",
                            help="also write reports/<student>.pytest.json in pytest-json-report's format")
        parser.add_argument("--scheduler", metavar="ADDRESS",
                            help="grade on a Dask cluster: its scheduler's address (tls://...), or local:N to start N "
                                 "local worker processes (needs the cluster extra)")
        defaults = BatchOptions()
        parser.add_argument("--cluster-start-wait", type=float, default=defaults.cluster_start_wait, metavar="SECONDS",
                            help="with --scheduler: how long to wait for the cluster's first worker, whose job may be "
                                 f"queued (default: {defaults.cluster_start_wait:g})")
        parser.add_argument("--cluster-wait", type=float, default=defaults.cluster_wait, metavar="SECONDS",
                            help="with --scheduler: stop once no worker has been connected for this long mid-batch; "
                                 f"the students not graded get error reports (default: {defaults.cluster_wait:g})")
        _grading_options(parser)
    elif command == "gradescope":
        parser.description = "Build a Gradescope autograder zip (setup.sh and run_autograder at its top)."
        parser.add_argument("out_zip", metavar="OUT.zip")
        parser.add_argument("--config", metavar="PATH", help="assignment file baked into the autograder")
        parser.add_argument("--force", action="store_true", help="replace an existing OUT.zip")
    elif command == "classroom":
        parser.description = "Add GitHub Classroom's autograding workflow to a student release."
        parser.add_argument("handout_dir", metavar="HANDOUT_DIR")
        parser.add_argument("--submission", choices=("exercises", "notebook"), default="exercises",
                            help="what the workflow grades: exercises/ or attention.ipynb (default: exercises)")
        parser.add_argument("--config", metavar="PATH", help="assignment file: concepts and points")
        parser.add_argument("--force", action="store_true", help="replace an existing workflow")
    elif command == "prairielearn":
        from grader.platforms.prairielearn import DEFAULT_IMAGE
        parser.description = "Write a PrairieLearn question, its external grader and the grader's Docker image."
        parser.add_argument("out_dir", metavar="OUT_DIR")
        parser.add_argument("--image", default=DEFAULT_IMAGE,
                            help=f"the grading image's name, as you push it (default: {DEFAULT_IMAGE})")
        parser.add_argument("--config", metavar="PATH", help="assignment file baked into the grader")
        parser.add_argument("--force", action="store_true", help="replace the files this command wrote before")
    elif command == "export":
        parser.description = "Write a graded batch's totals into a Canvas gradebook import or a Moodle worksheet."
        parser.add_argument("graded_dir", metavar="GRADED_DIR", help="the --out folder of a batch")
        parser.add_argument("--to", required=True, choices=("canvas", "moodle"))
        parser.add_argument("--gradebook", metavar="CANVAS_EXPORT.csv", help="canvas: the gradebook Canvas exported")
        parser.add_argument("--assignment", metavar="'NAME (ID)'", help="canvas: the assignment's column")
        parser.add_argument("--worksheet", metavar="WORKSHEET.csv", help="moodle: the assignment's grading worksheet")
        parser.add_argument("--out", required=True, metavar="IMPORT.csv", help="the file to import into the LMS")
        parser.add_argument("--force", action="store_true", help="replace an existing --out and unmatched.csv")
    elif command == "nbgrader":
        parser.description = "Write a ready nbgrader course generated from solutions/."
        parser.add_argument("course_dir", metavar="COURSE_DIR")
        parser.add_argument("--config", metavar="PATH", help="assignment file: concepts and points")
        parser.add_argument("--force", action="store_true", help="overwrite files of an existing course")
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


def grade_one(options) -> int:
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
    print_warning(installation.check())  # a torch outside the tested range: said before grading starts
    report = grade(options.submission, device=options.device, concepts=options.concept, timeout=options.timeout,
                   config=options.config, sandbox=options.sandbox, memory_gb=options.memory,
                   pytest_json=bool(options.pytest_json))
    # The files first: whatever becomes of the printing (a closed pipe, an encoding), they are written.
    if options.json:
        write_output(options.json, "JSON report", json.dumps(report.to_json(), indent=2) + "\n")
    if options.html:
        write_output(options.html, "feedback page", feedback_html(report.submission, report))
    if options.pytest_json:
        write_output(options.pytest_json, "pytest-json-report report", json.dumps(report.pytest_json, indent=2) + "\n")
    warn_about_sandbox(options.sandbox, quiet=report.public_only)
    write(render_table(report, width=width_of(sys.stdout), pictures=options.pictures,
                       ascii_only=needs_ascii(sys.stdout)))
    if threshold is not None and not threshold.met_by(report.score, report.max_score):
        print(f"below the bar: {report.score:g} of {report.max_score:g} points, under "
              f"{threshold.points(report.max_score):g} (--fail-under {options.fail_under})", file=sys.stderr)
        return BELOW_THRESHOLD
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


def print_warning(text: str | None) -> None:
    if text:
        print(text, file=sys.stderr)


def run_command(command, options) -> None:
    if command == "release":
        from grader.release import write_release
        print(f"wrote the student release to {write_release(options.out_dir, force=options.force)}")
    elif command == "batch":
        from grader.batch import BatchOptions, grade_class
        from grader.batch.progress import progress_bar
        from grader.catalogue import ASSIGNMENT_FILE
        batch_options = BatchOptions(device=options.device, timeout=options.timeout,
                                     config=Path(options.config) if options.config else ASSIGNMENT_FILE,
                                     sandbox=options.sandbox, memory_gb=options.memory, pytest_json=options.pytest_json,
                                     jobs=options.jobs, scheduler=options.scheduler,
                                     cluster_start_wait=options.cluster_start_wait, cluster_wait=options.cluster_wait)
        with progress_bar() as on_progress:
            summary = grade_class(options.submissions, options.out, options=batch_options, force=options.force,
                                  students=options.student, on_progress=on_progress, on_warning=print_warning)
        print(summary)
    elif command == "gradescope":
        from grader.platforms.gradescope import build_autograder
        print(f"wrote the Gradescope autograder to {build_autograder(options.out_zip, config=options.config, force=options.force)}")
    elif command == "classroom":
        from grader.platforms.classroom import write_workflow
        path = write_workflow(options.handout_dir, options.submission, config=options.config, force=options.force)
        print(f"wrote the GitHub Classroom workflow to {path}")
    elif command == "prairielearn":
        from grader.platforms.prairielearn import write_course as write_prairielearn
        out = write_prairielearn(options.out_dir, image=options.image, config=options.config, force=options.force)
        print(f"wrote the PrairieLearn question, grader and image to {out}")
    elif command == "export":
        from grader.platforms.gradebooks import export
        result = export(options.graded_dir, options.to, options.out, gradebook=options.gradebook,
                        assignment=options.assignment, worksheet=options.worksheet, force=options.force)
        for kind, who, detail in result.unmatched:
            print(f"unmatched: {kind}: {who} ({detail})", file=sys.stderr)
        print(f"wrote {options.out}" + (f"; {len(result.unmatched)} unmatched, listed in "
                                        f"{Path(options.out).parent / 'unmatched.csv'}" if result.unmatched else ""))
    elif command == "nbgrader":
        from grader.platforms.nbgrader_course import write_course
        print(f"wrote the nbgrader course to {write_course(options.course_dir, config=options.config, force=options.force)}")


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


def _run(argv) -> int:
    try:
        if argv and argv[0] in COMMANDS:
            run_command(argv[0], command_parser(argv[0]).parse_args(argv[1:]))
        else:
            options = grade_parser().parse_args(argv)
            return show_hint(options) if options.hint else grade_one(options)
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
    sys.exit(main())
