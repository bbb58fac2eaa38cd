"""The command line: reports, options and clear one-line errors."""
import json

from conftest import ROOT, grade_json, run_cli, solution_source


def test_grades_the_reference_and_prints_a_table(tmp_path):
    result = run_cli("solutions/", "--json", tmp_path / "r.json", env={"COLUMNS": "300"})  # the path on one line
    assert result.returncode == 0, result.stderr
    assert "Total: 100/100" in result.stdout
    assert "causal_mask" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["submission"] == "solutions/"
    assert result.stdout.endswith(f"Wrote the JSON report to {tmp_path / 'r.json'}\n")


def test_default_submission_is_the_exercises_folder():
    result = run_cli()
    assert result.returncode == 0
    assert "Attention exercises: ./exercises" in result.stdout
    assert "Total: 0/100" in result.stdout
    assert "not implemented yet" in result.stdout and "not written yet" in result.stdout
    assert "could not be drawn" not in result.stdout and "Wrote" not in result.stdout  # no stub is drawn


def test_missing_path_is_a_one_line_error():
    result = run_cli("no/such/submission.py")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "submission not found: no/such/submission.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_are_one_line_errors():
    for args in (["--device", "tpu"], ["--timeout", "soon"], ["--concept", "softmax"], ["--timeout", "0"],
                 ["solutions", "--bogus"], ["--fail-under", "most"], ["--fail-under", "120%"], ["--fail-under", "-1"]):
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert result.stderr.startswith("error: "), result.stderr


def test_concept_option_limits_the_report(tmp_path):
    report = grade_json("solutions", "--concept", "causal_mask", "--concept", "gpt2_sizing", tmp_path=tmp_path)
    assert [c["id"] for c in report["concepts"]] == ["causal_mask", "gpt2_sizing"]
    assert report["max_score"] == 18 and report["score"] == 18
    assert {t["concept"] for t in report["tests"]} == {"causal_mask", "gpt2_sizing"}


def test_json_report_schema(tmp_path):
    report = grade_json(ROOT / "tests" / "submissions" / "mask_includes_diagonal.py", tmp_path=tmp_path)
    assert set(report) >= {"submission", "status", "error", "score", "max_score", "device", "grader_version",
                           "suites_hash", "concepts", "tests"}
    assert report["status"] == "graded" and report["error"] is None and report["device"] == "cpu"
    assert isinstance(report["score"], float) and report["max_score"] == 100
    for concept in report["concepts"]:
        assert set(concept) == {"id", "title", "score", "max_score", "status", "feedback", "misconceptions",
                                "diagnoses"}
        assert [d["id"] for d in concept["diagnoses"]] == concept["misconceptions"]
        assert concept["status"] in {"passed", "failed", "error", "timeout"}
        assert round(concept["score"], 2) == concept["score"]
        assert all(isinstance(f, str) for f in concept["feedback"])
    for test in report["tests"]:
        assert {"nodeid", "concept", "outcome", "visibility"} <= set(test)
        assert test["visibility"] in {"public", "hidden"}
    causal = next(c for c in report["concepts"] if c["id"] == "causal_mask")
    assert causal["misconceptions"] == ["mask_includes_diagonal"] and causal["status"] == "failed"
    assert abs(sum(c["score"] for c in report["concepts"]) - report["score"]) < 0.011


def test_submission_path_is_reported_as_given(tmp_path, write):
    write("hw/attention.py", solution_source())
    report = grade_json("hw", "--concept", "attention_scores", tmp_path=tmp_path, cwd=tmp_path)
    assert report["submission"] == "hw"


def test_unwritable_json_path_is_a_one_line_error():
    result = run_cli("solutions", "--concept", "attention_scores", "--json", "/no/such/dir/r.json")
    assert result.returncode == 2
    assert "cannot write the JSON report" in result.stderr


def test_fail_under_exits_3_below_the_bar_and_0_at_or_above_it(tmp_path, write):
    from edited_submissions import MISTAKES, apply_edits

    mistaken = write("mine.py", apply_edits(solution_source(), MISTAKES["mask_includes_diagonal"]))  # causal_mask 6/12
    cases = [(["--fail-under", "94"], 0), (["--fail-under", "94.5"], 3), (["--fail-under", "95%"], 3),
             (["--concept", "causal_mask", "--fail-under", "50%"], 0),
             (["--concept", "causal_mask", "--fail-under", "100%"], 3),
             (["--concept", "gpt2_sizing", "--fail-under", "100%"], 0), ([], 0)]
    for args, status in cases:
        result = run_cli(mistaken, *args)
        assert result.returncode == status, (args, result.stderr)
        assert ("below the bar" in result.stderr) == (status == 3)
    broken = write("broken.py", "def attention_scores(:\n")
    assert run_cli(broken, "--fail-under", "1").returncode == 3  # graded at zero: below any positive bar
