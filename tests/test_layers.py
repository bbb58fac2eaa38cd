"""The package's layers import downwards only: platforms/ sits above the pipeline, the cluster does not import
the batch that calls it, and no module imports another's private names (the zygote start they share is public)."""
import ast

import pytest

from conftest import ROOT

GRADER = ROOT / "grader"


def imported_modules(path) -> set[str]:
    """Every grader module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grader"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("grader"))
    return found


def module_name(path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


MODULES = {module_name(p): imported_modules(p) for p in sorted(GRADER.rglob("*.py"))}


COMMAND_LINE = ("grader.__main__", "grader.instructor_commands")


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("grader.platforms") and m not in COMMAND_LINE])
def test_nothing_below_the_command_line_imports_the_platforms(module):
    assert not {m for m in MODULES[module] if m.startswith("grader.platforms")}, module


def test_the_platforms_import_nothing_above_them():
    for module, imports in MODULES.items():
        if module.startswith("grader.platforms"):
            assert not set(COMMAND_LINE) & imports, module


def test_the_batch_client_and_the_cluster_make_no_circle():
    """run.py hands a batch to cluster.py; neither side of the cluster imports run.py back."""
    for module in ("grader.batch.cluster", "grader.batch.cluster_worker", "grader.batch.grading_process",
                   "grader.batch.options"):
        assert not {m for m in MODULES[module] if m.startswith("grader.batch.run")}, module
    private = {m for imports in MODULES.values() for m in imports if m.rsplit(".", 1)[-1].startswith("_") and not m.endswith("__")}
    assert not private, private
