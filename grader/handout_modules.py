"""Which of the grader's files a student release holds: the modules the student commands import, and nothing else.

They are found by following imports (at a module's top or inside a function) from the modules a student runs:
the command line, the notebook's `check`/`hint`, the worker and zygote processes, and the public suites. The
walk stops at the instructors' side: their commands (whose modules, the batch, the platforms, the release
itself, are then reached by nothing) and the reference implementation, which a release replaces by its stored
outputs. tests/test_release.py runs every student command in a release to show that nothing is missing.
"""
import ast
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
# What a student runs: `python -m grader`, the notebook's functions, and the processes grading starts.
STUDENT_ENTRY_POINTS = ("grader.__main__", "grader.in_notebook", "grader.worker", "grader.zygote")
PUBLIC_SUITES = "suites/public"  # pytest loads them by path; they are entry points too
# Never in a release, whatever imports them (grader.__main__ and grader.reference do, where they exist).
INSTRUCTORS_ONLY = {"grader.instructor_commands": "the instructors' commands",
                    "grader.live_reference": "the reference implementation"}
INSTRUCTORS_ONLY_DATA = ("suites/hidden",)  # folders of grader/ whose files stay out as well


def module_path(module: str) -> Path | None:
    """The file of a grader module (a package's __init__.py), None where there is none."""
    base = GRADER_DIR.parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """The grader modules a file imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from grader import reference`
    return {name for name in found if name.split(".")[0] == "grader" and module_path(name)}


def student_modules() -> set[str]:
    """Every grader module that a student command may import, with the packages that hold them."""
    entries = [*STUDENT_ENTRY_POINTS, *(f"grader.{PUBLIC_SUITES.replace('/', '.')}.{p.stem}"
                                        for p in sorted((GRADER_DIR / PUBLIC_SUITES).glob("*.py")))]
    found, waiting = set(), list(entries)
    while waiting:
        module = waiting.pop()
        if module in found or module in INSTRUCTORS_ONLY:
            continue
        found.add(module)
        parts = module.split(".")
        packages = [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b first
        waiting += [p for p in packages if module_path(p)]
        waiting += sorted(imported_modules(module_path(module), module))
    return found


def handout_files() -> list[Path]:
    """The grader's files that a release holds (relative to grader/): the student modules and the data files
    beside them (catalogue, assignment, pytest.ini), never a cache or an instructor-only file."""
    modules = {module_path(m).relative_to(GRADER_DIR) for m in student_modules()}
    kept = []
    for path in sorted(GRADER_DIR.rglob("*")):
        relative = path.relative_to(GRADER_DIR)
        if not path.is_file() or "__pycache__" in relative.parts or relative.parts[0].startswith("."):
            continue
        if relative.as_posix().startswith(INSTRUCTORS_ONLY_DATA) or path.suffix == ".pyc":
            continue
        if path.suffix == ".py" and relative not in modules:
            continue
        kept.append(relative)
    return kept
