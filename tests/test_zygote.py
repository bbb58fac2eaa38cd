"""The batch's zygote: workers forked from it are confined one from another and end with everything they started."""
import ast
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import solution_source
from grader.catalogue import load
from grader.pipeline import grade_submission
from grader.isolation import Launcher
from grader.isolation.linux import ForkedWorker, WorkerProcess
from grader.proxy import StudentCrash, StudentProxy
from grader.sandbox import detect
from grader.submission import Cell, Submission
from grader.zygote_client import HUGE_PAGES_FROM, ZygoteClient, ZygoteServer, slow_start_note

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not (ROOT_USER or detect().isolated),
                                reason="forked workers get namespaces of their own as root, or in bubblewrap's "
                                       "user namespace; this machine offers neither")

SNOOP = '''
import os
PIDS = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
UID, TMP = os.getuid(), sorted(os.listdir("/tmp"))
open("/tmp/left-by-" + str(UID), "w").write("for the next student")

def attention_scores(inputs):
    if os.fork() == 0:  # a daemon that outlives the call
        os.setsid()
        import time
        time.sleep(600)
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(_):
    return f"{PIDS}|{UID}|{TMP}"
'''


def student(source: str, name: str = "student.py") -> Submission:
    return Submission(name, None, (Cell(name, source),))


@pytest.fixture(scope="module")
def zygote():
    # Started as for a large class, with its heap on huge pages where the kernel can (tests/test_runner.py's
    # zygote is a small class's).
    with ZygoteServer(detect(), students=HUGE_PAGES_FROM) as server:
        client = ZygoteClient(server.path)
        proxy = StudentProxy(student("x = 1\n"), Launcher(detect(), zygote=client))
        proxy.start()
        forked = isinstance(proxy.worker, ForkedWorker)
        proxy.close()
        if not forked:
            pytest.skip("this machine's zygote cannot fork isolated workers (user namespaces are forbidden here)")
        yield client


def processes_of(uid: int) -> list[str]:
    listing = subprocess.run(["ps", "-o", "pid=,cmd=", "-u", str(uid)], capture_output=True, text=True).stdout
    return listing.split("\n")[:-1]


def test_each_worker_is_alone_in_its_namespace_with_its_own_uid_and_tmp(zygote):
    uids = []
    for _ in range(2):
        proxy = StudentProxy(student(SNOOP), Launcher(detect(), zygote=zygote))
        proxy.start()
        assert isinstance(proxy.worker, ForkedWorker)
        pids, uid, tmp = proxy.call("attention_weights", 0).split("|")
        # Alone as pid 1, and nothing left by the student before: only the way to a Python installation
        # that lives under /tmp (a clone there, with its virtual environment).
        installation = {Path(p).parts[2] for p in (sys.prefix, *sys.path) if p.startswith("/tmp/")}
        assert pids == "[1]" and set(ast.literal_eval(tmp)) <= installation, tmp
        proxy.call("attention_scores", torch.ones(2, 3))
        assert proxy.restart_pending  # the daemon is seen: the next test gets a fresh worker
        proxy.close()
        deadline = time.monotonic() + 5
        while processes_of(int(uid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if ROOT_USER:
            assert not processes_of(int(uid))  # the daemon ended with its worker
        uids.append(int(uid))
    # As root each worker has a uid of its own; without root all share the grader's (see the next test).
    assert len(set(uids)) == 2 and 0 not in uids if ROOT_USER else uids == [os.getuid()] * 2


SEES_A_CLASSMATE = '''
import os
open("/tmp/mine", "w").write("my answers")


def attention_scores(pid):
    reach = []
    for attempt in (lambda: os.kill(int(pid), 0), lambda: open(f"/proc/{int(pid)}/environ").read()):
        try:
            attempt()
            reach.append("reached")
        except OSError as exc:
            reach.append(type(exc).__name__)
    return "|".join([*reach, *sorted(os.listdir("/tmp")), *sorted(p for p in os.listdir("/proc") if p.isdigit())])
'''


def test_workers_under_one_uid_cannot_see_signal_or_read_each_other(zygote):
    first, second = (StudentProxy(student(SEES_A_CLASSMATE), Launcher(detect(), zygote=zygote)) for _ in range(2))
    first.start()
    second.start()
    try:
        first.loaded()
        second.loaded()
        # The second worker's pid as the machine sees it (its zygote child): outside the first's namespace.
        answer = first.call("attention_scores", second.worker.pid).split("|")
        installation = {Path(p).parts[2] for p in (sys.prefix, *sys.path) if p.startswith("/tmp/")}
        assert answer[:2] == ["ProcessLookupError", "FileNotFoundError"], answer
        assert set(answer[2:-1]) <= {"mine", *installation} and answer[-1] == "1"  # its own /tmp, its own pid
    finally:
        first.close()
        second.close()


def test_a_worker_that_exits_is_reported_with_its_status(zygote):
    proxy = StudentProxy(student("import os\n\ndef attention_scores(x):\n    os._exit(3)\n"),
                         Launcher(detect(), zygote=zygote))
    with pytest.raises(StudentCrash, match="exited with status 3"):
        proxy.call("attention_scores", torch.ones(2, 2))
    proxy.close()


def test_an_unreachable_zygote_means_workers_of_their_own(tmp_path):
    proxy = StudentProxy(student("def attention_scores(x):\n    return x\n"),
                         Launcher(detect(), zygote=ZygoteClient(str(tmp_path / "nothing.sock"))))
    proxy.start()
    assert isinstance(proxy.worker, WorkerProcess)
    assert torch.equal(proxy.call("attention_scores", torch.ones(2)), torch.ones(2))
    proxy.close()


def test_the_heap_moves_onto_huge_pages_where_the_kernel_can():
    script = ("import torch, sys; from grader.zygote import heap_on_huge_pages; moved = heap_on_huge_pages(); "
              "huge = [l for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages:')]; "
              "t = torch.arange(6.0); print(moved, int(huge[0].split()[1]) * 1024 if huge else 0, float(t.sum()))")
    moved, huge, check = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                        check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    if int(moved) == 0:
        pytest.skip("this kernel moves no memory onto huge pages (MADV_COLLAPSE needs Linux 6.1 and THP)")
    assert int(huge) >= int(moved) // 2 and float(check) == 15.0  # most of it stayed there, and torch still computes


def test_forked_workers_grade_as_fresh_ones(zygote, tmp_path):
    catalogue = load()
    submission = student(solution_source().replace("attn_scores / keys.shape[-1] ** 0.5",
                                                   "attn_scores / keys.shape[-1]"), "attention.py")
    forked = grade_submission(submission, catalogue, zygote=zygote)
    fresh = grade_submission(submission, catalogue)
    assert [(c.concept.id, c.score) for c in forked.concepts] == [(c.concept.id, c.score) for c in fresh.concepts]


def test_a_build_that_needs_real_values_is_sized_as_on_the_cpu(zygote):
    """Forked workers size GPT-2 on the meta device, whose kernels the zygote loaded; code that reads a value
    there (.item()) is built on the CPU instead, as a fresh worker builds it, and passes the same checks."""
    catalogue = load()
    submission = student(solution_source().replace(
        "    return MultiHeadAttention(d_model, d_model, context_length=1024, dropout=dropout, num_heads=num_heads)",
        "    module = MultiHeadAttention(d_model, d_model, context_length=1024, dropout=dropout, num_heads=num_heads)\n"
        "    assert module.mask.sum().item() > 0  # a value: not on the meta device\n"
        "    return module"), "attention.py")
    forked, fresh = (grade_submission(submission, catalogue, zygote=zygote, concepts=["gpt2_sizing"]),
                     grade_submission(submission, catalogue, concepts=["gpt2_sizing"]))
    outcomes = [[(t.nodeid, t.status) for c in report.concepts for t in c.tests] for report in (forked, fresh)]
    assert outcomes[0] == outcomes[1]
    assert ("test_gpt2_small", "passed") in [(nodeid.rpartition("::")[2], status) for nodeid, status in outcomes[0]]


def test_a_shape_only_build_uses_the_meta_device_where_its_kernels_are_loaded(monkeypatch):
    from grader import worker as worker_module
    from grader.wire import META_WHERE_LOADED

    worker = worker_module.Worker("cpu")
    worker.load([{"filename": "attention.py", "source": solution_source()}], ["gpt2_attention"], None)
    devices = {}
    for loaded in (False, True):
        monkeypatch.setattr(worker_module, "_meta_kernels_loaded", loaded)
        handle = worker.call("gpt2_attention", ["small"], {}, META_WHERE_LOADED)["handle"]
        devices[loaded] = {p.device.type for p in worker.object(handle).parameters()}
    assert devices == {False: {"cpu"}, True: {"meta"}}


class NoNamespaces:
    available, own = False, -1

    def __init__(self, keep):
        self.keep = keep


def test_a_sandboxed_zygote_that_cannot_isolate_refuses_to_fork(monkeypatch):
    from grader import zygote as zygote_module

    monkeypatch.setattr(zygote_module, "PidNamespaces", NoNamespaces)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        refusing = zygote_module.Zygote(listener, "cpu", require_isolation=True)
        with pytest.raises(RuntimeError, match="cannot give workers namespaces"):
            refusing.spawn([0, 1, 2], {"own_uid": True})
    assert not refusing.children  # nothing was forked


def test_the_batch_is_told_once_why_its_workers_start_afresh(monkeypatch, tmp_path):
    from grader import zygote as zygote_module

    monkeypatch.setattr(zygote_module, "PidNamespaces", NoNamespaces)
    path = str(tmp_path / "refusing.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen()
    refusing = zygote_module.Zygote(listener, "cpu", require_isolation=True)
    threading.Thread(target=refusing.run, daemon=True).start()
    note = slow_start_note(path)
    assert note.startswith("note: every student's worker starts afresh") and "namespaces" in note, note
    assert "Grading untrusted code" in note
    assert "cannot reach the worker zygote" in slow_start_note(str(tmp_path / "nothing.sock"))


def test_a_zygote_that_forks_needs_no_note(zygote):
    assert zygote.status() == {"forks": True}
    assert slow_start_note(zygote.path) is None


def test_an_ordinary_user_passes_these_tests_too(ordinary_user):
    """Run as root, this file again as an ordinary uid: the zygote's path without root."""
    result = ordinary_user["run"](["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_zygote.py"],
                                  timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in summary and "1 skipped" in summary, summary  # this test skips there: it is that run
