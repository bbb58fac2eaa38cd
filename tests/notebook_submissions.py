"""Student notebooks for an nbgrader course: the released notebook filled in with solutions or mistakes.

Shared by the nbgrader tests and the speed benchmark (benchmarks/bench.py).
"""
import ast
import json
import os
import sys
from pathlib import Path

from grader.submission import CONTRACT_NAMES

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "attention.py"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def nbgrader_env() -> dict:
    """The environment to run nbgrader in, from this Python environment."""
    return {**os.environ,
            "PYTHONPATH": str(ROOT),  # the kernel imports grader.in_notebook
            # nbgrader runs `alembic` from PATH to set up the gradebook.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            # The kernelspec "python3" of this environment (launcher "python" = sys.executable) over a user's.
            "JUPYTER_PREFER_ENV_PATH": "1"}


def definitions(path: Path) -> dict[str, str]:
    """Each contract name's code in a .py file, with the module-level code just before it (constants)."""
    source = path.read_text()
    code, pending = {}, []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or isinstance(node, ast.Expr):
            continue
        pending.append(ast.get_source_segment(source, node))
        if getattr(node, "name", None) in CONTRACT_NAMES:
            code[node.name], pending = "\n\n".join(pending), []
    return code


def filled(release: dict, swaps: dict[str, str]) -> dict:
    """The release notebook with each stub cell replaced by the solution, or by the definition of a
    hand-written submission in tests/submissions (swaps: contract name -> submission name)."""
    notebook = json.loads(json.dumps(release))
    code = definitions(SOLUTIONS)
    for name, mutant in swaps.items():
        code[name] = definitions(SUBMISSIONS / f"{mutant}.py")[name]
    # A magic before a definition: the kernel's history must be graded as the notebook file is.
    code["attention_scores"] = "%load_ext autoreload\n" + code["attention_scores"]
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in code:
            cell["source"] = code[grade_id]
    return notebook
