"""An unfinished submission loses each missing definition's own concepts and nothing else, in the self-check
and in the full grade alike: the reference with one definition left as its stub, or deleted."""
import ast

import pytest

from conftest import ROOT, grade_forked, solution_source
from grader.catalogue import load, registry
from grader.runner import VISIBILITY_DIRS
from grader.submission import CONTRACT_NAMES, locate


def definition_spans(source: str) -> dict[str, tuple[int, int]]:
    """Each top-level definition's (first line, last line), decorators and all, 1-based."""
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans[node.name] = (first, node.end_lineno)
    return spans


def replaced(source: str, name: str, new: str) -> str:
    """The source with the top-level definition `name` replaced by `new` (which may be empty)."""
    first, last = definition_spans(source)[name]
    lines = source.splitlines(keepends=True)
    return "".join(lines[:first - 1]) + new + "".join(lines[last:])


def stub_of(name: str) -> str:
    stubs = (ROOT / "exercises" / "attention.py").read_text()
    first, last = definition_spans(stubs)[name]
    return "".join(stubs.splitlines(keepends=True)[first - 1:last])


def unfinished_sources() -> dict[str, str]:
    """`stub:NAME` (the definition left as its stub) and `missing:NAME` (deleted) for every definition."""
    solution = solution_source()
    cases = {}
    for name in CONTRACT_NAMES:
        cases[f"stub:{name}"] = replaced(solution, name, stub_of(name))
        cases[f"missing:{name}"] = replaced(solution, name, "")
    return cases


def own_concepts(name: str) -> list[str]:
    return sorted(c.id for c in registry().concepts if name in c.needs)


def lost(report) -> list[str]:
    return sorted(c.concept.id for c in report.concepts if c.score < c.concept.points)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every unfinished case graded in full and with the public checks only: {visibility: {case: report}}."""
    folder = tmp_path_factory.mktemp("unfinished")
    cases = unfinished_sources()
    submissions = []
    for position, (case, source) in enumerate(cases.items()):
        path = folder / f"case{position}.py"
        path.write_text(source)
        submissions.append(locate(str(path)))
    return {visibilities: dict(zip(cases, grade_forked(submissions, load(), visibilities=visibilities)))
            for visibilities in (VISIBILITY_DIRS, ("public",))}


def test_every_definition_is_needed_by_some_concept():
    needed = {name for c in registry().concepts for name in c.needs}
    assert needed == set(CONTRACT_NAMES)


@pytest.mark.parametrize("case", list(unfinished_sources()))
def test_an_unfinished_definition_costs_its_own_concepts_only(graded, case):
    name = case.split(":", 1)[1]
    full, public = graded[VISIBILITY_DIRS][case], graded[("public",)][case]
    for report in (full, public):  # a deleted definition is named at the top of the report
        assert report.missing == ((name,) if case.startswith("missing:") else ()), report.error
    assert lost(full) == own_concepts(name), [(c.concept.id, c.feedback) for c in full.concepts]
    assert lost(public) == lost(full), [(c.concept.id, c.feedback) for c in public.concepts]
    for concept in (*full.concepts, *public.concepts):
        if concept.concept.id in own_concepts(name):
            assert any(f.startswith("not implemented yet") or " is not defined" in f for f in concept.feedback), \
                concept.feedback
