"""PrairieLearn: the course pieces, and the entrypoint run against a temporary /grade as PrairieLearn runs it."""
import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import run_cli, solution_source
from edited_submissions import MISTAKES, apply_edits

HOSTILE = solution_source() + '''
import os, glob
print("x" * 3_000_000)  # far past PrairieLearn's 1 MB for results.json
root = os.environ.get("PL_GRADE_ROOT", "/grade")
for path in glob.glob(root + "/results/*") + glob.glob(root + "/serverFilesCourse/**/hidden/*.py", recursive=True):
    print("SAW", path)
os.makedirs(root + "/results", exist_ok=True)
with open(root + "/results/results.json", "w") as f:
    f.write('{"score": 1.0, "gradable": true}')
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("pl") / "course"
    result = run_cli("prairielearn", out, "--image", "example/attention-grader:1")
    assert result.returncode == 0, result.stderr
    return out


def grade(course, tmp_path, uploads: dict) -> dict:
    """Lay out /grade as PrairieLearn does, run the question's entrypoint, and return results.json."""
    root = tmp_path / "grade"
    shutil.copytree(course / "serverFilesCourse", root / "serverFilesCourse")
    (root / "student").mkdir(parents=True)
    for name, content in uploads.items():
        (root / "student" / name).write_text(content)
    info = json.loads((course / "questions" / "attention" / "info.json").read_text())
    entrypoint = Path(info["externalGradingOptions"]["entrypoint"].replace("/grade", str(root), 1))
    env = {**os.environ, "PL_GRADE_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", str(entrypoint)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    text = (root / "results" / "results.json").read_text()
    assert len(text.encode()) < 1_000_000
    return json.loads(text)


def test_the_question_is_laid_out_as_prairielearn_expects(course):
    info = json.loads((course / "questions" / "attention" / "info.json").read_text())
    assert uuid.UUID(info["uuid"]) and info["gradingMethod"] == "External" and info["type"] == "v3"
    options = info["externalGradingOptions"]
    assert options["enabled"] is True and options["image"] == "example/attention-grader:1"
    assert options["entrypoint"] == "/grade/serverFilesCourse/attention_grader/run.sh"
    assert options["serverFilesCourse"] == ["attention_grader/"]
    assert 30 < options["timeout"] <= 600 and options["enableNetworking"] is False
    assert (course / "serverFilesCourse" / "attention_grader" / "grader" / "suites" / "hidden").is_dir()
    assert os.access(course / "serverFilesCourse" / "attention_grader" / "run.sh", os.X_OK)
    dockerfile = (course / "grader-image" / "Dockerfile").read_text()
    assert "bubblewrap" in dockerfile and "download.pytorch.org/whl/cpu" in dockerfile and "rich" in dockerfile

    class Elements(HTMLParser):
        found = {}

        def handle_starttag(self, tag, attrs):
            self.found[tag] = dict(attrs)

    page = Elements()
    page.feed((course / "questions" / "attention" / "question.html").read_text())
    upload = page.found["pl-file-upload"]
    assert upload == {"optional-file-names": "attention.py", "optional-file-patterns": "*.ipynb"}
    assert "pl-external-grader-results" in page.found


def test_the_uuid_is_stable_and_existing_files_are_kept_unless_forced(course, tmp_path):
    again = tmp_path / "again"
    assert run_cli("prairielearn", again).returncode == 0
    first, second = (json.loads((c / "questions" / "attention" / "info.json").read_text()) for c in (course, again))
    assert first["uuid"] == second["uuid"]
    refused = run_cli("prairielearn", again)
    assert refused.returncode == 2 and "pass --force" in refused.stderr and refused.stderr.count("\n") == 1
    assert run_cli("prairielearn", again, "--force").returncode == 0


def test_a_complete_upload_scores_one(course, tmp_path):
    results = grade(course, tmp_path, {"attention.py": solution_source()})
    assert results["gradable"] is True and results["score"] == 1.0
    assert len(results["tests"]) == 13 and all(t["points"] == t["max_points"] for t in results["tests"])
    assert not any("images" in t for t in results["tests"])  # pictures only where points were lost


def test_a_mistake_costs_its_concept_and_shows_its_picture(course, tmp_path):
    results = grade(course, tmp_path, {"attention.py": apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"])})
    causal = next(t for t in results["tests"] if t["name"] == "Causal mask")
    assert causal["points"] < causal["max_points"] and results["score"] == pytest.approx(0.94)
    assert causal["message"].startswith("The mask also hides the diagonal (mask_includes_diagonal)")
    (image,) = causal["images"]
    assert image["url"].startswith("data:image/svg+xml;base64,") and image["label"] == "CausalAttention"
    assert base64.b64decode(image["url"].split(",", 1)[1]).decode().startswith("<svg")


def test_a_hostile_upload_neither_writes_the_results_nor_sees_the_hidden_suites(course, tmp_path):
    results = grade(course, tmp_path, {"attention.py": HOSTILE})
    assert results["gradable"] is True and results["score"] == 1.0 and len(results["tests"]) == 13
    assert "SAW" not in json.dumps(results) and "xxxxxxxx" not in json.dumps(results)  # printing stays in the log


@pytest.mark.parametrize("uploads, error", [
    ({}, "Upload attention.py or a Jupyter notebook"),
    ({"notes.txt": "my answers"}, "found notes.txt"),
    ({"attention.py": "def attention_scores(:\n"}, "defines none of the exercises"),
    ({"hw.ipynb": "{this is not json"}, "hw.ipynb"),
    ({"attention.py": solution_source(), "hw.ipynb": "{}"}, "Upload one file"),
])
def test_an_upload_that_cannot_be_graded_is_not_gradable(course, tmp_path, uploads, error):
    results = grade(course, tmp_path, uploads)
    assert results["gradable"] is False and "score" not in results
    assert any(error in message for message in results["format_errors"]), results


def test_a_grader_fault_costs_the_student_no_attempt(tmp_path, write):
    """The grader failing (here: its worker cannot start) is PrairieLearn's "not gradable", never a zero."""
    from dataclasses import replace

    from grader.pipeline import grade
    from grader.platforms.prairielearn import judged

    report = grade(str(write("attention.py", solution_source())), concepts=["attention_scores"])
    faulty = replace(report, status="error", error="grader error, not the student's: bwrap: no permission",
                     grader_fault=True)
    results = judged(faulty, "attention.py", None)
    assert results["gradable"] is False and "The grader failed, not your code" in results["format_errors"][0]
    assert judged(report, "attention.py", None)["gradable"] is True
