"""GitHub Classroom: the autograding workflow a student release (the template repository) runs on every push.

The workflow has the shape Classroom generates: one `autograding-command-grader` step per concept, each
passing or failing as a whole by the command's exit status, and the `autograding-grading-reporter` step that
sends the scores to Classroom. It runs in the student's own repository, with the public checks only.
"""
import re
from pathlib import Path

from grader.catalogue import Catalogue, load as load_catalogue
from grader.errors import UsageError
from grader.installation import TORCH_REQUIREMENT

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
SUBMISSIONS = {"exercises": "exercises", "notebook": "attention.ipynb"}  # --submission: what the workflow grades
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
STEP_TIMEOUT_MINUTES = 10  # one concept's grading, worker start included, takes seconds
# Once, in a step of its own: a grader step's setup-command would repeat it for every concept. torch first, from
# the CPU index, in the versions requirements.txt admits (else pip would fetch another, CUDA's, from PyPI).
INSTALL = (f"python -m pip install --quiet '{TORCH_REQUIREMENT}' --index-url https://download.pytorch.org/whl/cpu"
           " && python -m pip install --quiet -r requirements.txt")


def step_id(concept_id: str) -> str:
    """The reporter accepts only [a-zA-Z0-9] ids and reads `<ID upper-cased>_RESULTS`."""
    return re.sub(r"[^a-zA-Z0-9]", "", concept_id)


def workflow(catalogue: Catalogue, submission: str = "exercises") -> dict:
    """The workflow as data, in the order GitHub reads it."""
    graders = []
    for concept in catalogue.concepts:
        if concept.points != int(concept.points):
            raise UsageError(f"GitHub Classroom scores whole points only; {concept.id} has {concept.points:g}")
        graders.append({
            "name": concept.title, "id": step_id(concept.id), "uses": COMMAND_GRADER,
            "with": {"test-name": concept.title,
                     "command": f"python -m grader {SUBMISSIONS[submission]} --concept {concept.id} --fail-under 100%",
                     "timeout": STEP_TIMEOUT_MINUTES, "max-score": int(concept.points)}})
    ids = [step["id"] for step in graders]
    if len(set(ids)) != len(ids):
        raise UsageError("two concepts give the same step id once their underscores are dropped; rename one")
    reporter = {"name": "Autograding Reporter", "uses": REPORTER,
                "env": {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids},
                "with": {"runners": ",".join(ids)}}
    steps = [{"name": "Checkout code", "uses": "actions/checkout@v4"},
             {"name": "Set up Python", "uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
             {"name": "Install CPU torch and the requirements", "run": INSTALL},
             *graders, reporter]
    return {"name": "Autograding Tests", "on": ["push", "repository_dispatch"],
            "permissions": {"checks": "write", "actions": "read", "contents": "read"},
            "jobs": {"run-autograding-tests": {"runs-on": "ubuntu-latest",
                                               "if": "github.actor != 'github-classroom[bot]'", "steps": steps}}}


def write_workflow(handout_dir, submission: str = "exercises", config=None, force: bool = False) -> Path:
    """Add .github/workflows/classroom.yml to a student release; returns the workflow's path."""
    try:
        import yaml
    except ImportError:
        raise UsageError("writing the Classroom workflow needs PyYAML: pip install 'attention-exercises[platforms]'"
                         ) from None
    handout = Path(handout_dir)
    if submission not in SUBMISSIONS:
        raise UsageError(f"--submission is exercises or notebook, not {submission!r}")
    if not (handout / "grader" / "suites" / "public").is_dir() or not (handout / SUBMISSIONS[submission]).exists():
        raise UsageError(f"{handout} is not a student release (make one with: python -m grader release {handout})")
    if (handout / "grader" / "suites" / "hidden").exists():
        raise UsageError(f"{handout} holds the hidden suites: Classroom runs in the student's repository, so give a "
                         "student release")
    target = handout / WORKFLOW
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to replace it")
    catalogue = load_catalogue(Path(config)) if config else load_catalogue()
    text = yaml.safe_dump(workflow(catalogue, submission), sort_keys=False, width=120)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# Written by `python -m grader classroom`: each concept passes only with full marks on the "
                      "public checks.\n" + text)
    return target
