"""The catalogue, the suites and the public API agree with each other."""
import ast
import difflib
import re
import tomllib
from pathlib import Path

import pytest

import grader
from grader import catalogue
from grader.errors import GraderError, UsageError
from grader.feedback.example import RECORDERS
from grader.runner import SUITES_DIR
from grader.submission import CONTRACT_NAMES

TESTS = Path(__file__).parent

CONCEPT_IDS = ("attention_scores", "attention_weights", "context_vectors", "self_attention_v1", "self_attention_v2",
               "scaled_dot_product", "weight_transfer", "causal_mask", "attention_dropout", "buffers_and_devices",
               "multihead_wrapper", "multihead_attention", "gpt2_sizing")


def suite_concepts(visibility):
    """Concept ids named by @concept(...) decorators in one suite folder (read, not imported)."""
    found = set()
    for path in (SUITES_DIR / visibility).glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "concept":
                assert node.keywords[0].value.value == visibility, f"{path}: wrong visibility"
                found.add(node.args[0].value)
    return found


def test_concepts_and_points():
    loaded = catalogue.load()
    assert loaded.concept_ids == CONCEPT_IDS
    assert sum(c.points for c in loaded.concepts) == 100


def test_without_a_points_table_every_concept_is_graded_at_its_registry_points(tmp_path):
    path = tmp_path / "assignment.toml"
    path.write_text("[contract]\nattribute_names = false\n")
    loaded = catalogue.load(path)
    assert loaded.concepts == catalogue.registry().concepts and not loaded.attribute_contract


def test_the_registry_declares_what_each_concept_needs_and_draws():
    for concept in catalogue.registry().concepts:
        assert concept.definitions and set(concept.needs) <= set(concept.definitions), concept.id
        assert list(concept.definitions) == sorted(concept.definitions, key=CONTRACT_NAMES.index)
    assert set(RECORDERS) == {c.id for c in catalogue.registry().concepts if c.pictures}
    # Each part grader.part_repairs can repair is one concept's, in the classes where that concept is judged.
    assert sorted(c.part for c in catalogue.registry().concepts if c.part) == sorted(catalogue.PARTS)
    assert catalogue.registry().parts_of("MultiHeadAttention") == (("causal_mask", "mask"),
                                                                    ("attention_dropout", "dropout"))
    assert catalogue.registry().parts_of("SelfAttention_v1") == ()


@pytest.mark.parametrize("entry, message", [
    ("definitions = ['SelfAttention_v3']", "concepts.c.definitions: it must list names of attention.py"),
    ("definitions = ['CausalAttention']\nneeds = ['MultiHeadAttention']", "may name only the concept's definitions"),
    ("pictures = 'yes'", "pictures: it must be one of expected, training"),
    ("points = -2", "points: it must be a number >= 0"),
    ("part = 'softmax'", "part: it must be one of mask, dropout"),
])
def test_malformed_registry_fields_are_named(tmp_path, entry, message):
    bad = tmp_path / "catalogue.toml"
    bad.write_text(f"[concepts.c]\ntitle = 'C'\nhint = 'h'\n{entry}\n")
    assignment = tmp_path / "assignment.toml"
    assignment.write_text("[points]\nc = 1\n")
    with pytest.raises(GraderError, match=re.escape(message)):
        catalogue.load(assignment, bad)


def ids_named_by_the_tests() -> set[str]:
    """Every string of the project's tests and expected outcomes shaped like a concept or misconception id."""
    strings = set()
    for path in [*TESTS.glob("*.py"), *SUITES_DIR.rglob("test_*.py")]:
        strings |= {node.value for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    for expected in tomllib.loads((TESTS / "submissions" / "expected.toml").read_text()).values():
        strings |= {*expected["lose"], *expected["misconceptions"]}
    return {s for s in strings if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", s)}  # ids are named as whole strings


def test_every_id_the_tests_name_exists():
    """An id the tests name that is not in the registry is a typo or a renamed concept: each near miss fails."""
    known = {*catalogue.registry().concept_ids, *catalogue.registry().misconceptions}
    named = ids_named_by_the_tests()
    assert named & known, "the scan finds the ids the tests name"
    near_misses = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.85) for name in named - known}
    assert not {name: match for name, match in near_misses.items() if match}
    expected = tomllib.loads((TESTS / "submissions" / "expected.toml").read_text())
    for case in expected.values():
        assert set(case["lose"]) <= set(catalogue.registry().concept_ids)
        assert set(case["misconceptions"]) <= set(catalogue.registry().misconceptions)


def test_every_concept_has_public_and_hidden_tests():
    assert suite_concepts("public") == set(CONCEPT_IDS)
    assert suite_concepts("hidden") == set(CONCEPT_IDS)


def test_every_misconception_has_a_short_title_of_its_own():
    titles = {m.id: m.title for m in catalogue.load().misconceptions.values()}
    assert all(0 < len(title) <= 60 and not title.endswith(".") for title in titles.values())
    assert len(set(titles.values())) == len(titles)


def test_malformed_catalogue_entries_are_named(tmp_path):
    bad = tmp_path / "catalogue.toml"
    bad.write_text('[concepts.a]\ntitle = "A"\nhint = "h"\n\n[misconceptions.m]\ntitle = "M"\nconcept = "b"\nfeedback = "f"\n')
    assignment = tmp_path / "assignment.toml"
    assignment.write_text("[points]\na = 1\n")
    with pytest.raises(GraderError, match="unknown concept b"):
        catalogue.load(assignment, bad)
    bad.write_text('[concepts.a]\ntitle = "A"\n')
    with pytest.raises(GraderError, match="malformed catalogue entry concepts.a: it needs hint"):
        catalogue.load(assignment, bad)
    bad.write_text('[concepts.a]\ntitle = "A"\nhint = "h"\n\n[misconceptions.m]\nconcept = "a"\nfeedback = "f"\n')
    with pytest.raises(GraderError, match="malformed catalogue entry misconceptions.m: it needs title"):
        catalogue.load(assignment, bad)


@pytest.mark.parametrize("text, message", [
    ("[points]\ncausal_mask = 10\nsoftmax = 5\n", "unknown concept 'softmax'"),
    ("[points]\ncausal_mask = -1\n", "must be a number"),
    ("[points]\ncausal_mask = 'ten'\n", "must be a number"),
    ("[points]\n", "must name at least one concept"),
    ("points = 5\n", "must name at least one concept"),
    ("[points\n", "cannot read"),
])
def test_bad_assignment_files_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "assignment.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        catalogue.load(path)


def test_an_assignment_picks_concepts_and_points(tmp_path):
    path = tmp_path / "assignment.toml"
    path.write_text("[points]\ngpt2_sizing = 3\ncausal_mask = 20\n")
    loaded = catalogue.load(path)
    assert loaded.concept_ids == ("causal_mask", "gpt2_sizing")  # the chapter's order, not the file's
    assert [c.points for c in loaded.concepts] == [20, 3]


def test_public_api():
    assert set(grader.__all__) == {"grade", "Report", "to_json", "render_table", "GraderError", "UsageError",
                                   "__version__"}
    for name in grader.__all__:
        assert getattr(grader, name) is not None
    assert callable(grader.grade)
