"""The pytest plugin that runs the suites once per student and labels every test's outcome.

It provides the `student` fixture (the current student's StudentProxy) and the `device` fixture, checks that
every test carries exactly one valid `concept` marker, keeps only the selected concepts, and replaces
pytest's test loop: the suites are collected once, then every student's tests run in turn. Each test
becomes a TestOutcome with the concept, visibility, status and diagnosis the scorer reads.
"""
from collections import Counter

import pytest
from _pytest.runner import runtestprotocol

from grader.charging import Charges, repairable
from grader.checks import VISIBILITIES, Diagnosis, misconception_of_error
from grader.errors import GraderError
from grader.feedback import example
from grader.proxy import StudentProblem, WorkerStartFailure
from grader.results import TestOutcome


def classify(exc: BaseException) -> dict:
    """How an exception raised by a test counts for the student; `fault` says why it is the grader's own failure,
    decided here once."""
    if isinstance(exc, StudentProblem):
        return {"status": exc.status, "message": str(exc),
                "not_implemented": bool(getattr(exc, "not_implemented", False)),
                "misconception": misconception_of_error(getattr(exc, "error_type", ""), getattr(exc, "where", None))}
    if isinstance(exc, Diagnosis):
        return {"status": "failed", "message": str(exc), "misconception": exc.misconception}
    if isinstance(exc, AssertionError):
        return {"status": "failed", "message": str(exc).split("\nassert ")[0].strip() or "a check failed"}
    if isinstance(exc, example.NotDrawable):
        return {"status": "failed", "message": str(exc)}
    if isinstance(exc, WorkerStartFailure):
        return {"status": "error", "message": f"grader error: {exc}", "fault": str(exc)}
    internal = f"internal grader error ({type(exc).__name__}: {exc})"
    return {"status": "error", "message": internal, "fault": internal}


def concept_of(item) -> str:
    return item.get_closest_marker("concept").args[0]


class GradingPlugin:
    def __init__(self, students, device: str, concept_ids: tuple[str, ...], selected: tuple[str, ...] = (),
                 attribute_contract: bool = True, reported: bool = False):
        self.students = students  # StudentRun objects (see grader.runner), graded in this order
        # Whether pytest's reporting hooks run for every test (a plugin such as pytest-json-report listens);
        # otherwise each test runs without them, as nothing reads pytest's own reports.
        self.reported = reported
        self.device_name = device
        self.keeps_contract = attribute_contract
        self.concept_ids = concept_ids
        self.selected = selected
        self.proxy = None  # the current student's
        self.outcomes: list[TestOutcome] = []
        self.verdict: dict | None = None  # the current test's first failure, or its skip
        self.broken_collectors: list[str] = []
        self.interrupt: KeyboardInterrupt | None = None  # Ctrl-C (or a stop signal) that pytest caught
        self.charges = Charges(selected or concept_ids)  # where a failure is charged (grader.charging)

    @pytest.fixture
    def student(self):
        return self.fixture_values()["student"]

    @pytest.fixture
    def device(self):
        return self.fixture_values()["device"]

    @pytest.fixture
    def attribute_contract(self):
        """Whether the assignment asks for the contract's attribute names (see assignment.toml)."""
        return self.fixture_values()["attribute_contract"]

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "concept(id, visibility): the concept a test grades")

    def pytest_collectreport(self, report):
        if report.failed:
            self.broken_collectors.append(str(report.longrepr))

    def pytest_collection_modifyitems(self, config, items):
        problems, kept, dropped = [], [], []
        for item in items:
            markers = list(item.iter_markers("concept"))
            if len(markers) != 1 or len(markers[0].args) != 1:
                problems.append(f"{item.nodeid}: needs exactly one @concept(id, visibility=...) marker")
                continue
            concept_id, visibility = markers[0].args[0], markers[0].kwargs.get("visibility")
            if concept_id not in self.concept_ids:
                problems.append(f"{item.nodeid}: unknown concept {concept_id!r}")
            if visibility not in VISIBILITIES or f"/{visibility}/" not in f"/{item.path.parent.as_posix()}/":
                problems.append(f"{item.nodeid}: visibility {visibility!r} does not match its folder")
            (kept if not self.selected or concept_id in self.selected else dropped).append(item)
        if problems:
            raise GraderError("the grading suites are inconsistent: " + "; ".join(problems))
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # Each concept's tests one after the other, concepts in the order they first appear: each concept then
        # gets its share of a submission's time budget (see grader.proxy.Budget).
        first_seen = {}
        for item in kept:
            first_seen.setdefault(concept_of(item), len(first_seen))
        items[:] = sorted(kept, key=lambda item: first_seen[concept_of(item)])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        """Every collected test for the first student, then for the next, and so on.

        After each concept's last test its pictures are recorded (grader.feedback.example), within its time.
        """
        if session.testsfailed:
            raise session.Interrupted(f"{session.testsfailed} errors during collection")
        items = session.items
        tests_of = Counter(concept_of(item) for item in items)
        # Nobody reads pytest's reports and no test needs pytest's fixture machinery: call each test directly.
        direct = not self.reported and all(map(self.callable_directly, items))
        for student in self.students:
            self.proxy, self.outcomes, pictures = student.open(), [], []
            self.charges = Charges(self.selected or self.concept_ids)
            tests_left = len(items)
            for position, item in enumerate(items):
                concept = concept_of(item)
                if position == 0 or concept != concept_of(items[position - 1]):
                    self.proxy.budget.start_concept(tests_of[concept], tests_left)
                    tests_left -= tests_of[concept]
                # None after a student's last test: every fixture is torn down before the next student.
                next_item = items[position + 1] if position + 1 < len(items) else None
                if direct:
                    self._run_directly(item)
                elif self.reported:
                    item.config.hook.pytest_runtest_protocol(item=item, nextitem=next_item)
                else:
                    self.verdict = None  # what pytest_runtest_logstart does when reports are logged
                    runtestprotocol(item, nextitem=next_item, log=False)
                if next_item is None or concept_of(next_item) != concept:
                    self.proxy.next_test()
                    pictures += example.record(self.proxy, concept, lambda exc: classify(exc)["message"])
            student.finish(self.outcomes, tuple(pictures))
            self.proxy = None
        return True

    def callable_directly(self, item) -> bool:
        """Whether the test needs nothing of pytest's but this plugin's fixtures and its parameters: no other
        fixture (a conftest's, an autouse one, xunit setup), no marker that changes how it runs."""
        parameters = set(getattr(getattr(item, "callspec", None), "params", {}))
        return (isinstance(item, pytest.Function) and set(item.fixturenames) <= set(self.fixture_values()) | parameters
                and {marker.name for marker in item.iter_markers()} <= {"concept", "parametrize"})

    def fixture_values(self) -> dict:
        """What this plugin's fixtures (student, device, attribute_contract) give the current test."""
        return {"student": self.proxy, "device": self.device_name, "attribute_contract": self.keeps_contract}

    def _call(self, item):
        """Call a test that callable_directly allows with its fixtures' values and its parameters."""
        values = self.fixture_values()
        arguments = {**{name: values[name] for name in item.fixturenames if name in values},
                     **getattr(getattr(item, "callspec", None), "params", {})}
        item.obj(**arguments)

    def _run_directly(self, item):
        """Run one test as pytest would, without its reports: the same verdict, for a fraction of the time."""
        self.verdict = None
        self.proxy.next_test()
        try:
            self._call(item)
        except (KeyboardInterrupt, pytest.exit.Exception):
            raise  # what pytest's own protocol lets through as well
        except BaseException as exc:  # noqa: B902 - every other failure is the test's verdict, as in pytest
            self.verdict = self._verdict_of(item, exc)
        self._record(item)

    def _verdict_of(self, item, exc: BaseException) -> dict:
        if isinstance(exc, pytest.skip.Exception):
            return {"status": "skipped", "message": str(exc.msg)}
        classified = classify(exc)
        part_of = None if "fault" in classified else self._repaired_part(item, exc)
        return self.charges.verdict(concept_of(item), exc, classified, part_of)

    def _repaired_part(self, item, exc: BaseException) -> str | None:
        """The concept whose part of the class that failed (grader.part_repairs), replaced by a correct one, makes
        the test pass; None where no part does, or the test cannot be run again on its own."""
        found = repairable(exc, self.charges.graded)
        if found is None or self.proxy is None or not self.callable_directly(item):
            return None
        definition, parts = found
        if self.proxy.loaded()["names"].get(definition) != "module class":
            return None
        from grader.probes import explained_as_a_whole

        if getattr(exc, "repairable", None) and explained_as_a_whole(self.proxy, definition, self.device_name):
            return None  # built by another definition (a wrapper's head), and right on its own: the builder's fault

        for concept, part in parts:
            try:
                self.proxy.repair(definition, part)
                self._call(item)
                if not explained_as_a_whole(self.proxy, definition, self.device_name):
                    continue  # the test passes for another reason: it judges a property, not the whole output
            except (KeyboardInterrupt, pytest.exit.Exception):
                raise
            except BaseException:  # noqa: B902 - still failing, or the repair could not be made
                continue
            finally:
                self._undo_repair(definition)
            return concept
        return None

    def _undo_repair(self, definition: str):
        try:
            self.proxy.repair(definition, None)
        except (StudentProblem, WorkerStartFailure):
            pass  # the worker is gone, and its repair with it

    def _record(self, item):
        marker = item.get_closest_marker("concept")
        verdict = self.verdict or {"status": "passed"}
        self.outcomes.append(TestOutcome(
            nodeid=item.nodeid, concept=verdict.get("concept", marker.args[0]), visibility=marker.kwargs["visibility"],
            status=verdict["status"], message=verdict.get("message"),
            misconception=verdict.get("misconception"), not_implemented=verdict.get("not_implemented", False),
            fault=verdict.get("fault")))

    def pytest_keyboard_interrupt(self, excinfo):
        """Ctrl-C or a stop signal, raised again once pytest has ended its session (grader.runner); not the
        session.Interrupted this plugin raises for broken suites, which are reported as such."""
        if isinstance(excinfo.value, KeyboardInterrupt) and not isinstance(excinfo.value, pytest.Session.Interrupted):
            self.interrupt = excinfo.value

    def pytest_runtest_logstart(self, nodeid, location):
        self.verdict = None  # before any setup hook, which may already skip the test

    def pytest_runtest_setup(self, item):
        if self.proxy is not None:
            self.proxy.next_test()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None and self.verdict is None:
            self.verdict = self._verdict_of(item, call.excinfo.value)
        if call.when == "teardown":
            self._record(item)
        return report
