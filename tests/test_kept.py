"""Workers kept between gradings (grader.isolation.kept), as a Jupyter kernel's check() and --watch keep them: the
same report as a fresh grading, nothing of one grading's student code left for the next, and nothing left
running once the process that keeps them ends."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SUBMISSIONS, solution_source
from edited_submissions import case_source
from grader.catalogue import load
from grader.isolation.kept import KeptWorkers
from grader.pipeline import grade_submission
from grader.sandbox import Sandbox, detect, unconfined_missing
from grader.submission import Cell, Submission
from process_tree import running

CATALOGUE = load()
BACKENDS = {"linux": lambda: detect(), "linux without bubblewrap": lambda: detect(False),
            "portable": lambda: Sandbox(None, False, unconfined_missing(), backend="portable")}
# A correct submission, hand-written mistakes of several concepts, edited layouts with a mistake, and a file
# whose top level crashes: graded one after the other under one name, as a student saves them.
SUBMISSION_SOURCES = {
    "correct": solution_source(),
    "mask_includes_diagonal": (SUBMISSIONS / "mask_includes_diagonal.py").read_text(),
    "two_mistakes": (SUBMISSIONS / "two_mistakes_sum_normalized__missing_out_proj.py").read_text(),
    "fused__unscaled_scores": case_source("fused__unscaled_scores"),
    "head_list__mask_includes_diagonal": case_source("head_list__mask_includes_diagonal"),
    "top_level_crash": solution_source() + "\nraise RuntimeError('a demo that fails')\n",
}
# Student code that leaves state behind in its worker (a global of a module, a monkeypatched torch function)
# and code that notices it.
LEAVES_STATE = solution_source() + """
import builtins
builtins.LEFT_BY_THE_LAST_CHECK = True
torch.softmax = lambda *args, **kwargs: torch.zeros(1)
"""
NOTICES_STATE = """import builtins
assert not hasattr(builtins, "LEFT_BY_THE_LAST_CHECK"), "a previous check's state leaked into this one"
""" + solution_source()


def submission(source: str) -> Submission:
    return Submission("attention.py", None, (Cell("attention.py", source),))


@pytest.fixture(scope="module")
def fresh_reports():
    """Each submission graded as `python -m grader` grades it: a worker started for it alone."""
    return {name: grade_submission(submission(source), CATALOGUE) for name, source in SUBMISSION_SOURCES.items()}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    sandbox = BACKENDS[request.param]()
    if request.param == "linux" and not sandbox.isolated:
        pytest.skip("bubblewrap does not work on this machine")
    workers = KeptWorkers()
    yield sandbox, workers
    workers.close()


def test_kept_workers_grade_every_submission_as_a_fresh_worker_does(backend, fresh_reports):
    sandbox, workers = backend
    for name, source in SUBMISSION_SOURCES.items():
        kept = grade_submission(submission(source), CATALOGUE, sandbox=sandbox, workers=workers)
        assert kept.to_json() == fresh_reports[name].to_json(), name
    assert workers.terms is not None


def test_state_left_by_one_grading_never_reaches_the_next(backend):
    sandbox, workers = backend
    grade_submission(submission(LEAVES_STATE), CATALOGUE, sandbox=sandbox, workers=workers)
    after = grade_submission(submission(NOTICES_STATE), CATALOGUE, sandbox=sandbox, workers=workers)
    assert after.error is None and after.score == after.max_score, after.notes


def test_a_worker_that_crashes_leaves_the_next_grading_a_working_one(backend):
    sandbox, workers = backend
    crashing = solution_source().replace("    return inputs @ inputs.transpose(-2, -1)",
                                         "    import os\n    os._exit(3)")
    assert crashing != solution_source()
    crashed = grade_submission(submission(crashing), CATALOGUE, sandbox=sandbox, workers=workers,
                               concepts=("attention_scores", "context_vectors"))
    assert crashed.score < crashed.max_score
    assert "exited with status 3" in " ".join(t.message or "" for c in crashed.concepts for t in c.tests)
    after = grade_submission(submission(solution_source()), CATALOGUE, sandbox=sandbox, workers=workers,
                             concepts=("attention_scores", "context_vectors"))
    assert after.score == after.max_score


def test_a_concept_graded_alone_gets_its_result_in_the_whole_grading():
    """What check("causal_mask") shows in a notebook is that concept's row of the whole report."""
    workers = KeptWorkers()
    try:
        for name in ("correct", "two_mistakes", "head_list__mask_includes_diagonal"):
            whole = grade_submission(submission(SUBMISSION_SOURCES[name]), CATALOGUE, workers=workers)
            for result in whole.concepts:
                alone = grade_submission(submission(SUBMISSION_SOURCES[name]), CATALOGUE, workers=workers,
                                         concepts=(result.concept.id,))
                assert alone.concepts == (result,), (name, result.concept.id)
    finally:
        workers.close()


def test_a_zygote_that_died_is_started_again_after_the_grading_that_found_it_dead():
    sandbox = detect()
    if sandbox.backend != "linux":
        pytest.skip("the zygote is the linux backend's")
    workers = KeptWorkers()
    try:
        grade_submission(submission(solution_source()), CATALOGUE, workers=workers, concepts=("attention_scores",))
        first = workers.zygote.process
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        report = grade_submission(submission(solution_source()), CATALOGUE, workers=workers,
                                  concepts=("attention_scores",))
        assert report.score == report.max_score
        assert workers.zygote is not None and workers.zygote.process.poll() is None
        assert workers.zygote.process.pid != first.pid
    finally:
        workers.close()


@pytest.mark.parametrize("kept, first", [("previous", solution_source()), ("standby", LEAVES_STATE)])
def test_a_kept_worker_that_ended_while_it_waited_is_replaced(kept, first):
    """The last grading's worker, or one started ahead (after a grading whose worker could not serve again)."""
    portable = BACKENDS["portable"]()
    workers = KeptWorkers()
    try:
        grade_submission(submission(first), CATALOGUE, sandbox=portable, workers=workers,
                         concepts=("attention_scores",))
        waiting = getattr(workers, kept)
        waiting.process.kill()
        waiting.process.wait()
        report = grade_submission(submission(solution_source()), CATALOGUE, sandbox=portable, workers=workers,
                                  concepts=("attention_scores",))
        assert report.score == report.max_score and not report.grader_fault
    finally:
        workers.close()


KEEPER = """
import sys, time
from grader.catalogue import load
from grader.isolation.kept import KeptWorkers
from grader.pipeline import grade_submission
from grader.sandbox import Sandbox, detect, unconfined_missing
from grader.submission import Cell, Submission

sandbox = detect() if sys.argv[1] == "linux" else Sandbox(None, False, unconfined_missing(), backend="portable")
workers = KeptWorkers()
source = open(sys.argv[2]).read()
grade_submission(Submission("a.py", None, (Cell("a.py", source),)), load(), sandbox=sandbox, workers=workers,
                 concepts=("attention_scores",))
kept = workers.zygote.process if workers.zygote else workers.previous.process
print(kept.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("backend_name", ["linux", "portable"])
def test_what_is_kept_ends_with_the_process_that_keeps_it(backend_name, tmp_path):
    """A kernel that dies (killed, out of memory) leaves no zygote or worker behind."""
    if backend_name == "linux" and detect().backend != "linux":
        pytest.skip("the zygote is the linux backend's")
    (tmp_path / "attention.py").write_text(solution_source())
    keeper = subprocess.Popen([sys.executable, "-c", KEEPER, backend_name, str(tmp_path / "attention.py")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        kept = int(keeper.stdout.readline())
        assert running({kept}) == {kept}
    finally:
        keeper.kill()
        keeper.wait()
    deadline = time.monotonic() + 10
    while running({kept}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running({kept})
