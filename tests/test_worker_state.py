"""A worker that served one grading serves the next where workers are not forked (grader.worker_state,
grader.isolation.kept), and only as a fresh worker would: the same reports over generated submissions, and a
worker whose process the student's code changed is replaced."""
import random

import pytest

from benchmarks.mutation import reference
from benchmarks.mutation.__main__ import seed_from_environment
from benchmarks.mutation.mutants import generate
from conftest import grade_forked, solution_source
from grader.catalogue import load
from grader.isolation.kept import KeptWorkers
from grader.limits import CPU_SECONDS_OVER_TIMEOUT, Limits
from grader.pipeline import grade_submission
from grader.sandbox import Sandbox, unconfined_missing
from grader.submission import Cell, Submission

CATALOGUE = load()
SAMPLE = 10  # generated submissions graded one after the other by one kept worker
# Student code that changes the worker's process in a way that could change the next grade.
CHANGES = {
    "the default dtype": "torch.set_default_dtype(torch.float64)",
    "a patched function": "torch.nn.functional.softmax = lambda x, dim=None, **kwargs: x",
    "a patched nn.Linear": "torch.nn.Linear.forward = lambda self, x: x",
    "a method added to Tensor": "torch.Tensor.softmax = lambda self, dim: self",
    "gradients turned off": "torch.set_grad_enabled(False)",
    "a forward hook on every module": "torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o)",
    "a device context left open": "torch.device('cpu').__enter__()",
    "a name added to builtins": "import builtins\nbuiltins.SCALE = 2.0",
    "a thread left running": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    "another working folder": "import os\nos.chdir(os.path.dirname(os.getcwd()))",
}


def submission(source: str, name: str = "attention.py") -> Submission:
    return Submission(name, None, (Cell(name, source),))


def portable() -> Sandbox:
    return Sandbox(None, False, unconfined_missing(), backend="portable")


@pytest.fixture(scope="module")
def workers():
    kept = KeptWorkers()
    yield kept
    kept.close()


def test_a_worker_is_reused_and_grades_generated_submissions_as_fresh_workers_do(workers):
    seed = seed_from_environment()
    print(f"MUTANT_SEED={seed}")
    sources = [solution_source(), *(m.source for m in random.Random(seed).sample(generate(reference.load()).mutants,
                                                                              SAMPLE))]
    fresh = grade_forked([submission(source) for source in sources], CATALOGUE)  # a fresh worker each
    served = set()
    for index, source in enumerate(sources):
        kept = grade_submission(submission(source), CATALOGUE, sandbox=portable(), workers=workers)
        assert kept.to_json() == fresh[index].to_json(), f"MUTANT_SEED={seed}, submission {index}"
        if workers.previous is not None:
            served.add(workers.previous.process.pid)
    assert len(served) < len(sources), "no worker served a second grading"


def test_what_a_reused_worker_prints_is_the_submission_s_alone(workers):
    first = solution_source() + '\nprint("from the first submission")\n'
    second = solution_source() + '\nprint("from the second submission")\n'
    grade_submission(submission(first), CATALOGUE, sandbox=portable(), workers=workers, concepts=("attention_scores",))
    reused = workers.previous.process.pid
    report = grade_submission(submission(second), CATALOGUE, sandbox=portable(), workers=workers,
                              concepts=("attention_scores",))
    assert workers.previous.process.pid == reused
    assert report.output.strip() == "from the second submission"


def test_a_folder_submission_s_own_modules_are_imported_afresh(workers, tmp_path):
    (tmp_path / "attention.py").write_text(solution_source() + "\nimport helpers\nprint(helpers.WORD)\n")
    for word in ("first", "second"):
        (tmp_path / "helpers.py").write_text(f"WORD = {word!r}\n")
        from grader.submission import locate

        report = grade_submission(locate(tmp_path), CATALOGUE, sandbox=portable(), workers=workers,
                                  concepts=("attention_scores",))
        assert report.output.strip() == word


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_worker_whose_process_the_student_changed_is_replaced(workers, change):
    changed = grade_submission(submission(solution_source() + "\n" + CHANGES[change] + "\n"), CATALOGUE,
                               sandbox=portable(), workers=workers, concepts=("attention_scores",))
    assert changed.error is None
    assert workers.previous is None, f"{change}: the worker was kept"
    after = grade_submission(submission(solution_source()), CATALOGUE, sandbox=portable(), workers=workers,
                             concepts=("attention_scores", "scaled_dot_product"))
    assert after.score == after.max_score
    assert workers.previous is not None


@pytest.mark.parametrize("device, used, kept", [
    ("cpu", {"cpu_seconds": 2.0, "address_space": 2**30}, True),
    ("cpu", {"cpu_seconds": CPU_SECONDS_OVER_TIMEOUT / 2, "address_space": 2**30}, False),
    ("cpu", {"cpu_seconds": 2.0, "address_space": 3 * 2**30}, False),
    ("cpu", {"cpu_seconds": 2.0, "address_space": None}, True),  # an OS that does not say
    ("cpu", {"address_space": 2**30}, False),
    ("cuda", {"cpu_seconds": 2.0, "address_space": 64 * 2**30}, True),  # no address-space limit under CUDA
])
def test_a_worker_is_kept_only_with_room_left_in_its_limits(device, used, kept):
    workers = KeptWorkers()
    workers.terms = (portable(), device, Limits(memory_bytes=4 * 2**30), None)
    assert workers._room_left(used) is kept


def test_a_worker_without_a_snapshot_never_serves_again(capfd):
    """A zygote's workers skip the snapshot (they never serve twice): a reset asked of one all the same says so."""
    from grader import worker, worker_state

    reply = worker.reset(worker.Worker("cpu"), None, "end-of-output")
    assert reply["ok"]["untouched"] is False
    assert worker.reset(worker.Worker("cpu"), worker_state.ProcessState(), "end")["ok"]["untouched"] is True
    assert capfd.readouterr().out.endswith("end")
