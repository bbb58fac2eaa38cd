"""The notebook as a reader of the book meets it: the chapter's order and example, a check after each exercise
showing what can be judged so far, a total at the end; and one graded cell per concept for nbgrader."""
import contextlib
import io
import json
import re
import subprocess
import sys

import pytest
import torch

from grader.catalogue import load
from grader.colab import INSTALL_CELL
from grader.notebook_version import source_notebook, student_notebook
from grader.probes import BOOK_INPUTS
from grader.submission import CONTRACT_NAMES, ROLE_KEY, is_scaffolding

CATALOGUE = load()


def role(cell) -> str | None:
    return cell["metadata"].get(ROLE_KEY, {}).get("role")


def is_graded(cell) -> bool:
    return cell["metadata"].get("nbgrader", {}).get("grade", False)


def checked(cell) -> list[str]:
    """The concepts a check cell's `check(...)` call names."""
    (call,) = re.findall(r"^check\((.*?)\)", cell["source"], re.M | re.S)
    return re.findall(r'"(\w+)"(?=\s*,)', call)


def test_the_student_notebook_follows_the_chapter_with_its_example():
    cells = student_notebook(CATALOGUE)["cells"]
    ids = [c["id"] for c in cells]
    sections = [c["source"].split("\n")[0] for c in cells if c["id"].startswith("section-")]
    assert [s.split()[1] for s in sections] == ["3.3", "3.4", "3.5", "3.6"]
    assert all(len(c["source"].split("\n\n", 1)[1]) > 200 for c in cells if c["id"].startswith("section-"))
    assert ids.index("section-attention_scores") < ids.index("inputs") < ids.index("attention_scores")
    namespace = {"torch": torch}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(cells[ids.index("inputs")]["source"], namespace)
    assert torch.equal(namespace["inputs"], BOOK_INPUTS) and role(cells[ids.index("inputs")]) == "demo"
    # After CausalAttention: its demo, then a self-check of what CausalAttention alone can be judged on.
    after = cells[ids.index("CausalAttention") + 1:ids.index("section-MultiHeadAttentionWrapper")]
    assert [role(c) for c in after] == ["demo", "check"] and not is_graded(after[1])
    assert "print(\"context_vecs.shape:\", context_vecs.shape)" in after[0]["source"]
    assert checked(after[1]) == ["scaled_dot_product", "causal_mask", "attention_dropout", "buffers_and_devices"]
    assert cells[-1]["id"] == "total" and role(cells[-1]) == "check"
    assert "check(assignment=" in cells[-1]["source"] and not checked(cells[-1])


def test_every_check_follows_its_definitions_and_every_exercise_but_the_wrapper_has_one():
    cells = student_notebook(CATALOGUE)["cells"]
    defined, checks_after = [], {}
    for cell in cells:
        if cell["id"] in CONTRACT_NAMES:
            defined.append(cell["id"])
        elif role(cell) == "check" and cell["id"] != "total":
            for concept_id in checked(cell) or [cell["id"].removeprefix("test_")]:
                concept = CATALOGUE.concept(concept_id)
                assert set(concept.needs) <= set(defined) and defined[-1] in concept.definitions, cell["id"]
                checks_after.setdefault(defined[-1], []).append(concept_id)
    # The wrapper alone judges nothing: its concept needs exercise 3.2, whose check follows it.
    assert set(checks_after) == set(CONTRACT_NAMES) - {"MultiHeadAttentionWrapper"}


def test_the_nbgrader_notebook_has_one_graded_cell_per_concept_and_ungraded_self_checks():
    cells = source_notebook(CATALOGUE)["cells"]
    graded = [c["id"] for c in cells if is_graded(c)]
    assert sorted(graded) == sorted(f"test_{c.id}" for c in CATALOGUE.concepts)
    scaffolding = [c for c in cells if role(c)]
    assert {role(c) for c in scaffolding} == {"check", "demo", "install", "grader"}
    assert all("nbgrader" not in c["metadata"] for c in scaffolding if not c["id"].startswith("test_"))


def test_the_first_code_cell_installs_the_handout_in_colab_and_grading_skips_it():
    for notebook in (source_notebook(CATALOGUE), student_notebook(CATALOGUE)):
        first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        assert (first["source"], role(first)) == (INSTALL_CELL, "install")
        assert is_scaffolding(first) and "nbgrader" not in first["metadata"]


def test_the_demos_print_the_chapters_shapes_with_the_solutions():
    """The source notebook run as plain Python (its check cells do nothing outside Jupyter)."""
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in source_notebook(CATALOGUE)["cells"]:
            if cell["cell_type"] == "code":
                exec(compile(cell["source"], cell["id"], "exec"), namespace)
    text = printed.getvalue()
    for shape in ("torch.Size([6, 3])", "torch.Size([6, 6])", "torch.Size([6, 2])", "Same outputs: True",
                  "context_vecs.shape: torch.Size([2, 6, 2])", "context_vecs.shape: torch.Size([2, 6, 4])",
                  "parameters: 2360064", "torch.Size([1, 8, 768])"):
        assert shape in text, shape


def test_the_completed_notebook_run_in_jupyter_shows_each_check_and_the_full_total(tmp_path):
    """Run by nbconvert as a student would, in a folder of its own: every check displays, the last the total."""
    pytest.importorskip("nbconvert")
    from notebook_submissions import filled, nbgrader_env

    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "attention.ipynb").write_text(json.dumps(filled(student_notebook(CATALOGUE), {})))
    result = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                             "--output", "run.ipynb", str(folder / "attention.ipynb")], cwd=tmp_path,
                            env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = {c["id"]: c for c in json.loads((folder / "run.ipynb").read_text())["cells"]}

    def shown(cell_id: str) -> str:
        return "".join(t for o in cells[cell_id]["outputs"] if o["output_type"] == "display_data"
                       for t in o["data"]["text/plain"])

    assert "self-check causal_mask: 12/12 (passed)" in shown("check-CausalAttention")
    assert "self-check multihead_attention" not in shown("check-CausalAttention")
    total = shown("total")
    assert total.endswith("Total: 100/100 (public checks)") and total.count("(passed)") == len(CATALOGUE.concepts)
    errors = [o for c in cells.values() if c["cell_type"] == "code" for o in c["outputs"]
              if o["output_type"] == "error" or o.get("name") == "stderr"]
    assert not errors
