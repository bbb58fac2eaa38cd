"""Run the grading suites (real pytest files) against one submission and collect each test's outcome."""
import contextlib
import hashlib
import io
import os
from pathlib import Path

from grader.errors import GraderError
from grader.results import TestOutcome

SUITES_DIR = Path(__file__).with_name("suites")
# pytest plugins grading has no use for; each costs time on every test.
UNUSED_PLUGINS = [option for name in ("cacheprovider", "logging", "warnings", "unraisableexception",
                                      "threadexception", "faulthandler", "junitxml", "pastebin", "stepwise",
                                      "doctest", "debugging")
                  for option in ("-p", f"no:{name}")]
VISIBILITY_DIRS = ("public", "hidden")


def suite_dirs(root: Path = SUITES_DIR, visibilities=VISIBILITY_DIRS) -> list[Path]:
    """The suite folders present: both for instructors, only `public` in a student release."""
    return [root / name for name in visibilities if (root / name).is_dir()]


def public_only(root: Path = SUITES_DIR) -> bool:
    """Whether only the public checks are available (a student release)."""
    return not (root / "hidden").is_dir()


def suites_hash(root: Path = SUITES_DIR) -> str:
    """A hash of every suite file, so a report says which tests produced it."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _no_plugin_autoload():
    # Plugins installed beside the grader (pytest-cov, pytest-timeout, ...) must not change grading.
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def outcome_of(test: dict) -> TestOutcome:
    metadata = test.get("metadata", {})
    status = metadata.get("status") or {"passed": "passed", "skipped": "skipped"}.get(test["outcome"], "error")
    message = metadata.get("message")
    if test["outcome"] == "skipped":
        status, message = "skipped", _skip_reason(test)
    return TestOutcome(nodeid=test["nodeid"], concept=metadata["concept"], visibility=metadata["visibility"],
                       status=status, message=message, misconception=metadata.get("misconception"),
                       not_implemented=bool(metadata.get("not_implemented")))


def _skip_reason(test: dict) -> str | None:
    for stage in ("setup", "call"):
        longrepr = test.get(stage, {}).get("longrepr")
        if longrepr:
            return str(longrepr).rsplit("Skipped: ", 1)[-1].strip(" ')\"")
    return None


def run_suites(proxy, device: str, concept_ids: tuple[str, ...], selected: tuple[str, ...] = (),
               root: Path = SUITES_DIR, visibilities=VISIBILITY_DIRS) -> list[TestOutcome]:
    """Run every suite test of the selected concepts (and visibilities) against the proxy's submission."""
    import pytest
    from pytest_jsonreport.plugin import JSONReport

    from grader.plugin import GradingPlugin

    dirs = suite_dirs(root, visibilities)
    if not dirs:
        raise GraderError(f"no grading suites found in {root}")
    report_plugin = JSONReport()
    args = [*map(str, dirs), "-c", str(root / "pytest.ini"), "--rootdir", str(root), "-p", "pytest_jsonreport.plugin",
            *UNUSED_PLUGINS, "--import-mode=importlib", "--json-report-file=none", "-s", "-q", "--no-header",
            "--tb=no"]  # outcomes come from the plugin's classification, not from tracebacks
    log = io.StringIO()
    with _no_plugin_autoload(), contextlib.redirect_stdout(log):
        code = pytest.main(args, plugins=[report_plugin, GradingPlugin(proxy, device, concept_ids, selected)])
    report = report_plugin.report
    broken = [c for c in report.get("collectors", []) if c.get("outcome") == "failed"]
    if broken or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        detail = broken[0].get("longrepr", "") if broken else log.getvalue()[-2000:]
        raise GraderError(f"the grading suites could not run: {detail}")
    return [outcome_of(test) for test in report.get("tests", [])]
