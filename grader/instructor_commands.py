"""The instructors' commands (`release`, `batch`, `gradescope`, `nbgrader`, `classroom`, `prairielearn`,
`export`): their arguments, and the library call each makes. A student release leaves this module out, and with
it every module only these commands import (see grader.handout_modules)."""
import sys
from pathlib import Path

from grader.arguments import Parser, add_grading_options, print_warning


def run(command: str, argv: list[str]) -> None:
    """Parse an instructor command's arguments and run it."""
    run_command(command, command_parser(command).parse_args(argv))


def command_parser(command):
    parser = Parser(prog=f"python -m grader {command}")
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
        add_grading_options(parser)
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


def run_command(command, options) -> None:
    if command == "release":
        from grader.colab import HANDOUT_ZIP
        from grader.release import write_release
        out_dir = write_release(options.out_dir, force=options.force)
        print(f"wrote the student release to {out_dir}")
        print(f"wrote {out_dir / HANDOUT_ZIP}, the same files for Colab (see the release's README)")
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
