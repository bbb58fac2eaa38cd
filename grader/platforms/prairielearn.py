"""PrairieLearn: an externally graded question, the grader it runs, and the image it runs in.

`write_course` lays the pieces out as a PrairieLearn course does; `main` is the entrypoint PrairieLearn runs in
the grading container (`python3 -m grader.platforms.prairielearn`, from run.sh): it grades $PL_GRADE_ROOT/student
and writes $PL_GRADE_ROOT/results/results.json, whatever happens.
"""
import base64
import json
import os
import shutil
import sys
import traceback
import uuid
from pathlib import Path

from grader.catalogue import ASSIGNMENT_FILE, load as load_catalogue
from grader.errors import GraderError, UsageError

QUESTION = "attention"
GRADER_DIR = "attention_grader"  # in serverFilesCourse/, and so in /grade/serverFilesCourse/ while grading
QUESTION_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "attention-exercises/prairielearn/attention"))  # stable
DEFAULT_IMAGE = "attention-exercises-grader"
GRADING_TIMEOUT = 420  # seconds: the grader's own 300 s budget, its start and the results (PrairieLearn's cap: 600)
RESULTS_LIMIT = 1_000_000  # bytes: PrairieLearn's limit for results.json
UPLOADS = ("attention.py", "*.ipynb")

QUESTION_HTML = """\
<pl-question-panel>
  <p>Upload your work on the attention chapter: your <code>attention.py</code> (the file in
  <code>exercises/</code>) or your notebook (<code>.ipynb</code>). Each concept is scored on its own, with the
  misconception the grader recognises and, for attention weights, a picture of yours beside the expected ones.</p>
  <pl-file-upload optional-file-names="attention.py" optional-file-patterns="*.ipynb"></pl-file-upload>
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""

RUN_SH = """\
#!/usr/bin/env bash
# PrairieLearn runs this in the grading container. It grades $PL_GRADE_ROOT/student (default /grade) and writes
# $PL_GRADE_ROOT/results/results.json; the grader itself is the folder this script is in.
# Student code runs only in the grader's worker: sandboxed by bubblewrap where the container allows it,
# otherwise (as root) under another user, who cannot read this folder.
export PL_GRADE_ROOT="${PL_GRADE_ROOT:-/grade}"
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then
    chmod -R go-rwx .
fi
exec python3 -m grader.platforms.prairielearn
"""


def dockerfile(requirements: str) -> str:
    torch = next(line for line in requirements.split() if line.startswith("torch"))  # the tested versions
    packages = " ".join(f'"{line}"' for line in requirements.split() if not line.startswith("torch"))
    return f"""\
# The image PrairieLearn grades in: Python, CPU torch, bubblewrap and the grader's dependencies. The grader
# itself arrives with each job, in /grade/serverFilesCourse/{GRADER_DIR}/.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "{torch}" --index-url https://download.pytorch.org/whl/cpu \\
 && pip install --no-cache-dir {packages}
"""


def info_json(image: str) -> dict:
    return {
        "uuid": QUESTION_UUID, "title": "Attention exercises (chapter 3)", "topic": "Attention", "tags": ["code"],
        "type": "v3", "singleVariant": True, "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True, "image": image,
            "entrypoint": f"/grade/serverFilesCourse/{GRADER_DIR}/run.sh",
            "serverFilesCourse": [f"{GRADER_DIR}/"], "timeout": GRADING_TIMEOUT, "enableNetworking": False}}


def write_course(out_dir, image: str = DEFAULT_IMAGE, config=None, force: bool = False) -> Path:
    """Write questions/attention/, serverFilesCourse/attention_grader/ and grader-image/ into out_dir."""
    from grader.handout_texts import REQUIREMENTS
    from grader.package_files import grader_files

    out = Path(out_dir)
    assignment = Path(config) if config else ASSIGNMENT_FILE
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; give a folder for the PrairieLearn course")
    if not out.parent.is_dir():
        raise UsageError(f"folder not found: {out.parent}")
    if not assignment.is_file():
        raise UsageError(f"config file not found: {assignment}")
    load_catalogue(assignment.resolve())  # a bad assignment fails here, not in PrairieLearn
    if not image or any(c.isspace() for c in image):
        raise UsageError(f"--image must be a Docker image name, not {image!r}")
    question, grader, image_dir = out / "questions" / QUESTION, out / "serverFilesCourse" / GRADER_DIR, out / "grader-image"
    existing = [p for p in (question, grader, image_dir) if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} exists; pass --force to replace what this command writes")
    for path in existing:
        shutil.rmtree(path)
    question.mkdir(parents=True)
    (question / "info.json").write_text(json.dumps(info_json(image), indent=2) + "\n")
    (question / "question.html").write_text(QUESTION_HTML)
    for name, content in grader_files():
        (grader / name).parent.mkdir(parents=True, exist_ok=True)
        (grader / name).write_bytes(content)
    (grader / "assignment.toml").write_bytes(assignment.read_bytes())
    (grader / "run.sh").write_text(RUN_SH)
    (grader / "run.sh").chmod(0o755)
    image_dir.mkdir()
    (image_dir / "Dockerfile").write_text(dockerfile(REQUIREMENTS))
    return out


# --- the entrypoint ---------------------------------------------------------------------------

def uploaded(student_dir: Path) -> list[Path]:
    return sorted(p for p in student_dir.iterdir() if p.is_file()) if student_dir.is_dir() else []


def not_gradable(*errors: str) -> dict:
    """A results.json PrairieLearn shows as "invalid, not gradable": no points lost, no attempt used."""
    return {"gradable": False, "format_errors": list(errors)}


def image_of(picture, index: int) -> dict:
    from grader.feedback.heatmaps import pair_svg

    svg = pair_svg(picture, f"i{index}")
    return {"label": picture.label, "url": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()}


def results_of(report, sandbox_warning: str | None) -> dict:
    """A graded report in PrairieLearn's results format: one test per concept, pictures as images."""
    tests = []
    for c in report.concepts:
        lines = [f"{title} ({m})" for m, title in c.diagnoses] + list(c.feedback)
        pictures = [p for p in report.pictures if p.concept == c.concept.id]
        test = {"name": c.concept.title, "points": c.score, "max_points": c.concept.points,
                "message": "\n".join(lines), "output": f"{c.status}: {c.score:g}/{c.concept.points:g}"}
        if pictures and c.status != "passed":
            test["images"] = [image_of(p, i) for i, p in enumerate(pictures)]
        tests.append(test)
    message = [f"Could not grade everything: {report.error}"] if report.error else []
    message += [f"A cell failed and was skipped: {note}" for note in report.notes]
    if sandbox_warning:
        message.append(sandbox_warning)
    # What the student's code printed stays in the job's log for the instructor: it may echo hidden inputs.
    return {"gradable": True, "score": round(report.score / report.max_score, 4) if report.max_score else 0.0,
            "message": "\n".join(message), "tests": tests}


def within_limit(results: dict) -> dict:
    """results.json under PrairieLearn's 1 MB: images go first, then long messages are cut."""
    if len(json.dumps(results).encode()) <= RESULTS_LIMIT:
        return results
    for test in results.get("tests", []):
        test.pop("images", None)
    for test in results.get("tests", []):
        if len(test["message"]) > 2000:
            test["message"] = test["message"][:2000] + " [... cut ...]"
    if len(results.get("message", "")) > 20_000:  # many failed cells
        results["message"] = results["message"][:20_000] + " [... cut ...]"
    return results


def grade_uploads(root: Path) -> dict:
    from grader.pipeline import grade_submission
    from grader.reporters import render_table
    from grader.sandbox import detect
    from grader.submission import locate

    files = uploaded(root / "student")
    gradable = [p for p in files if p.name == "attention.py" or p.suffix == ".ipynb"]
    if not gradable:
        found = f" (found {', '.join(p.name for p in files)})" if files else ""
        return not_gradable(f"Upload attention.py or a Jupyter notebook (.ipynb){found}.")
    if len(gradable) > 1:
        return not_gradable(f"Upload one file to grade, not {len(gradable)} ({', '.join(p.name for p in gradable)}).")
    catalogue = load_catalogue(Path.cwd() / "assignment.toml")
    submission = locate(str(gradable[0]))
    if submission.problem:
        return not_gradable(submission.problem)
    report = grade_submission(submission, catalogue)
    print(render_table(report), end="")  # the job's log, for the instructor
    return judged(report, gradable[0].name, detect().warning())


def judged(report, name: str, sandbox_warning: str | None) -> dict:
    """The results of a graded upload: not gradable where nothing of the student's could be judged."""
    from grader.submission import CONTRACT_NAMES

    if report.grader_fault:  # ours, not the student's: no attempt used
        return not_gradable(f"The grader failed, not your code; your instructor can see the details ({report.error}).")
    if set(report.missing) == set(CONTRACT_NAMES):  # nothing ran: a syntax error, or not the exercises at all
        return not_gradable(f"{name} defines none of the exercises: {report.error}")
    return results_of(report, sandbox_warning)


def main() -> int:
    """Grade $PL_GRADE_ROOT/student and write results/results.json; a crash still writes one."""
    root = Path(os.environ.get("PL_GRADE_ROOT", "/grade"))
    try:
        results = grade_uploads(root)
    except GraderError as exc:
        results = not_gradable(f"The grader could not grade this submission: {exc}")
    except Exception:  # the traceback is for the instructor's log; the student is not charged an attempt
        traceback.print_exc(file=sys.stdout)
        results = not_gradable("The grader failed with an internal error; your instructor can see the details.")
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(within_limit(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
