"""The notebook version of the exercises, generated from solutions/attention.py (never a hand-kept copy).

`source_notebook` opens with the cell that installs the handout in Colab (grader.colab), then follows the
chapter: a text per section (grader.notebook_texts), the solutions between nbgrader's markers, a demo on the
chapter's example after each, an ungraded self-check of the concepts that can be judged so far and one
autograded test cell per concept, and a last cell with the total.
`student_notebook` is what nbgrader's generate_assignment makes of it: stubs instead of solutions and no
hidden tests. Notebooks are plain nbformat-v4 dicts, so the student's install needs no nbformat.
"""
import ast
import re
import textwrap
from pathlib import Path

from grader import notebook_texts
from grader.catalogue import Catalogue, Concept
from grader.colab import INSTALL_CELL
from grader.errors import GraderError
from grader.submission import CONTRACT_NAMES, ROLE_KEY

PROJECT_DIR = Path(__file__).resolve().parent.parent
SOLUTIONS_FILE = PROJECT_DIR / "solutions" / "attention.py"
EXERCISES_FILE = PROJECT_DIR / "exercises" / "attention.py"
ASSIGNMENT_NAME = "assignment.toml"  # the assignment file, next to the notebook

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's default Python stub

INTRO = """\
# Attention exercises: from simplified self-attention to multi-head attention

Chapter 3 of *Build a Large Language Model (From Scratch)*. Fill in every cell that says
`# YOUR CODE HERE`: replace `raise NotImplementedError()` with your code and keep the names, signatures
and attribute names as they are, since the grader looks for them. Each docstring explains the step.

Run the cells in order. After each exercise a cell tries it on the chapter's example, as the book does,
and a check cell grades your code so far on the public checks: it shows the concepts that can be judged
with the definitions written up to there, and the mistake it recognised. A concept checked before its
last definition is judged again further down, once that definition exists.
"""
SECTION = re.compile(r"^# -+ (.+?) -+$")  # the section comments of solutions/attention.py


def checked_after(concept: Concept) -> str:
    """The definition after which a concept's graded check cell stands: the last its checks call (in the
    registry), so that every check it holds can run; after the last definition for a concept that names none."""
    return concept.definitions[-1] if concept.definitions else CONTRACT_NAMES[-1]


def judged_at(catalogue: Catalogue, name: str) -> list[Concept]:
    """The concepts to show after a definition: those whose checks call it and whose `needs` are all
    defined by then (a check that calls a later, missing definition is not counted)."""
    defined = set(CONTRACT_NAMES[:CONTRACT_NAMES.index(name) + 1])
    return [c for c in catalogue.concepts if name in c.definitions and set(c.needs) <= defined]


def source_notebook(catalogue: Catalogue) -> dict:
    """The instructor's notebook: solutions inside nbgrader's markers, a demo after each, one autograded test
    cell per concept, ungraded self-checks of the concepts judged again later, and the total at the end."""
    solutions = _read(SOLUTIONS_FILE)
    stubs = _definitions(ast.parse(_read(EXERCISES_FILE)))
    cells = [_markdown("intro", INTRO + _dimension_notes()), _code("colab", INSTALL_CELL, role="install"),
             _code("self-check", notebook_texts.SELF_CHECK_IMPORT, role="grader"),
             _code("setup", _imports(solutions))]
    for name, kind, text in _parts(solutions, stubs):
        if kind == "section":
            story = notebook_texts.SECTIONS.get(text.split()[0], "")  # by the section's number, "3.3"
            cells.append(_markdown(f"section-{name}", f"## {text}\n\n{story}".strip()))
            if name == CONTRACT_NAMES[0]:
                cells.append(_code("inputs", notebook_texts.INPUTS, role="demo"))
            continue
        cells.append(_code(name, text, {"grade": False, "solution": True, "locked": False, "task": False,
                                        "schema_version": 3, "grade_id": name}))
        if name in notebook_texts.DEMOS:
            cells.append(_code(f"demo-{name}", notebook_texts.DEMOS[name], role="demo"))
        graded = [concept for concept in catalogue.concepts if checked_after(concept) == name]
        again = [concept.id for concept in judged_at(catalogue, name) if concept not in graded]
        cells += [_test_cell(concept.id, concept.points) for concept in graded]
        if again:
            cells.append(_self_check_cell(f"check-{name}", again))
    cells += [_markdown("total-text", notebook_texts.TOTAL), _self_check_cell("total", [])]
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                        "language": "python"},
                         "language_info": {"name": "python"}}}


def student_notebook(catalogue: Catalogue) -> dict:
    """The released notebook: each solution region replaced by nbgrader's stub, hidden tests removed."""
    notebook = source_notebook(catalogue)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["source"] = release_source(cell["source"])
    return notebook


def release_source(source: str) -> str:
    """A cell's source as generate_assignment releases it (same rules as nbgrader's ClearSolutions and
    ClearHiddenTests with their default delimiters)."""
    lines, skipping = [], False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            indent = line[:len(line) - len(line.lstrip())]
            lines += [indent + stub for stub in CODE_STUB]
            skipping = True
        elif BEGIN_HIDDEN in line:
            skipping = True
        elif END_SOLUTION in line or END_HIDDEN in line:
            skipping = False
        elif not skipping:
            lines.append(line)
    return "\n".join(lines)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise GraderError(f"cannot read {path}: the notebook is generated from a checkout of the project") from None


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _dimension_notes() -> str:
    """The exercises' notes on dimension names and the book's input, from the module docstring on."""
    doc = ast.get_docstring(ast.parse(_read(EXERCISES_FILE))) or ""
    start = doc.find("Dimension names")
    return f"\n```text\n{doc[start:].strip()}\n```\n" if start >= 0 else ""


def _imports(source: str) -> str:
    tree = ast.parse(source)
    return "\n".join(ast.get_source_segment(source, node) for node in tree.body
                     if isinstance(node, (ast.Import, ast.ImportFrom)))


def _parts(source: str, stubs: dict[str, ast.AST]):
    """(name, "section", title) for each section comment and (name, "code", cell source) for each contract
    name, in the solutions' order. Module-level constants go into the solution region of the one
    definition that uses them (GPT2_SIZES into gpt2_attention's)."""
    lines = source.splitlines()
    tree = ast.parse(source)
    definitions = _definitions(tree)
    constants = [node for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))]
    last_line = 0
    for name in sorted(CONTRACT_NAMES, key=lambda n: definitions[n].lineno):
        node = definitions[name]
        for line in lines[last_line:node.lineno - 1]:
            if match := SECTION.match(line):
                yield name, "section", match.group(1)
        last_line = node.end_lineno
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        extra = [c for c in constants if {t.id for t in _targets(c)} & used]
        yield name, "code", "\n".join(_definition(lines, node, stubs.get(name), extra))


def _targets(node) -> list[ast.Name]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t for t in targets if isinstance(t, ast.Name)]


def _definition(lines: list[str], node, stub, extra=()) -> list[str]:
    """A class or function with the stub's docstrings and each function body in a solution region."""
    if isinstance(node, ast.ClassDef):
        out = _header(lines, node) + _docstring(lines, node, stub)
        stub_methods = _definitions(stub) if stub else {}
        for child in _body(node):
            out.append("")
            out += (_definition(lines, child, stub_methods.get(child.name)) if isinstance(child, ast.FunctionDef)
                    else _segment(lines, child))
        return out
    indent = " " * node.body[0].col_offset
    body = _body(node)
    kept = _shared_prefix(body, _body(stub) if stub else [])
    # The region starts right after what stays visible, so that comments opening the body go with it.
    start = (kept[-1].end_lineno if kept else _docstring_node(node).end_lineno if _docstring_node(node)
             else _header_end(lines, node))
    region = []
    for constant in extra:
        region += textwrap.indent(textwrap.dedent("\n".join(_segment(lines, constant))), indent).split("\n") + [""]
    region += _strip_blank(lines[start:node.end_lineno])
    visible = [line for statement in kept for line in _segment(lines, statement)]
    return (_header(lines, node) + _docstring(lines, node, stub) + visible
            + [indent + BEGIN_SOLUTION, *region, indent + END_SOLUTION])


def _header(lines, node) -> list[str]:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return lines[first - 1:_header_end(lines, node)]


def _header_end(lines, node) -> int:
    """The line that ends a def or class statement's header: the first one after which a body parses
    (a comment line before the first statement belongs to the body)."""
    for end in range(node.lineno, node.body[0].lineno):
        try:
            ast.parse(textwrap.dedent("\n".join(lines[node.lineno - 1:end])) + "\n    pass")
            return end
        except SyntaxError:
            continue
    return node.body[0].lineno - 1


def _docstring_node(node):
    first = node.body[0] if node.body else None
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    return first if is_doc else None


def _docstring(lines, node, stub) -> list[str]:
    """The stub's docstring when it has one (they teach), else the solution's, at the body's indentation."""
    if stub is not None and _docstring_node(stub):
        stub_lines = _read(EXERCISES_FILE).splitlines()
        doc = _docstring_node(stub)
        text = textwrap.dedent("\n".join(stub_lines[doc.lineno - 1:doc.end_lineno]))
        return textwrap.indent(text, " " * node.body[0].col_offset).split("\n")
    doc = _docstring_node(node)
    return _segment(lines, doc) if doc else []


def _body(node) -> list:
    return node.body[1:] if _docstring_node(node) else list(node.body)


def _shared_prefix(solution: list, stub: list) -> list:
    """The leading statements the stub also shows (`super().__init__()`): they stay outside the region."""
    kept = []
    for mine, theirs in zip(solution, stub):
        if isinstance(mine, ast.Raise) or ast.dump(mine) != ast.dump(theirs):
            break
        kept.append(mine)
    return kept if len(kept) < len(solution) else kept[:-1]


def _segment(lines, node) -> list[str]:
    return lines[node.lineno - 1:node.end_lineno]


def _strip_blank(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip("\n")
    return text.split("\n")


def _test_cell(concept_id: str, points: float) -> dict:
    source = "\n".join([
        "from grader.in_notebook import check",
        f'check("{concept_id}", assignment="{ASSIGNMENT_NAME}")  # your score with the public checks',
        BEGIN_HIDDEN,
        "from grader.in_notebook import concept_score",
        f'concept_score("{concept_id}", assignment="{ASSIGNMENT_NAME}")',
        END_HIDDEN,
    ])
    return _code(f"test_{concept_id}", source, {"grade": True, "solution": False, "locked": True,
                                                 "points": points, "grade_id": f"test_{concept_id}",
                                                 "schema_version": 3}, role="check")


def _self_check_cell(cell_id: str, concept_ids: list[str]) -> dict:
    """An ungraded check of these concepts on the public checks; of every concept, with the total, if none."""
    if not concept_ids:
        call = f'check(assignment="{ASSIGNMENT_NAME}")  # every concept and your total'
    else:
        names = ", ".join(f'"{concept_id}"' for concept_id in concept_ids)
        call = "\n".join(["# Judged again further down, once the definitions after this one exist.",
                          *textwrap.wrap(f'check({names}, assignment="{ASSIGNMENT_NAME}")', 100,
                                         subsequent_indent="      ", break_on_hyphens=False)])
    return _code(cell_id, f"from grader.in_notebook import check\n{call}", role="check")


def _code(cell_id: str, source: str, nbgrader: dict | None = None, role: str | None = None) -> dict:
    """A code cell; a `role` marks it as the notebook's own (grading a notebook skips check, demo, install and
    self-check import cells)."""
    metadata = {**({"nbgrader": nbgrader} if nbgrader else {}), **({ROLE_KEY: {"role": role}} if role else {})}
    return {"cell_type": "code", "id": cell_id, "metadata": metadata, "source": source, "outputs": [],
            "execution_count": None}


def _markdown(cell_id: str, source: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}
