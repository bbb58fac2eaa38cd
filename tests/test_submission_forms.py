"""Submissions as a folder, a .py file or a notebook, and the ones that cannot be graded."""
import codecs
import json

from conftest import grade_json, run_cli, solution_source
from grader.catalogue import load
from grader.pipeline import grade_submissions
from grader.submission import locate, notebook_cells


def notebook(*cells):
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": kind, "metadata": {}, "source": source,
                                  **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                                 for kind, source in cells]})


def test_notebook_with_magics_demo_code_and_a_failing_cell(tmp_path, write):
    source = solution_source()
    split = source.index("class CausalAttention")
    path = write("student.ipynb", notebook(
        ("markdown", "# Chapter 3"),
        ("code", "%matplotlib inline\n!pip install torch\nimport torch\ntorch.manual_seed(0)\nprint('hello')"),
        ("code", source[:split]),
        ("code", "raise ValueError('a demo cell that fails')"),
        ("code", "%%bash\necho not python"),
        ("code", source[split:]),
        ("code", "print(CausalAttention(3, 2, 6, 0.0)(torch.rand(1, 6, 3)).shape)"),
    ))
    report = grade_json(path, tmp_path=tmp_path)
    assert report["status"] == "graded"
    assert report["score"] == 100
    assert "hello" in report["output"]
    # Not run in Jupyter (no execution counts): named by its place among the code cells, markdown not counted.
    assert any("a demo cell that fails" in note and "student.ipynb code cell 3" in note for note in report["notes"])


def handout_cell(source, role):
    """A cell the handout notebook marks as its own (see grader.submission.ROLE_KEY)."""
    return {"cell_type": "code", "metadata": {"attention_exercises": {"role": role}}, "source": source,
            "outputs": [], "execution_count": None}


def test_the_handout_s_own_check_and_demo_cells_are_skipped_and_the_student_s_run():
    marked = json.loads(notebook(("code", "import torch"), ("code", "x = 1")))
    marked["cells"][1:1] = [handout_cell("from grader.in_notebook import check\ncheck('causal_mask')", "check"),
                            handout_cell("print(attention_scores(inputs))", "demo"),
                            handout_cell("y = 2", "setup")]  # a role that is not scaffolding still runs
    marked["cells"].append({**json.loads(notebook(("code", "from grader.in_notebook import check")))["cells"][0]})
    cells = notebook_cells(json.dumps(marked), "attention.ipynb")
    assert [c.source for c in cells] == ["import torch", "y = 2", "x = 1", "from grader.in_notebook import check"]
    assert [c.filename for c in cells] == [f"attention.ipynb code cell {n}" for n in (1, 4, 5, 6)]


def test_a_note_names_a_run_cell_as_jupyter_shows_it_and_an_unrun_one_by_its_place(tmp_path, write):
    ran = json.loads(notebook(("markdown", "# mine"), ("code", solution_source()), ("code", "1 / 0"),
                              ("code", "raise KeyError('unrun')")))
    ran["cells"][1]["execution_count"], ran["cells"][2]["execution_count"] = 3, 7  # run out of order, the last not
    write("mine.ipynb", json.dumps(ran))
    report = grade_json("mine.ipynb", tmp_path=tmp_path, cwd=tmp_path)
    assert report["score"] == 100
    assert report["notes"] == ["ZeroDivisionError: division by zero at mine.ipynb In [7], line 1: 1 / 0",
                               "KeyError: 'unrun' at mine.ipynb code cell 3, line 1: raise KeyError('unrun')"]


def test_notebook_that_is_not_json(tmp_path, write):
    report = grade_json(write("broken.ipynb", "{not json"), tmp_path=tmp_path)
    assert report["status"] == "error" and "not JSON" in report["error"]
    assert report["score"] == 0
    assert all(c["status"] == "error" and c["score"] == 0 for c in report["concepts"])


def test_syntax_error_names_the_line(tmp_path, write):
    source = solution_source().replace("def context_vectors(inputs):", "def context_vectors(inputs)")
    report = grade_json(write("attention.py", source), tmp_path=tmp_path)
    assert report["status"] == "error"
    assert "SyntaxError" in report["error"] and "line" in report["error"]
    assert report["score"] == 0


def test_bad_encoding(tmp_path, write):
    report = grade_json(write("attention.py", b"# caf\xe9\nimport torch\n"), tmp_path=tmp_path)
    assert report["status"] == "error" and report["error"].endswith("attention.py is not UTF-8 text (byte 5)")


def test_sources_are_read_as_python_reads_them_with_a_byte_order_mark_or_a_coding_line(write):
    source = solution_source().encode()
    notepad = write("notepad.py", codecs.BOM_UTF8 + source)  # as Notepad saves UTF-8
    latin = write("latin.py", b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n" + source)
    reports = grade_submissions([locate(str(notepad)), locate(str(latin))], load())
    assert [(r.status, r.score, r.max_score) for r in reports] == [("graded", 100, 100)] * 2, [r.error for r in reports]
    assert reports[1].output.strip() == "caf\u00e9"


def test_a_source_not_in_its_declared_encoding_gets_a_clear_error(write):
    cases = {b"# coding: ascii\nname = 'caf\xc3\xa9'\n": "a.py is not ascii text, as its coding line says (byte 27)",
             b"# coding: klingon\nimport torch\n": "a.py has a coding line Python cannot use (unknown encoding: klingon)",
             codecs.BOM_UTF8 + b"# coding: latin-1\n": "a.py has a coding line Python cannot use (encoding problem: utf-8)"}
    for content, problem in cases.items():
        assert locate(str(write("a.py", content)), "a.py").problem == problem


def test_missing_names_cost_only_their_concepts(tmp_path, write):
    source = solution_source()
    start, end = source.index("def wrapper_with_two_dim_output"), source.index("class MultiHeadAttention(")
    report = grade_json(write("attention.py", source[:start] + source[end:]), tmp_path=tmp_path)
    assert report["status"] == "error"
    assert "wrapper_with_two_dim_output" in report["error"]
    scores = {c["id"]: c["score"] for c in report["concepts"]}
    assert scores["multihead_wrapper"] < 8
    assert sum(scores.values()) == 100 - 8 + scores["multihead_wrapper"]


def test_folder_with_several_candidates_names_them(tmp_path, write):
    write("hw/attention.py", solution_source())
    write("hw/attention_v2.py", solution_source())
    write("hw/helpers.py", "def softmax(x):\n    return x\n")
    report = grade_json(tmp_path / "hw", tmp_path=tmp_path)
    assert report["status"] == "error"
    assert "attention.py" in report["error"] and "attention_v2.py" in report["error"]
    assert "helpers.py" not in report["error"]


def test_folder_submission_may_import_its_own_helpers(tmp_path, write):
    source = solution_source().replace("import torch\n", "import torch\nfrom helpers import SCALE_POWER\n", 1)
    write("hw/attention.py", source)
    write("hw/helpers.py", "SCALE_POWER = 0.5\n")
    report = grade_json(tmp_path / "hw", "--concept", "attention_scores", tmp_path=tmp_path)
    assert report["status"] == "graded" and report["score"] == 6


def test_wrong_file_type_gets_an_error_report(tmp_path, write):
    report = grade_json(write("attention.txt", "hello"), tmp_path=tmp_path)
    assert report["status"] == "error" and ".py file" in report["error"]


def solution_in_cells() -> list[str]:
    source = solution_source()
    splits = [0, source.index("class SelfAttention_v1"), source.index("class CausalAttention"), len(source)]
    return [source[start:end] for start, end in zip(splits, splits[1:])]


def test_notebooks_from_colab_vscode_jupyterlab_4_nbformat_3_and_notepad_get_full_marks_alone_and_in_a_batch(tmp_path):
    from notebook_tools import TOOLS

    submissions = tmp_path / "class"
    submissions.mkdir()
    for tool, build in TOOLS.items():
        (submissions / f"{tool}.ipynb").write_text(build(solution_in_cells()), encoding="utf-8", newline="")
    result = run_cli("batch", submissions, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for tool in TOOLS:
        report = json.loads((tmp_path / "out" / "reports" / f"{tool}.json").read_text())
        assert (report["status"], report["score"]) == ("graded", 100), (tool, report["error"])
    colab = json.loads((tmp_path / "out" / "reports" / "colab.json").read_text())
    assert any("google" in note for note in colab["notes"])  # Drive's mount fails off Colab: a note, no points
    alone = grade_json(submissions / "nbformat3.ipynb", tmp_path=tmp_path)
    assert alone["score"] == 100


def test_a_notebook_for_another_kernel_is_a_clear_error(tmp_path, write):
    from notebook_tools import r_kernel

    report = grade_json(write("hw3.ipynb", r_kernel(solution_in_cells())), tmp_path=tmp_path)
    assert report["status"] == "error" and report["score"] == 0
    assert report["error"].endswith("hw3.ipynb is a notebook for the R kernel, not Python: change its kernel to "
                                    "Python 3 and run it again, or hand in the .py file")
