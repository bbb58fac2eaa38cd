"""Run the grading suites (real pytest files) against submissions and collect each test's outcome."""
import contextlib
import hashlib
import io
import os
from pathlib import Path
from typing import Protocol, Sequence

from grader.errors import GraderError
from grader.results import Picture, TestOutcome


class StudentRun(Protocol):
    """One student's turn in a grading session."""

    def open(self):
        """The StudentProxy the tests talk to (its worker may start now)."""

    def finish(self, outcomes: list[TestOutcome], pictures: tuple[Picture, ...]):
        """Called once the student's tests have run and their pictures are drawn, before the next student's turn."""


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


def run_suites(students: Sequence[StudentRun], device: str, concept_ids: tuple[str, ...],
               selected: tuple[str, ...] = (), root: Path = SUITES_DIR, visibilities=VISIBILITY_DIRS,
               attribute_contract: bool = True, pytest_json: bool = False) -> list[dict] | None:
    """Run every suite test of the selected concepts (and visibilities) against each student in turn.

    One pytest session serves them all: the suites are collected once, then each student's tests run
    together, and `finish` hands each student's outcomes over before the next student starts. With
    `pytest_json`, each student gets a session of their own and their pytest-json-report report is returned.
    """
    if not pytest_json:
        _session(students, device, concept_ids, selected, root, visibilities, attribute_contract)
        return None
    from grader.feedback.pytest_json import GradedOutcomes

    reports = []
    for student in students:
        reports.append(_session([student], device, concept_ids, selected, root, visibilities, attribute_contract,
                                GradedOutcomes).report)
    return reports


def _session(students, device, concept_ids, selected, root, visibilities, attribute_contract, json_recorder=None):
    """One pytest session over the students; returns the JSON recorder, if one was asked for."""
    import pytest

    from grader.plugin import GradingPlugin

    dirs = suite_dirs(root, visibilities)
    if not dirs:
        raise GraderError(f"no grading suites found in {root}")
    args = [*map(str, dirs), "-c", str(root / "pytest.ini"), "--rootdir", str(root), *UNUSED_PLUGINS,
            "--import-mode=importlib", "-s", "-q", "--no-header",
            "--tb=no"]  # outcomes come from the plugin's classification, not from tracebacks
    plugin = GradingPlugin(students, device, concept_ids, selected, attribute_contract,
                           reported=json_recorder is not None)
    plugins = [plugin]
    recorder = None
    if json_recorder is not None:
        from grader.feedback import pytest_json

        recorder = json_recorder(plugin)
        args += pytest_json.ARGS
        plugins.append(recorder)
    log = io.StringIO()
    with _no_plugin_autoload(), contextlib.redirect_stdout(log):
        code = pytest.main(args, plugins=plugins)
    if plugin.interrupt is not None:  # the user's, never a grading outcome: the caller ends as it would have
        raise plugin.interrupt
    if plugin.broken_collectors or code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        detail = plugin.broken_collectors[0] if plugin.broken_collectors else log.getvalue()[-2000:]
        raise GraderError(f"the grading suites could not run: {detail}")
    return recorder
