"""--pytest-json: pytest-json-report's own format, written by the real plugin, agreeing with our report."""
import importlib.util
import json

import pytest

pytest.importorskip("pytest_jsonreport", reason="pytest-json-report is the platforms extra: pip install -e '.[platforms]'")

from conftest import run_cli, solution_source  # noqa: E402
from edited_submissions import MISTAKES, apply_edits  # noqa: E402
from grader.errors import UsageError  # noqa: E402
from grader.feedback import pytest_json  # noqa: E402

OURS_TO_PYTEST = {"passed": "passed", "failed": "failed", "skipped": "skipped", "error": "error", "timeout": "error"}


def test_the_report_has_the_plugins_documented_keys_and_our_outcomes(tmp_path, write):
    submission = write("mine.py", apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"]))
    result = run_cli(submission, "--json", tmp_path / "ours.json", "--pytest-json", tmp_path / "pytest.json")
    assert result.returncode == 0, result.stderr
    ours = json.loads((tmp_path / "ours.json").read_text())
    theirs = json.loads((tmp_path / "pytest.json").read_text())
    assert {"created", "duration", "exitcode", "summary", "tests"} <= set(theirs)
    assert theirs["exitcode"] == 1  # some tests failed
    assert theirs["summary"]["total"] == len(theirs["tests"]) == len(ours["tests"])
    by_nodeid = {t["nodeid"]: t for t in ours["tests"]}
    for test in theirs["tests"]:
        assert {"nodeid", "outcome", "setup", "call", "teardown", "metadata"} <= set(test)
        mine = by_nodeid[test["nodeid"]]
        assert test["outcome"] == OURS_TO_PYTEST[mine["outcome"]]
        metadata = test["metadata"]
        assert (metadata["concept"], metadata["visibility"], metadata["misconception"]) == \
            (mine["concept"], mine["visibility"], mine["misconception"])
        assert 0 < metadata["score_share"] <= 1
    for concept in {t["metadata"]["concept"] for t in theirs["tests"]}:
        shares = [t["metadata"]["score_share"] for t in theirs["tests"] if t["metadata"]["concept"] == concept]
        assert sum(shares) == pytest.approx(1, abs=1e-5)  # a concept's tests share its points
    failed = {t["nodeid"] for t in theirs["tests"] if t["outcome"] == "failed"}
    assert failed and all(by_nodeid[n]["concept"] == "causal_mask" for n in failed)
    assert theirs["summary"]["failed"] == len(failed) and theirs["summary"]["passed"] == len(theirs["tests"]) - len(failed)
    assert "mask_includes_diagonal" in {t["metadata"]["misconception"] for t in theirs["tests"]}


def test_batch_writes_one_pytest_json_per_student_beside_its_report(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "ada.py").write_text(solution_source())
    (klass / "ben.py").write_text("def attention_scores(:\n")
    result = run_cli("batch", klass, "--out", tmp_path / "out", "--pytest-json", timeout=600)
    assert result.returncode == 0, result.stderr
    ada = json.loads((tmp_path / "out" / "reports" / "ada.pytest.json").read_text())
    assert ada["exitcode"] == 0 and ada["summary"]["passed"] == ada["summary"]["total"] > 50
    assert "pytest_json" not in json.loads((tmp_path / "out" / "reports" / "ada.json").read_text())
    ben = json.loads((tmp_path / "out" / "reports" / "ben.pytest.json").read_text())
    assert ben["summary"].get("passed", 0) == 0 and ben["summary"]["total"] == ada["summary"]["total"]


def test_without_the_plugin_the_option_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(UsageError, match=r"pip install 'pytest-json-report>=1\.5,<2' \(the project's platforms extra"):
        pytest_json.require()


def test_the_report_carries_no_test_source_and_an_unrunnable_submission_a_valid_one(tmp_path, write):
    submission = write("mine.py", apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"]))
    assert run_cli(submission, "--pytest-json", tmp_path / "p.json").returncode == 0
    text = (tmp_path / "p.json").read_text()
    report = json.loads(text)
    stages = [t[stage] for t in report["tests"] for stage in ("setup", "call", "teardown")]
    assert not any({"crash", "traceback", "stdout", "stderr"} & set(stage) for stage in stages)
    assert "def test_" not in text and "student.build(" not in text  # pytest's long repr quotes the test's source
    failing = [t for t in report["tests"] if t["outcome"] != "passed"]
    assert failing and all(isinstance(t["call"]["longrepr"], str) for t in failing)
    broken = write("broken.ipynb", "{this is not json")
    assert run_cli(broken, "--pytest-json", tmp_path / "b.json").returncode == 0
    empty = json.loads((tmp_path / "b.json").read_text())
    assert empty["tests"] == [] and empty["summary"]["total"] == 0 and empty["exitcode"] == 5
    assert run_cli(submission, "--json", tmp_path / "same.json", "--html", tmp_path / "same.json").returncode == 2
