"""Grade one submission: read it, start its worker, run the suites, score the concepts."""
import contextlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from grader import __version__, installation
from grader.catalogue import Catalogue, load as load_catalogue
from grader.errors import GraderError, UsageError
from grader.hints import hints_folder, levels_taken
from grader.isolation import Launcher
from grader.isolation.kept import KeptWorkers
from grader.limits import CPU_SECONDS_OVER_TIMEOUT, Limits
from grader.proxy import StudentProblem, StudentProxy, WorkerStartFailure
from grader.results import ConceptResult, Report, TestOutcome
from grader.runner import SUITES_DIR, VISIBILITY_DIRS, public_only, run_suites, suites_hash
from grader.sandbox import Sandbox, detect
from grader.scoring import score
from grader.submission import CONTRACT_NAMES, Submission, locate
from grader.zygote_client import ZygoteClient

DEFAULT_TIMEOUT = 300.0  # seconds of wall clock for a whole submission
DEFAULT_MEMORY_GB = 4.0  # address space of a worker, in GiB
DEVICES = ("cpu", "cuda")


def check_options(catalogue: Catalogue, device: str, concepts, timeout: float) -> tuple[str, ...]:
    installation.check()  # its warning is the command line's to show (see grader.__main__)
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}: choose cpu or cuda")
    if timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    unknown = [c for c in concepts if c not in catalogue.concept_ids]
    if unknown:
        raise UsageError(f"unknown concept {unknown[0]!r}; choose from {', '.join(catalogue.concept_ids)}")
    return tuple(dict.fromkeys(concepts))


FILE_DOES_NOT_RUN = "not graded: the file does not run"  # a concept's feedback when its definitions never ran


def load_summary(loaded: dict, one_file: bool = False) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(error, notes, missing) from running the submission's cells: missing names are an error, failed cells
    notes. A `one_file` submission (a .py file, not a notebook's cells) that stopped before defining every name
    does not run: its error says so once, with the line, and is no note as well."""
    notes = tuple(f"{e['type']}: {e['message']}" + (f" at {e['where']}" if e.get("where") else "")
                  for e in loaded["cells"] if e)
    missing = tuple(name for name in CONTRACT_NAMES if loaded["names"].get(name) is None)
    if not missing:
        return None, notes, missing
    if one_file and notes:
        return f"the file does not run: {notes[0]}", (), missing
    error = f"missing definitions: {', '.join(missing)}"
    if notes:
        error += f" (the code stopped with {notes[0]})"
    return error, notes, missing


def concepts_never_run(catalogue: Catalogue, concept_ids, missing: tuple[str, ...]) -> set[str]:
    """The concepts none of whose definitions exist: in a file that does not run, nothing of theirs ran."""
    return {cid for cid in concept_ids
            if catalogue.concept(cid).definitions and set(catalogue.concept(cid).definitions) <= set(missing)}


def not_graded_result(result: ConceptResult) -> ConceptResult:
    """The concept at zero with one line saying that the file does not run, instead of a "not defined" per test."""
    cid = result.concept.id
    test = TestOutcome(nodeid=f"submission::{cid}", concept=cid, visibility="public", status="error",
                       message=FILE_DOES_NOT_RUN)
    return replace(result, tests=(test,), feedback=(FILE_DOES_NOT_RUN,), titles=())


def grade(submission_path: str, *, device: str = "cpu", concepts=(), timeout: float = DEFAULT_TIMEOUT,
          config=None, sandbox: bool = True, memory_gb: float = DEFAULT_MEMORY_GB, pytest_json: bool = False,
          workers: KeptWorkers | None = None) -> Report:
    """Grade the submission at `submission_path` and return its report.

    `config` is an assignment file (concepts and points; default grader/assignment.toml). Raises UsageError
    for bad options or a path that does not exist; every problem of the submission itself (syntax errors,
    crashes, hangs) ends up in the report instead. With `pytest_json`, the report carries pytest-json-report's.
    `workers`, kept by a caller that grades again and again, starts no torch import after its first grading.
    """
    catalogue = load_catalogue(Path(config)) if config else load_catalogue()
    selected = check_options(catalogue, device, concepts, timeout)
    if pytest_json:
        from grader.feedback.pytest_json import require
        require()
    report = grade_submission(locate(submission_path), catalogue, device=device, concepts=selected, timeout=timeout,
                              sandbox=detect(sandbox), limits=worker_limits(timeout, memory_gb),
                              pytest_json=pytest_json, workers=workers)
    return with_hints_taken(report, hints_folder(Path(submission_path)))


def with_hints_taken(report: Report, folder: Path) -> Report:
    """The report with the hint levels recorded in folder (see grader.hints): for the instructor, never graded."""
    return replace(report, hints_taken=tuple(sorted(levels_taken(folder).items())))


def not_graded(submission: str, reason: str, catalogue: Catalogue, device: str, *, grader_fault: bool) -> Report:
    """The report of a submission this grader could not grade at all, with every concept of the catalogue
    (see Report.could_not_grade)."""
    return Report.could_not_grade(submission, reason, catalogue.concepts, device=device, grader_version=__version__,
                                  suites_hash=suites_hash(SUITES_DIR), public_only=public_only(SUITES_DIR),
                                  grader_fault=grader_fault)


def worker_limits(timeout: float, memory_gb: float) -> Limits:
    if memory_gb <= 0:
        raise UsageError(f"--memory must be a positive number of GiB, not {memory_gb:g}")
    return Limits(memory_bytes=int(memory_gb * 2**30), cpu_seconds=int(timeout) + CPU_SECONDS_OVER_TIMEOUT)


def grade_submission(submission: Submission, catalogue: Catalogue, *, device: str = "cpu", concepts=(),
                     timeout: float = DEFAULT_TIMEOUT, visibilities=VISIBILITY_DIRS, sandbox: Sandbox | None = None,
                     limits: Limits | None = None, zygote: ZygoteClient | None = None, pytest_json: bool = False,
                     workers: KeptWorkers | None = None) -> Report:
    """Grade a submission already read from disk (or built from notebook cells) against the catalogue.

    The sandbox defaults to the best this machine offers; limits to the defaults for `timeout`. With a
    zygote (batch grading), the submission's workers are forked from it instead of started afresh; with
    `workers` (a kernel's or --watch's), they come ready from those kept between gradings.
    """
    return grade_submissions([submission], catalogue, device=device, concepts=concepts, timeout=timeout,
                             visibilities=visibilities, sandbox=sandbox, limits=limits, zygote=zygote,
                             pytest_json=pytest_json, workers=workers)[0]


def grade_submissions(submissions, catalogue: Catalogue, *, device: str = "cpu", concepts=(),
                      timeout: float = DEFAULT_TIMEOUT, visibilities=VISIBILITY_DIRS, sandbox: Sandbox | None = None,
                      limits: Limits | None = None, zygote: ZygoteClient | None = None,
                      pytest_json: bool = False, workers: KeptWorkers | None = None) -> list[Report]:
    """Grade several submissions in one pytest session, one after the other; returns their reports in order.

    Each submission has its own worker and its own time budget of `timeout` seconds. With `pytest_json`, each
    has a session of its own, and its report carries pytest-json-report's report of it. `workers` are told
    when grading ends, to have the next grading's worker ready.
    """
    submissions = list(submissions)
    reports = []
    grade_each(submissions, catalogue, reports.append, device=device, concepts=concepts, timeout=timeout,
               visibilities=visibilities, sandbox=sandbox, limits=limits, zygote=zygote, pytest_json=pytest_json,
               workers=workers)
    if len(reports) != len(submissions):
        raise GraderError("grading stopped before every submission was graded")
    return reports


def grade_each(submissions: Iterable[Submission], catalogue: Catalogue, on_report: Callable[[Report], None], *,
               device: str = "cpu", concepts=(), timeout: float = DEFAULT_TIMEOUT, visibilities=VISIBILITY_DIRS,
               sandbox: Sandbox | None = None, limits: Limits | None = None, zygote: ZygoteClient | None = None,
               pytest_json: bool = False, workers: KeptWorkers | None = None):
    """Grade submissions as they come, one after the other in one pytest session, handing each report to
    `on_report` as soon as it is made, in order. The next submission is taken from `submissions` only then: a
    batch's grading process takes each of its students from those the class has left (grader.batch.job).

    The options are grade_submissions'. A session that fails raises, and the submission it was grading gets no
    report; those before it have theirs.
    """
    session = Session(catalogue, tuple(concepts) or catalogue.concept_ids, device, timeout, sandbox or detect(),
                      limits or worker_limits(timeout, DEFAULT_MEMORY_GB), zygote, workers,
                      public_only(SUITES_DIR) or "hidden" not in visibilities, suites_hash(SUITES_DIR))

    def runnable():
        for submission in submissions:
            grading = Grading(submission, session)
            if grading.report is not None:  # a submission that could not be read: no worker, no tests
                on_report(_with_unrunnable_json(grading.report) if pytest_json else grading.report)
                continue
            try:
                yield grading  # the session grades it, then asks for the next
            finally:
                grading.close()
            on_report(grading.report)

    students = runnable()
    try:
        first = next(students, None)
        if first is None:
            return
        first.open()  # the worker imports torch while this process imports pytest and torch
        if device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise UsageError("--device cuda: no CUDA device is available on this machine")
        with one_torch_thread():
            if pytest_json:
                _each_in_a_json_session(itertools.chain([first], students), catalogue, session, visibilities)
            else:
                run_suites(itertools.chain([first], students), device, catalogue.known_concept_ids,
                           session.concept_ids, visibilities=visibilities,
                           attribute_contract=catalogue.attribute_contract)
    finally:
        students.close()  # the submission being graded when a session fails is closed unreported
        if workers is not None:
            workers.refill()


def _each_in_a_json_session(students, catalogue: Catalogue, session: "Session", visibilities):
    """One pytest session per student, whose report then carries pytest-json-report's report of it."""
    for grading in students:
        (json_report,) = run_suites([grading], session.device, catalogue.known_concept_ids, session.concept_ids,
                                    visibilities=visibilities, attribute_contract=catalogue.attribute_contract,
                                    pytest_json=True)
        grading.report = replace(grading.report, pytest_json=json_report)
        if json_report is None:
            grading.report = _with_unrunnable_json(grading.report)


def _with_unrunnable_json(report: Report) -> Report:
    """A report without a pytest-json-report report, given one that says no test ran, and why."""
    from grader.feedback.pytest_json import unrunnable

    return replace(report, pytest_json=unrunnable(report.error or "not run"))


@contextlib.contextmanager
def one_torch_thread():
    """This process computes on one thread while it grades, as the batch's grading processes do: its worker runs
    beside it, and a second thread would only fight the worker for a core (OpenMP's threads spin while they
    wait, which costs a check in a Jupyter kernel more than its tests). The caller's setting comes back after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Session:
    """What every submission of one grading session shares."""
    catalogue: Catalogue
    concept_ids: tuple[str, ...]
    device: str
    timeout: float
    sandbox: Sandbox
    limits: Limits
    zygote: ZygoteClient | None
    workers: KeptWorkers | None  # kept between gradings by a kernel or --watch
    only_public: bool  # a student release, or the public checks only
    suites_hash: str


class Grading:
    """One submission's turn in a grading session (see grader.runner.StudentRun): its worker, then its report."""

    def __init__(self, submission: Submission, session: Session):
        self.submission, self.session = submission, session
        self.proxy: StudentProxy | None = None
        self.report: Report | None = None
        if submission.problem:
            self.report = Report.could_not_grade(
                submission.display_path, submission.problem,
                tuple(session.catalogue.concept(cid) for cid in session.concept_ids), device=session.device,
                grader_version=__version__, suites_hash=session.suites_hash, public_only=session.only_public,
                missing=CONTRACT_NAMES)

    def open(self) -> StudentProxy:
        if self.proxy is None:
            session = self.session
            launcher = Launcher(session.sandbox, session.device, session.limits, session.zygote, session.workers)
            self.proxy = StudentProxy(self.submission, launcher, budget_seconds=session.timeout)
            self.proxy.start()
        return self.proxy

    def finish(self, outcomes, pictures):
        missing, fault, stopped = (), None, False
        file = self.submission.file
        one_file = file is not None and file.suffix == ".py"
        try:
            loaded = self.proxy.loaded()
            error, notes, missing = load_summary(loaded, one_file)
            stopped = one_file and bool(missing) and any(loaded["cells"])  # the file does not run
        except StudentProblem as exc:
            error, notes = f"the submission's top-level code {exc}", ()
        except WorkerStartFailure as exc:
            error, notes, fault = None, (), str(exc)
        finally:
            self.proxy.done()
        fault = fault or next((outcome.fault for outcome in outcomes if outcome.fault), None)
        if fault and not error:
            error = f"grader error, not the student's: {fault}"
        session = self.session
        results = score(session.catalogue, outcomes, session.concept_ids)
        never_run = concepts_never_run(session.catalogue, session.concept_ids, missing) if stopped else set()
        results = tuple(not_graded_result(r) if r.concept.id in never_run else r for r in results)
        pictures = tuple(sorted((p for p in pictures if p.concept not in never_run),
                                key=lambda p: session.concept_ids.index(p.concept)))
        layouts = tuple(layout.describe() for _, layout in sorted(self.proxy.layouts.items()))
        self.report = Report(submission=self.submission.display_path, status="error" if error else "graded",
                             error=error, device=session.device, grader_version=__version__,
                             suites_hash=session.suites_hash, concepts=results, output=self.proxy.printed_output(),
                             notes=notes, public_only=session.only_public, layouts=layouts,
                             output_cut_bytes=self.proxy.printed.cut_bytes, pictures=pictures, missing=missing,
                             grader_fault=fault is not None)

    def close(self):
        if self.proxy is not None:
            self.proxy.close()
