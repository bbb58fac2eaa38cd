"""Gradescope: build the autograder zip, and grade one submission inside Gradescope's container.

`build_autograder` writes the zip an instructor uploads. Gradescope extracts it into /autograder/source,
runs `setup.sh` once, then for every submission runs `run_autograder`, which calls `python3 -m
grader.platforms.gradescope`: that grades /autograder/submission and writes /autograder/results/results.json.
"""
import html
import json
import os
import sys
import traceback
from pathlib import Path

from grader.archives import write_zip
from grader.catalogue import ASSIGNMENT_FILE, Catalogue, Concept, load as load_catalogue
from grader.checkout import require_checkout
from grader.errors import GraderError, UsageError
from grader.installation import TORCH_REQUIREMENT
from grader.package_files import PACKAGE_DIR, grader_files

PROJECT_DIR = PACKAGE_DIR.parent

PROJECT_FILES = ("pyproject.toml", "README.md")
# Inside the zip (and so in /autograder/source) the assignment sits next to the grader package.
SOURCE_ASSIGNMENT = PROJECT_DIR / "assignment.toml"

SETUP_SH = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
set -euo pipefail
# The grader needs Python 3.11 or newer (tomllib): choose a base image whose python3 has it.
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {{ echo "setup.sh: python3 >= 3.11 is needed" >&2; exit 1; }}
# Recent Ubuntu images mark the system Python as externally managed (PEP 668); this image is ours to change.
export PIP_BREAK_SYSTEM_PACKAGES=1
# The CPU build of torch first, so that the package's torch dependency does not fetch the multi-GB CUDA build:
# the newest of the versions the grader is tested with.
pip3 install '{TORCH_REQUIREMENT}' --index-url https://download.pytorch.org/whl/cpu
pip3 install numpy
# The grader's other dependencies (pytest, rich); run_autograder runs the source itself.
pip3 install /autograder/source
# bubblewrap sandboxes student code where the container allows it; elsewhere workers run as another user.
(apt-get update -qq && apt-get install -y -qq bubblewrap) || echo "setup.sh: no bubblewrap; workers will run unprivileged"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades $AUTOGRADER_ROOT/submission and writes
# $AUTOGRADER_ROOT/results/results.json. AUTOGRADER_ROOT is /autograder there (a temporary folder in tests).
# Student code runs only in the grader's worker process: sandboxed by bubblewrap where it works, otherwise
# (as root) under another user. Either way it cannot read the hidden suites or write the results folder.
export AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
if [ "$(id -u)" = 0 ]; then
    chmod -R go-rwx "$AUTOGRADER_ROOT/source"
    mkdir -p "$AUTOGRADER_ROOT/results" && chmod 755 "$AUTOGRADER_ROOT/results"
fi
cd "$AUTOGRADER_ROOT/source"
exec python3 -m grader.platforms.gradescope
"""


def build_autograder(out_zip, config=None, force: bool = False) -> Path:
    """Write the Gradescope autograder zip to `out_zip` and return its path; raises UsageError for bad paths."""
    require_checkout("gradescope", *PROJECT_FILES)  # setup.sh installs the zip's copy of the project
    out = Path(out_zip)
    assignment = Path(config) if config else ASSIGNMENT_FILE
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give the path of the zip to write")
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it")
    if not assignment.is_file():
        raise UsageError(f"config file not found: {assignment}")
    load_catalogue(assignment.resolve())  # a bad assignment fails here, not on Gradescope
    # Written beside the target and renamed, so that a failed build leaves the user's file as it was.
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        write_zip(partial, zip_entries(assignment))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def zip_entries(assignment: Path) -> list[tuple[str, bytes, bool]]:
    """(name in the zip, content, executable) for every file of the autograder, in a fixed order."""
    entries = [("setup.sh", SETUP_SH.encode(), True), ("run_autograder", RUN_AUTOGRADER.encode(), True),
               ("assignment.toml", assignment.read_bytes(), False)]
    entries += [(name, (PROJECT_DIR / name).read_bytes(), False) for name in PROJECT_FILES]
    entries += [(name, content, False) for name, content in grader_files()]
    return entries


def grade_folder(submission_dir: Path, catalogue: Catalogue):
    """Grade the one submission in Gradescope's submission folder (a .py, a notebook or a copy of exercises/)."""
    from grader.pipeline import grade_submission
    from grader.submission import locate

    if not submission_dir.is_dir():
        raise UsageError(f"no submission folder at {submission_dir}")
    return grade_submission(locate(str(submission_dir)), catalogue)


def result_entry(concept: Concept, score: float, output: str, output_format: str = "text") -> dict:
    """One Gradescope test: a concept, its score and what the student should read."""
    entry = {"name": concept.title, "score": score, "max_score": concept.points, "output": output,
             "visibility": "visible", "tags": [concept.id]}
    return entry if output_format == "text" else {**entry, "output_format": output_format}


def html_output(lines: list[str], pictures) -> str:
    """A test's output as HTML: its lines as paragraphs, then the concept's heatmaps as inline SVG."""
    from grader.feedback.heatmaps import picture_html

    return "".join(f"<p>{html.escape(line)}</p>" for line in lines) + "".join(
        picture_html(p, f"{p.concept}-{i}") for i, p in enumerate(pictures))


def results_of(report) -> dict:
    """A graded report in Gradescope's results.json format: one test per concept, diagnosis first; a concept
    about attention weights that lost points has its output as HTML with the heatmaps inline."""
    tests = []
    for c in report.concepts:
        lines = [f"Diagnosis: {title} ({m})" for m, title in c.diagnoses] + list(c.feedback)
        pictures = [p for p in report.pictures if p.concept == c.concept.id]
        if pictures and c.status != "passed":  # as everywhere: the pictures of a concept that lost points
            tests.append(result_entry(c.concept, c.score, html_output(lines, pictures), "html"))
        else:
            tests.append(result_entry(c.concept, c.score, "\n".join(lines)))
    # What the student's code printed stays in the instructor's stdout: it may echo hidden test inputs.
    overall = [f"Could not grade everything: {report.error}"] if report.error else []
    overall += [f"A cell failed and was skipped: {note}" for note in report.notes]
    return {"score": round(sum(t["score"] for t in tests), 2), "output": "\n".join(overall), "tests": tests}


def failed_results(catalogue: Catalogue | None, reason: str) -> dict:
    """Every concept at zero with the reason, for a submission the autograder could not grade at all."""
    tests = [result_entry(c, 0.0, reason) for c in catalogue.concepts] if catalogue else []
    return {"score": 0.0, "output": reason, "tests": tests}


def write_results(results_dir: Path, results: dict) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def run_autograder_main() -> int:
    """Grade $AUTOGRADER_ROOT/submission and write results/results.json, whatever happens while grading."""
    from grader.reporters import render_table

    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    catalogue = None
    try:
        catalogue = load_catalogue(SOURCE_ASSIGNMENT)
        report = grade_folder(root / "submission", catalogue)
        print(render_table(report), end="")  # Gradescope keeps stdout for the instructor only
        results = results_of(report)
    except GraderError as exc:
        results = failed_results(catalogue, f"The autograder could not grade this submission: {exc}")
    except Exception:  # a crash still owes the student a results.json; the traceback is for the instructor
        traceback.print_exc(file=sys.stdout)
        results = failed_results(catalogue, "The autograder failed with an internal error; "
                                            "your instructor can see the details.")
    write_results(root / "results", results)
    return 0


if __name__ == "__main__":
    sys.exit(run_autograder_main())
