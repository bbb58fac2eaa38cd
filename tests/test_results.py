"""One report type end to end: every report a batch writes reads back as the same bytes, an older grader's
report is graded again or refused in one line, and "could not grade" has one constructor."""
import json
import shutil

import pytest

from conftest import run_cli, solution_source
from grader import __version__
from grader.batch import BatchOptions, grade_class
from grader.catalogue import load
from grader.results import SCHEMA_VERSION, Report, ReportFormatError


def written(report: Report) -> str:
    """A report as batch and --json write it."""
    return json.dumps(report.to_json(), indent=2) + "\n"


def test_every_report_a_batch_writes_reads_back_byte_for_byte(corpus_batch):
    reports = sorted(p for p in (corpus_batch / "out" / "reports").glob("*.json") if not p.name.endswith(".pytest.json"))
    assert len(reports) > 80
    kinds = set()
    for path in reports:
        text = path.read_text(encoding="utf-8")
        report = Report.from_json(json.loads(text))
        assert written(report) == text, path.name
        assert report.batch is not None and report.to_json()["schema_version"] == SCHEMA_VERSION
        kinds.add((report.status, report.grader_fault, bool(report.pictures), bool(report.layouts)))
    # graded with and without pictures and layouts, the student's unrunnable files, the class folder's own problem
    assert {("graded", False, True, True), ("error", False, False, False), ("error", True, False, False)} <= kinds


def test_the_unrunnable_and_the_ambiguous_get_the_same_kind_of_report(corpus_batch):
    reports = {name: json.loads((corpus_batch / "out" / "reports" / f"{name}.json").read_text())
               for name in ("not_utf8", "nothing", "twice", "broken")}
    assert len({tuple(doc) for doc in reports.values()}) == 1  # the same keys, whoever decided it could not grade
    assert reports["twice"]["grader_fault"] and not reports["nothing"]["grader_fault"]
    assert not reports["not_utf8"]["grader_fault"]
    for doc in reports.values():
        assert doc["score"] == 0 and all(c["feedback"] == [doc["error"]] for c in doc["concepts"])


def test_a_report_of_an_older_grader_is_graded_again_and_refused_by_export(corpus_batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(corpus_batch / "out", out)
    older = out / "reports" / "reference.json"
    doc = json.loads(older.read_text())
    del doc["schema_version"]
    older.write_text(json.dumps(doc, indent=2) + "\n")
    exported = run_cli("export", out, "--to", "moodle", "--worksheet", tmp_path / "none.csv", "--out",
                       tmp_path / "import.csv")
    assert exported.returncode == 2
    assert exported.stderr.count("\n") == 1 and "reference.json" in exported.stderr
    assert "older version of the grader" in exported.stderr and "Traceback" not in exported.stderr
    again = run_cli("batch", corpus_batch / "class", "--out", out, timeout=600)
    assert again.returncode == 0, again.stderr
    assert " 1 graded" in again.stdout, again.stdout
    assert json.loads(older.read_text())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("doc, message", [
    ({"submission": "x"}, "older version of the grader"),
    ({"schema_version": SCHEMA_VERSION + 1}, f"schema version {SCHEMA_VERSION + 1}"),
    ({"schema_version": SCHEMA_VERSION, "tests": []}, "not a report of this grader"),
    ([1, 2], "older version of the grader"),
])
def test_what_is_not_a_report_of_this_version_is_one_clear_error(doc, message):
    with pytest.raises(ReportFormatError, match=message):
        Report.from_json(doc)


@pytest.mark.parametrize("grader_fault", [False, True])
def test_could_not_grade_zeroes_every_concept_with_the_reason(grader_fault):
    concepts = load().concepts
    report = Report.could_not_grade("alice", "why", concepts, device="cpu", grader_version=__version__,
                                    suites_hash="h", grader_fault=grader_fault)
    assert (report.status, report.error, report.score, report.grader_fault) == ("error", "why", 0, grader_fault)
    assert report.max_score == round(sum(c.points for c in concepts), 2)
    assert all(c.status == "error" and c.feedback == ("why",) for c in report.concepts)
    assert written(Report.from_json(report.to_json())) == written(report)


def test_the_graders_own_fault_is_a_field_and_keeps_its_message(monkeypatch, write):
    from grader import sandbox
    from grader.pipeline import grade

    monkeypatch.setattr(sandbox, "python_executable", lambda: str(write("python", "")) + "-missing")
    report = grade(str(write("attention.py", solution_source())), concepts=["attention_scores"])
    assert report.grader_fault and report.status == "error"
    assert report.error.startswith("grader error, not the student's: the worker could not start")
    assert written(Report.from_json(report.to_json())) == written(report)


def test_the_library_returns_its_warnings_and_prints_nothing(tmp_path, capfd):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "alice.py").write_text(solution_source())
    (klass / "bob.py").write_text(solution_source())
    said = []
    summary = grade_class(klass, tmp_path / "out", options=BatchOptions(sandbox=False, jobs=1),
                          on_warning=said.append)
    printed = capfd.readouterr()
    assert printed.out == printed.err == ""
    assert said == list(summary.warnings) and len(said) == len(set(said)) >= 1
    assert any("without a sandbox" in warning for warning in said)
    assert (summary.graded, summary.errors) == (2, 0)


def test_batch_options_are_checked_before_anything_is_graded(tmp_path):
    from grader.errors import UsageError

    for options, message in ((BatchOptions(jobs=0), "--jobs must be at least 1"),
                             (BatchOptions(jobs=2, scheduler="local:2"), "do not go together"),
                             (BatchOptions(memory_gb=0), "--memory"),
                             (BatchOptions(device="tpu"), "unknown device")):
        with pytest.raises(UsageError, match=message):
            grade_class(tmp_path, tmp_path / "out", options=options)
    assert not (tmp_path / "out").exists()
