"""The Gradescope autograder: the zip built through the CLI, and its real run_autograder on real submissions."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli

SMALL_ASSIGNMENT = "[points]\ncausal_mask = 10\ngpt2_sizing = 5\n"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    result = run_cli("gradescope", out)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    return out


def unpack(autograder_zip, root: Path) -> Path:
    """Lay out an autograder as Gradescope does: the zip in root/source, run_autograder copied to root."""
    with zipfile.ZipFile(autograder_zip) as archive:
        for info in archive.infolist():
            archive.extract(info, root / "source")
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    """Run the zipped run_autograder with bash, python3 being this interpreter, and return results.json."""
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHONPATH": str(root / "source"),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_format(results)
    return results


def assert_gradescope_format(results: dict) -> None:
    assert set(results) == {"score", "output", "tests"}
    assert isinstance(results["output"], str)
    for test in results["tests"]:
        assert set(test) - {"output_format"} == {"name", "score", "max_score", "output", "visibility", "tags"}
        assert test.get("output_format", "html") == "html"  # Gradescope's format for output with inline SVG
        assert 0 <= test["score"] <= test["max_score"] and test["visibility"] == "visible"
        assert isinstance(test["output"], str) and len(test["tags"]) == 1
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=0.011)


def by_concept(results: dict) -> dict:
    return {test["tags"][0]: test for test in results["tests"]}


def test_zip_holds_the_scripts_and_the_grader_only(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    top = {name.split("/")[0] for name in infos}
    assert top == {"setup.sh", "run_autograder", "assignment.toml", "pyproject.toml", "README.md", "grader"}
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 & stat.S_IXUSR, script
    assert {"grader/catalogue.toml", "grader/assignment.toml", "grader/platforms/gradescope.py"} <= set(infos)
    for suite in ("public", "hidden"):
        assert f"grader/suites/{suite}/test_causal_attention.py" in infos
    assert not [name for name in infos if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in infos if name.startswith(("solutions/", "exercises/", "tests/"))]
    assert infos["assignment.toml"].file_size == (ROOT / "grader" / "assignment.toml").stat().st_size


def test_scripts_are_valid_bash(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        result = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    setup = (root / "source" / "setup.sh").read_text()
    assert "download.pytorch.org/whl/cpu" in setup and "pip3 install /autograder/source" in setup


def test_existing_zip_is_kept_without_force(autograder_zip):
    before = autograder_zip.read_bytes()
    result = run_cli("gradescope", autograder_zip)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "exists; pass --force to replace it" in result.stderr
    assert autograder_zip.read_bytes() == before
    assert run_cli("gradescope", autograder_zip, "--force").returncode == 0


def test_bad_paths_are_one_line_errors(tmp_path):
    for args in (["gradescope", tmp_path / "no" / "such" / "dir" / "a.zip"],
                 ["gradescope", tmp_path / "a.zip", "--config", tmp_path / "missing.toml"]):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: "), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_reference_gets_full_marks(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path)
    shutil.copy(ROOT / "solutions" / "attention.py", root / "submission")
    results = run_autograder(root)
    assert results["score"] == 100 and results["output"] == ""
    assert len(results["tests"]) == 13
    assert all(test["score"] == test["max_score"] for test in results["tests"])
    assert by_concept(results)["causal_mask"]["name"].startswith("Causal")


def test_mutant_loses_its_concept_with_the_diagnosis(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path)
    shutil.copy(SUBMISSIONS / "mask_includes_diagonal.py", root / "submission")
    tests = by_concept(run_autograder(root))
    assert tests["causal_mask"]["score"] < tests["causal_mask"]["max_score"]
    assert "mask_includes_diagonal" in tests["causal_mask"]["output"]
    causal = tests["causal_mask"]
    assert causal["output_format"] == "html" and causal["output"].count("<svg") == 3  # yours, expected, legend
    assert "The mask also hides the diagonal" in causal["output"]
    assert all(t["score"] == t["max_score"] for cid, t in tests.items() if cid != "causal_mask")


@pytest.mark.parametrize("content", [None, "{ this is not json"], ids=["empty_folder", "broken_notebook"])
def test_ungradable_submission_still_gets_results(autograder_zip, tmp_path, content):
    root = unpack(autograder_zip, tmp_path)
    if content is not None:
        (root / "submission" / "hw3.ipynb").write_text(content)
    results = run_autograder(root)
    assert results["score"] == 0 and len(results["tests"]) == 13
    assert all(test["score"] == 0 and test["output"] for test in results["tests"])
    assert results["output"].startswith("Could not grade everything: ")


def test_missing_submission_folder_still_gets_results(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path)
    (root / "submission").rmdir()
    results = run_autograder(root)
    assert results["score"] == 0 and len(results["tests"]) == 13
    assert all(test["score"] == 0 and "no submission folder" in test["output"] for test in results["tests"])


def test_config_is_baked_into_the_autograder(tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(SMALL_ASSIGNMENT)
    out = tmp_path / "small.zip"
    result = run_cli("gradescope", out, "--config", config)
    assert result.returncode == 0, result.stderr
    root = unpack(out, tmp_path / "root")
    shutil.copy(ROOT / "solutions" / "attention.py", root / "submission")
    results = run_autograder(root)
    assert [(t["tags"], t["max_score"]) for t in results["tests"]] == [(["causal_mask"], 10), (["gpt2_sizing"], 5)]
    assert results["score"] == 15


def test_a_crash_of_the_grader_still_gets_results(autograder_zip, tmp_path):
    root = unpack(autograder_zip, tmp_path)
    shutil.copy(ROOT / "solutions" / "attention.py", root / "submission")
    (root / "source" / "grader" / "scoring.py").write_text("raise RuntimeError('scoring is broken')\n")
    results = run_autograder(root)
    assert results["score"] == 0 and len(results["tests"]) == 13
    assert "internal error" in results["output"] and "scoring is broken" not in results["output"]
    assert all(test["score"] == 0 and "internal error" in test["output"] for test in results["tests"])
