"""Student code runs in a worker process: crashes, hangs and exits cost only the concepts that need them."""
import json
import re
import time

from conftest import grade_json, run_cli, solution_source


def with_replaced(old, new):
    source = solution_source()
    assert old in source
    return source.replace(old, new, 1)


def scores(report):
    return {c["id"]: (c["score"], c["max_score"], c["status"]) for c in report["concepts"]}


def full(report, *concepts):
    return all(scores(report)[c][0] == scores(report)[c][1] for c in concepts)


def test_an_endless_loop_in_one_class_times_out_only_its_concepts(tmp_path, write):
    source = with_replaced("        b, num_tokens, d_in = x.shape\n        keys = self.W_key(x)  # (b, T, d_out)\n",
                           "        while True:\n            pass\n")
    started = time.monotonic()
    report = grade_json(write("attention.py", source), tmp_path=tmp_path)
    assert time.monotonic() - started < 120
    assert scores(report)["causal_mask"][2] == "timeout"
    assert "no answer within" in " ".join(next(c for c in report["concepts"] if c["id"] == "causal_mask")["feedback"])
    assert full(report, "attention_scores", "attention_weights", "context_vectors", "self_attention_v1",
                "self_attention_v2", "weight_transfer", "multihead_attention", "gpt2_sizing")


def test_system_exit_and_keyboard_interrupt_in_methods_are_errors(tmp_path, write):
    source = solution_source()
    source = source.replace("        # x: (T, d_in)\n        keys = x @ self.W_key",
                            "        raise SystemExit(0)\n        keys = x @ self.W_key", 1)
    source = source.replace("        # x: (T, d_in)\n        keys = self.W_key(x)",
                            "        raise KeyboardInterrupt\n        keys = self.W_key(x)", 1)
    report = grade_json(write("attention.py", source), tmp_path=tmp_path)
    assert report["status"] == "graded"
    assert scores(report)["self_attention_v1"][2] == "error"
    assert scores(report)["self_attention_v2"][0] < 8
    assert full(report, "attention_scores", "causal_mask", "multihead_attention", "weight_transfer")


def test_os_exit_and_endless_recursion_cost_only_their_function(tmp_path, write):
    source = with_replaced("    return torch.softmax(scores, dim=-1)  # (..., T, T)",
                           "    import os\n    os._exit(0)")
    source = source.replace("    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)",
                            "    return attention_scores(inputs)", 1)
    report = grade_json(write("attention.py", source), tmp_path=tmp_path)
    statuses = scores(report)
    assert statuses["attention_weights"][:1] == (0,) and statuses["attention_weights"][2] == "error"
    assert statuses["attention_scores"][:1] == (0,) and statuses["attention_scores"][2] == "error"
    assert full(report, "self_attention_v1", "causal_mask", "multihead_attention", "gpt2_sizing")


def test_an_endless_top_level_loop_stops_within_the_budget(tmp_path, write):
    started = time.monotonic()
    report = grade_json(write("attention.py", solution_source() + "\nwhile True:\n    pass\n"), "--timeout", "8",
                        tmp_path=tmp_path)
    assert time.monotonic() - started < 40
    assert report["score"] == 0
    assert report["status"] == "error"
    assert all(c["status"] == "timeout" for c in report["concepts"])


def test_printed_output_is_reported_and_cut(tmp_path, write):
    report = grade_json(write("attention.py", solution_source() + "\nprint('x' * 100_000)\n"), "--concept",
                        "attention_scores", tmp_path=tmp_path)
    assert report["score"] == 6
    assert report["output"].startswith("xxx") and len(report["output"]) < 10_000


# Debugging prints past the 16 MiB file-size limit: 16 MiB at import, and about 1 MiB in every call. The limit
# still binds a file the code writes.
PRINTS_A_LOT = with_replaced('def attention_scores(inputs):\n', '''try:
    with open("big.bin", "wb") as big:
        big.write(bytes(17 * 2**20))
    print("wrote a 17 MiB file")
except OSError as exc:
    print("file-size limit:", exc.strerror)
print("import " * (4 * 2**20))


def attention_scores(inputs):
    for row in range(1000):
        print("row", row, "." * 1000)
''')


def test_printing_past_the_file_size_limit_never_costs_points(tmp_path, write):
    submission = write("class/printer.py", PRINTS_A_LOT)
    alone = grade_json(submission, tmp_path=tmp_path)
    assert alone["score"] == 100 and alone["status"] == "graded", alone["error"]
    assert alone["output"].startswith("file-size limit: File too large\nimport import")
    assert alone["output_cut_bytes"] > 20 * 2**20
    result = run_cli("batch", submission.parent, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    batch = json.loads((tmp_path / "out" / "reports" / "printer.json").read_text())
    assert batch["score"] == 100 and batch["output"] == alone["output"]


def test_a_worker_that_cannot_start_is_the_graders_error_not_the_students(monkeypatch, tmp_path, write):
    from grader import sandbox
    from grader.pipeline import grade

    monkeypatch.setattr(sandbox, "python_executable", lambda: str(tmp_path / "no-such-python"))
    report = grade(str(write("attention.py", solution_source())), concepts=["attention_scores"])
    assert report.status == "error"
    assert report.error.startswith("grader error, not the student's: the worker could not start")
    assert "no-such-py" in report.error and report.output == ""  # the reason, which is not the student's output


# A constructor that fails slowly (as one that allocates gigabytes against the memory limit does), pinned.
SLOW_FAILING_CONSTRUCTOR = with_replaced('''        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"''', '''        super().__init__()
        import time
        time.sleep(1.5)
        raise MemoryError("eight 1 GiB tensors")''')
NEVER_BUILD_MULTIHEAD_ATTENTION = ("attention_scores", "attention_weights", "context_vectors", "self_attention_v1",
                                   "self_attention_v2", "weight_transfer", "multihead_wrapper")


def test_one_slow_class_cannot_spend_the_time_of_concepts_that_never_use_it(tmp_path, write):
    report = grade_json(write("attention.py", SLOW_FAILING_CONSTRUCTOR), "--timeout", "30", tmp_path=tmp_path)
    assert full(report, *NEVER_BUILD_MULTIHEAD_ATTENTION), scores(report)
    builds_it = {t["concept"] for t in report["tests"] if re.search(r"::test_(multihead_|gpt2)", t["nodeid"])}
    lost = {concept for concept, (score, points, _) in scores(report).items() if score < points}
    assert "multihead_attention" in lost and lost <= builds_it, (lost, builds_it)


def test_an_internal_error_makes_the_report_an_error_that_blames_the_grader(monkeypatch, write):
    from grader import live_reference
    from grader.pipeline import grade

    def broken(*args, **kwargs):
        raise RuntimeError("Numpy is not available")

    monkeypatch.setattr(live_reference, "_attention", broken)
    monkeypatch.setattr(live_reference, "_computed", {})  # nothing kept from earlier tests in this process
    report = grade(str(write("attention.py", solution_source())), concepts=["causal_mask"])
    assert report.status == "error" and report.score < report.max_score
    assert report.error == ("grader error, not the student's: internal grader error "
                            "(RuntimeError: Numpy is not available)")


def test_printing_without_end_times_out_only_its_call(tmp_path, write):
    source = with_replaced("    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)",
                           "    while True:\n        print('debug ' * 1000)")
    report = grade_json(write("attention.py", source), "--concept", "attention_scores", "--concept",
                        "attention_weights", tmp_path=tmp_path)
    assert scores(report)["attention_scores"][2] == "timeout"
    assert full(report, "attention_weights") and report["output"].startswith("debug debug")
