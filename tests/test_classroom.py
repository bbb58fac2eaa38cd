"""GitHub Classroom's workflow: the shape Classroom generates, ids the reporter accepts, and step commands whose
exit status is the concept's all-or-nothing score."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is the platforms extra: pip install -e '.[platforms]'")

from conftest import ROOT, run_cli, solution_source  # noqa: E402
from grader.catalogue import load  # noqa: E402

SECTIONS = ("# --- 3.4", "# --- 3.5")


def partial_source() -> str:
    """The stubs with the chapter's first section solved: a student half-way through."""
    stubs = (ROOT / "exercises" / "attention.py").read_text()
    solved = solution_source()
    first = solved[solved.index("# --- 3.3"):solved.index(SECTIONS[0])]
    return stubs[:stubs.index("# --- 3.3")] + first + stubs[stubs.index(SECTIONS[0]):]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    handout = tmp_path_factory.mktemp("classroom") / "handout"
    assert run_cli("release", handout, timeout=600).returncode == 0
    result = run_cli("classroom", handout)
    assert result.returncode == 0, result.stderr
    return handout


@pytest.fixture(scope="module")
def workflow(release):
    return yaml.safe_load((release / ".github" / "workflows" / "classroom.yml").read_text())


def test_the_workflow_has_classrooms_shape(workflow):
    assert workflow["name"] == "Autograding Tests"
    # The key is written quoted: YAML 1.1 (PyYAML) would read a bare `on` as true; GitHub reads either.
    assert workflow["on"] == ["push", "repository_dispatch"] and True not in workflow
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[1]["uses"].startswith("actions/setup-python@")
    assert "download.pytorch.org/whl/cpu" in steps[2]["run"] and "requirements.txt" in steps[2]["run"]
    graders, reporter = steps[3:-1], steps[-1]
    assert all(s["uses"] == "classroom-resources/autograding-command-grader@v1" for s in graders)
    assert not any("setup-command" in s["with"] for s in graders)  # the install runs once, above
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"


def test_step_ids_scores_and_env_names_follow_the_reporters_rules(workflow):
    steps = next(iter(workflow["jobs"].values()))["steps"]
    graders, reporter = steps[3:-1], steps[-1]
    catalogue = load()
    ids = [s["id"] for s in graders]
    assert all(re.fullmatch(r"[a-zA-Z0-9]+", i) for i in ids) and len(set(ids)) == len(ids)
    assert re.fullmatch(r"([a-zA-Z0-9]+,)*[a-zA-Z0-9]+", reporter["with"]["runners"])
    assert reporter["with"]["runners"].split(",") == ids
    # The reporter reads process.env[`${runner.trim().toUpperCase()}_RESULTS`].
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}
    for step, concept in zip(graders, catalogue.concepts):
        assert step["with"]["test-name"] == concept.title and step["name"] == concept.title
        assert step["with"]["max-score"] == int(concept.points) and isinstance(step["with"]["max-score"], int)
        assert isinstance(step["with"]["timeout"], int) and 0 < step["with"]["timeout"] <= 360  # minutes
        assert step["with"]["command"] == f"python -m grader exercises --concept {concept.id} --fail-under 100%"


@pytest.mark.parametrize("submission", ["complete", "partial", "empty"])
def test_every_step_passes_exactly_when_its_concept_has_full_marks(release, workflow, submission, tmp_path):
    sources = {"complete": solution_source(), "partial": partial_source(),
               "empty": (ROOT / "exercises" / "attention.py").read_text()}
    (release / "exercises" / "attention.py").write_text(sources[submission])
    report = tmp_path / "report.json"
    # The command grader runs each command with PATH and HOME only; `python` is the one setup-python put first.
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "grader", "exercises", "--json", str(report)], cwd=release, env=env,
                   capture_output=True, timeout=300, check=True)
    full = {c["id"]: c["score"] == c["max_score"] for c in json.loads(report.read_text())["concepts"]}
    for step in next(iter(workflow["jobs"].values()))["steps"][3:-1]:
        result = subprocess.run(step["with"]["command"], shell=True, cwd=release, env=env, capture_output=True,
                                text=True, timeout=300)
        concept = step["with"]["command"].split("--concept ")[1].split()[0]
        assert result.returncode == (0 if full[concept] else 3), (submission, concept, result.stderr)
    expected_passes = {"complete": 13, "partial": 3, "empty": 0}[submission]
    assert sum(full.values()) == expected_passes


def test_bad_classroom_inputs_are_one_line_errors(tmp_path, release):
    for args, message in [((tmp_path,), "is not a student release"), ((ROOT,), "holds the hidden suites"),
                          ((release,), "exists; pass --force"), ((release, "--submission", "lab"), "invalid choice")]:
        result = run_cli("classroom", *args)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    notebook = run_cli("classroom", release, "--submission", "notebook", "--force")
    assert notebook.returncode == 0, notebook.stderr
    text = (release / ".github" / "workflows" / "classroom.yml").read_text()
    assert "python -m grader attention.ipynb --concept causal_mask --fail-under 100%" in text
