"""Write the student handout: the stubs, a notebook version, and the grader with the public checks only.

The release holds no solution code and no hidden test, and of the grader only what the student commands import
(grader/handout_modules.py). Its public checks still diagnose misconceptions: the reference implementation
(grader/live_reference.py) is left out, and the outputs it gave on the public checks' fixed inputs, for every
combination of choices, are stored instead (grader/stored_reference.py). Its pyproject.toml makes it a package
that students install (grader/handout_texts.py). handout.zip, in the release folder, holds the same files for
Colab, where the notebook's first cell installs them (grader/colab.py).
"""
import json
import shutil
from pathlib import Path

from grader.colab import write_handout_zip
from grader.errors import GraderError, UsageError
from grader.handout_modules import handout_files
from grader.handout_texts import REQUIREMENTS, STUDENT_README, pyproject_toml

PROJECT = Path(__file__).resolve().parent.parent
GRADER = PROJECT / "grader"


def _recorded_outputs():
    """Grade the reference solution with the public checks; returns the Recorder of every family of reference
    outputs they asked for (each with all its combinations of choices, so that every student's are there)."""
    from grader import reference
    from grader.catalogue import load
    from grader.live_reference import LiveReference
    from grader.pipeline import grade_submission
    from grader.stored_reference import Recorder
    from grader.submission import locate

    with reference.serving(Recorder(LiveReference())) as recorder:
        report = grade_submission(locate(str(PROJECT / "solutions")), load(), visibilities=("public",))
    if report.score != report.max_score:
        failing = [c.concept.id for c in report.concepts if c.score < c.concept.points]
        raise GraderError(f"the reference solution fails public checks ({', '.join(failing)}); no release written")
    return recorder


def _prepare(out_dir: Path, force: bool):
    if not (PROJECT / "solutions").is_dir():
        raise UsageError(f"no solutions/ in {PROJECT}: a release is made from the project, not from a release")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give a folder for the release")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise UsageError(f"{out_dir} exists and is not empty; pass --force to replace it")
        if out_dir.resolve() in (PROJECT, *PROJECT.parents):
            raise UsageError(f"refusing to replace {out_dir}: it holds this project")
        shutil.rmtree(out_dir)
    if not out_dir.parent.exists():
        raise UsageError(f"folder not found: {out_dir.parent}")


def write_release(out_dir, force: bool = False) -> Path:
    """Write the release into out_dir, handout.zip of its files included, and return its path."""
    from grader.catalogue import load
    from grader.checkout import require_checkout
    from grader.notebook_version import student_notebook
    from grader.reference import STORED_OUTPUTS

    require_checkout("release", "solutions/", "exercises/")
    out_dir = Path(out_dir)
    _prepare(out_dir, force)
    recorder = _recorded_outputs()
    staging = out_dir.with_name(out_dir.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(PROJECT / "exercises", staging / "exercises", ignore=ignore)
    for relative in handout_files():
        (staging / "grader" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GRADER / relative, staging / "grader" / relative)
    recorder.save(staging / "grader" / STORED_OUTPUTS.name)
    (staging / "attention.ipynb").write_text(json.dumps(student_notebook(load()), indent=1) + "\n")
    (staging / "README.md").write_text(STUDENT_README)
    (staging / "pyproject.toml").write_text(pyproject_toml())
    (staging / "requirements.txt").write_text(REQUIREMENTS)
    write_handout_zip(staging)
    out_dir.mkdir(exist_ok=True)
    for item in staging.iterdir():
        item.rename(out_dir / item.name)
    staging.rmdir()
    return out_dir
