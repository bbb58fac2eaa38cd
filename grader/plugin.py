"""The pytest plugin that connects the suites to a submission and labels every test's outcome.

It provides the `student` fixture (a StudentProxy) and the `device` fixture, checks that every test carries
exactly one valid `concept` marker, keeps only the selected concepts, and adds to each test's entry in
pytest-json-report's report the concept, visibility, status and diagnosis the scorer reads.
"""
import pytest

from grader.checks import VISIBILITIES, Diagnosis
from grader.errors import GraderError
from grader.proxy import StudentProblem


def classify(exc: BaseException) -> dict:
    """How an exception raised by a test counts for the student."""
    if isinstance(exc, StudentProblem):
        return {"status": exc.status, "message": str(exc),
                "not_implemented": bool(getattr(exc, "not_implemented", False))}
    if isinstance(exc, Diagnosis):
        return {"status": "failed", "message": str(exc), "misconception": exc.misconception}
    if isinstance(exc, AssertionError):
        return {"status": "failed", "message": str(exc).split("\nassert ")[0].strip() or "a check failed"}
    return {"status": "error", "message": f"internal grader error ({type(exc).__name__}: {exc})"}


class GradingPlugin:
    def __init__(self, proxy, device: str, concept_ids: tuple[str, ...], selected: tuple[str, ...] = ()):
        self.proxy = proxy
        self.device_name = device
        self.concept_ids = concept_ids
        self.selected = selected

    @pytest.fixture(scope="session")
    def student(self):
        return self.proxy

    @pytest.fixture(scope="session")
    def device(self):
        return self.device_name

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "concept(id, visibility): the concept a test grades")

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
            items[:] = kept

    def pytest_runtest_setup(self, item):
        if self.proxy is not None:
            self.proxy.next_test()

    def pytest_json_runtest_metadata(self, item, call):
        marker = item.get_closest_marker("concept")
        metadata = {"concept": marker.args[0], "visibility": marker.kwargs["visibility"]}
        if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
            metadata.update(classify(call.excinfo.value))
        return metadata
