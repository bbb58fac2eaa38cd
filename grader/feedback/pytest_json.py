"""pytest-json-report's format for CI dashboards and course scripts, written by the real plugin.

The plugin (the `platforms` extra) runs only when asked for, one pytest session per student, so the default
path and its speed are unchanged. GradedOutcomes, registered beside it, gives each test the outcome our report
gives it and its grading metadata, through the plugin's own `pytest_json_modifyreport` hook.
"""
import importlib.util
import time
from collections import Counter

from grader.errors import UsageError

PLUGIN = "pytest_jsonreport.plugin"
# The plugin's own options: no file of its own (the grader writes one per student), no logs or collectors.
ARGS = ["-p", PLUGIN, "--json-report", "--json-report-file", "none", "--json-report-omit", "collectors", "log",
        "warnings"]
OUTCOMES = {"passed": "passed", "failed": "failed", "skipped": "skipped", "error": "error", "timeout": "error"}
# What a stage must not carry out of the grader: the hidden tests' tracebacks and sources (our message replaces them).
PRIVATE_STAGE_KEYS = ("longrepr", "crash", "traceback", "stdout", "stderr", "log")


def require() -> None:
    """Fail with what to install, before grading, where the plugin is missing."""
    if importlib.util.find_spec("pytest_jsonreport") is None:
        raise UsageError("--pytest-json needs pytest-json-report: pip install 'pytest-json-report>=1.5,<2' (the "
                         "project's platforms extra; a student release's pytest-json extra)")


class GradedOutcomes:
    """Registered only with the JSON report: our outcomes and metadata onto the plugin's report, then kept."""

    def __init__(self, grading):
        self.grading = grading  # the GradingPlugin of this session (one student)
        self.report: dict | None = None

    def pytest_json_modifyreport(self, json_report):
        outcomes = {o.nodeid: o for o in self.grading.outcomes}
        counted = Counter(o.concept for o in outcomes.values() if o.status != "skipped")
        for test in json_report.get("tests", []):
            ours = outcomes.get(test["nodeid"])
            for stage in ("setup", "call", "teardown"):
                for key in PRIVATE_STAGE_KEYS:  # pytest's own repr quotes the test's source and expected values
                    test.get(stage, {}).pop(key, None)
            if ours is None:
                continue
            if ours.status != "passed" and "call" in test:
                test["call"]["longrepr"] = ours.message or ours.status
            test["outcome"] = OUTCOMES[ours.status]
            test["metadata"] = {"concept": ours.concept, "visibility": ours.visibility,
                                "misconception": ours.misconception, "status": ours.status,
                                "score_share": 0.0 if ours.status == "skipped" else round(1 / counted[ours.concept], 6)}
        summary = Counter(test["outcome"] for test in json_report.get("tests", []))
        json_report["summary"] = {**summary, "total": sum(summary.values()),
                                  "collected": json_report.get("summary", {}).get("collected", sum(summary.values()))}
        self.report = json_report


def unrunnable(reason: str) -> dict:
    """The report of a submission no test could run on (not UTF-8, several candidate files, ...): no tests."""
    return {"created": time.time(), "duration": 0.0, "exitcode": 5,  # pytest's "no tests ran"
            "root": "", "environment": {}, "summary": {"total": 0, "collected": 0}, "tests": [],
            "error": reason}
