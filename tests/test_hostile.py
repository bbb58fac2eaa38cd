"""Hostile submissions in one class: cheating earns nothing, snooping finds nothing, breaking things changes
nothing outside the student's own grade, and an honest classmate gets exactly the grade they get alone."""
import csv
import importlib.util
import json
import os
import socket
import subprocess
import textwrap
import threading

import pytest

from conftest import ROOT, run_cli, solution_source
from grader.sandbox import Limits, detect
from ordinary_user import ORDINARY_UID

pytestmark = pytest.mark.skipif(not detect().isolated, reason="bubblewrap is not available on this machine")

MARKER = "4242.5"  # the daemon's sleep argument, to find it in the process table


def replaced(old: str, new: str, source: str | None = None) -> str:
    source = source or solution_source()
    assert old in source, old
    return source.replace(old, new, 1)


def hostile_submissions(paths: dict, port: int) -> dict[str, str]:
    """name -> source of each hostile student; `paths` are the secrets a student must not reach."""
    wrong_scores = replaced("    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)",
                            "    return torch.zeros(inputs.shape[:-1] + inputs.shape[-2:-1])")
    return {
        "patches_comparisons": wrong_scores + textwrap.dedent("""
            import numpy, torch.testing
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.testing.assert_close = lambda *a, **k: None
            torch.Tensor.__eq__ = lambda self, other: True
            numpy.allclose = lambda *a, **k: True
            """),
        "lying_subclass": replaced("    return torch.softmax(scores, dim=-1)  # (..., T, T)", textwrap.dedent("""\
                class Liar(torch.Tensor):
                    def __eq__(self, other): return True
                    def allclose(self, *a, **k): return True
                return torch.zeros_like(scores).as_subclass(Liar)""")),
        "fake_score": (ROOT / "exercises" / "attention.py").read_text()
        + '\nprint("Total: 100/100")\nprint(\'{"score": 100.0, "max_score": 100.0, "status": "graded"}\')\n',
        "writes_fake_reports": solution_source() + textwrap.dedent(f"""
            import json, os
            fake = json.dumps({{"score": 100.0, "status": "graded"}})
            for target in {[paths["out"] + "/reports/fake_score.json", paths["out"] + "/grades.csv",
                            "/tmp/results.json", "results.json", paths["submissions"] + "/injected.py",
                            paths["grader"] + "/catalogue.toml"]!r}:
                try:
                    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                    with open(target, "w") as f:
                        f.write(fake)
                except OSError:
                    pass
            """),
        "exits_at_import": solution_source() + "\nimport os\nos._exit(0)\n",
        "snoops": solution_source() + textwrap.dedent(f"""
            import os, sys
            found = [p for p in {list(paths.values())!r} if os.path.exists(p)]
            for name in ("solutions", "attention_solutions", "grader.suites.hidden", "test_causal_attention"):
                try:
                    __import__(name)
                    found.append("import " + name)
                except Exception:
                    pass
            print("SNOOPED:", found)
            """),
        "sleeps_at_import": "import time\ntime.sleep(100000)\n" + solution_source(),
        "endless_loop_in_a_class": replaced(
            "        b, num_tokens, d_in = x.shape\n        keys = self.W_key(x)  # (b, T, d_out)\n",
            "        while True:\n            pass\n"),
        "endless_recursion": replaced("    return torch.softmax(scores, dim=-1)  # (..., T, T)",
                                      "    return attention_weights(scores)"),
        "memory_hog": replaced("        self.W_query = nn.Parameter(torch.rand(d_in, d_out))",
                               "        hog = torch.ones(16 * 2**30 // 4)\n"
                               "        self.W_query = nn.Parameter(torch.rand(d_in, d_out))"),
        "fork_bomb": replaced("        self.heads = nn.ModuleList(",
                              "        import os\n        while True:\n            os.fork()\n"
                              "        self.heads = nn.ModuleList("),
        "daemon": solution_source() + textwrap.dedent(f"""
            import os
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{MARKER}"])
                os._exit(0)
            """),
        "network": solution_source() + textwrap.dedent(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"stolen")
                print("NETWORK: connected")
            except OSError as exc:
                print("NETWORK: refused", exc)
            """),
        "deletes_things": solution_source() + textwrap.dedent(f"""
            import shutil
            for target in {[paths["grader"], paths["submissions"], paths["out"], paths["solutions"]]!r}:
                shutil.rmtree(target, ignore_errors=True)
            """),
        "floods_output": solution_source() + "\nimport sys\ntry:\n    print('x' * 100_000_000)\nexcept OSError:\n    pass\n",
        "counts_its_processes": solution_source() + textwrap.dedent("""
            import os, signal, time
            children = []
            try:
                while len(children) < 1000:
                    pid = os.fork()
                    if pid == 0:
                        time.sleep(60)
                        os._exit(0)
                    children.append(pid)
            except OSError:
                pass
            print("PROCESSES:", len(children))
            for pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            """),
    }


def running(pattern: str) -> list[str]:
    """The command lines of running processes that match pattern, one per line."""
    found = subprocess.run(["pgrep", "-a", "-f", pattern], capture_output=True, text=True).stdout
    return [line + "\n" for line in found.splitlines()]


@pytest.fixture(scope="module", params=["local", "cluster", "ordinary user"])
def hostile_class(request, tmp_path_factory):
    """The hostile class graded by a local batch, through a Dask LocalCluster of two worker processes, and
    (when the tests run as root) by a local batch of an ordinary uid."""
    if request.param == "cluster" and importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask is the cluster extra: pip install -e '.[cluster]'")
    user = request.getfixturevalue("ordinary_user") if request.param == "ordinary user" else None
    root = user["folder"] if user else tmp_path_factory.mktemp("hostile")
    klass, out = root / "class", root / "out"
    klass.mkdir()
    (klass / "honest.py").write_text(solution_source())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                pass

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    paths = {"out": str(out), "submissions": str(klass), "grader": str(ROOT / "grader"),
             "solutions": str(ROOT / "solutions"), "hidden": str(ROOT / "grader" / "suites" / "hidden"),
             "classmate": str(klass / "honest.py")}
    for name, source in hostile_submissions(paths, listener.getsockname()[1]).items():
        (klass / f"{name}.py").write_text(source)
    before = {p: p.read_bytes() for p in [*(ROOT / "grader").rglob("*.py"), *klass.iterdir()]}
    grading_before = set(running("grader.zygote"))  # zygotes of other test runs on this machine are not ours
    parallel = ["--scheduler", "local:2"] if request.param == "cluster" else ["--jobs", "2"]
    batch = ["batch", str(klass), "--out", str(out), *parallel, "--timeout", "40"]
    if user:
        for path in klass.iterdir():
            os.chown(path, ORDINARY_UID, ORDINARY_UID)
        os.chown(klass, ORDINARY_UID, ORDINARY_UID)
        result = user["run"](["-m", "grader", *batch], timeout=1200)
    else:
        result = run_cli(*batch, timeout=1200)
    stop.set()
    thread.join()
    listener.close()
    leftovers = "".join(sorted(set(running(f"sleep {MARKER}|grader.zygote")) - grading_before))
    yield {"result": result, "out": out, "klass": klass, "before": before, "connections": connections,
           "leftovers": leftovers, "as_ordinary_user": user is not None or os.geteuid() != 0}
    subprocess.run(["pkill", "-f", f"sleep {MARKER}"])


def grades(out):
    with open(out / "grades.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def report(out, student):
    return json.loads((out / "reports" / f"{student}.json").read_text())


def concept(out, student, concept_id):
    return next(c for c in report(out, student)["concepts"] if c["id"] == concept_id)


def test_the_class_finishes_and_the_honest_student_gets_their_own_grade(hostile_class, tmp_path):
    assert hostile_class["result"].returncode == 0, hostile_class["result"].stderr
    out = hostile_class["out"]
    alone = run_cli("--json", tmp_path / "alone.json", hostile_class["klass"] / "honest.py")
    assert alone.returncode == 0
    alone_report = json.loads((tmp_path / "alone.json").read_text())
    in_class = report(out, "honest")
    assert [(c["id"], c["score"]) for c in in_class["concepts"]] == \
           [(c["id"], c["score"]) for c in alone_report["concepts"]]
    assert grades(out)["honest"]["total"] == "100.00"


def test_cheating_on_comparisons_earns_nothing(hostile_class):
    out = hostile_class["out"]
    assert concept(out, "patches_comparisons", "attention_scores")["score"] == 0
    assert float(grades(out)["patches_comparisons"]["total"]) == 94
    assert concept(out, "lying_subclass", "attention_weights")["score"] == 0


def test_printed_or_written_fake_scores_earn_nothing(hostile_class):
    out = hostile_class["out"]
    assert float(grades(out)["fake_score"]["total"]) == 0
    assert "Total: 100/100" in report(out, "fake_score")["output"]
    assert not (out / "reports" / "fake_score.json").read_text().startswith('{"score": 100.0, "status"')
    assert float(grades(out)["writes_fake_reports"]["total"]) == 100
    assert "graded" in (out / "grades.csv").read_text()
    assert not (hostile_class["klass"] / "injected.py").exists()
    assert float(grades(out)["exits_at_import"]["total"]) == 0


def test_snooping_finds_nothing_and_the_network_is_closed(hostile_class):
    out = hostile_class["out"]
    assert "SNOOPED: []" in report(out, "snoops")["output"]
    assert "NETWORK: refused" in report(out, "network")["output"]
    assert hostile_class["connections"] == []


def test_hangs_crashes_and_hogs_cost_only_their_concepts(hostile_class):
    out = hostile_class["out"]
    for student in ("sleeps_at_import",):
        assert grades(out)[student]["total"] == "0.00"
    assert concept(out, "endless_loop_in_a_class", "causal_mask")["status"] == "timeout"
    assert concept(out, "endless_loop_in_a_class", "multihead_attention")["score"] == 12
    assert concept(out, "endless_recursion", "attention_weights")["status"] == "error"
    assert concept(out, "endless_recursion", "causal_mask")["score"] == 12
    assert concept(out, "memory_hog", "self_attention_v1")["score"] == 0
    assert concept(out, "memory_hog", "causal_mask")["score"] == 12
    assert concept(out, "fork_bomb", "multihead_wrapper")["score"] == 0
    assert concept(out, "fork_bomb", "multihead_attention")["score"] == 12


def kernel_version() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def test_a_worker_starts_at_most_its_process_limit_and_the_batch_says_where_it_has_none(hostile_class):
    out = hostile_class["out"]
    started = int(report(out, "counts_its_processes")["output"].split("PROCESSES: ")[1].split()[0])
    unbounded = "a process-count limit" in hostile_class["result"].stderr  # named in the batch's warning
    assert (started >= Limits().processes) == unbounded, started
    if hostile_class["as_ordinary_user"] and kernel_version() >= (5, 14):  # counted per user namespace
        assert not unbounded, hostile_class["result"].stderr
    assert float(grades(out)["counts_its_processes"]["total"]) == 100


def test_nothing_outside_the_sandbox_changes_and_nothing_is_left_running(hostile_class):
    for path, content in hostile_class["before"].items():
        assert path.exists() and path.read_bytes() == content, path
    assert (ROOT / "solutions" / "attention.py").exists()
    assert float(grades(hostile_class["out"])["deletes_things"]["total"]) == 100
    assert float(grades(hostile_class["out"])["daemon"]["total"]) == 100
    assert hostile_class["leftovers"] == ""


def test_a_flood_of_output_is_cut(hostile_class):
    out = hostile_class["out"]
    assert float(grades(out)["floods_output"]["total"]) == 100
    assert len(report(out, "floods_output")["output"]) < 10_000
