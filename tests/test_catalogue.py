"""The catalogue, the suites and the public API agree with each other."""
import ast

import pytest

import grader
from grader import catalogue
from grader.errors import GraderError, UsageError
from grader.runner import SUITES_DIR

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
    ("title = 'no points'\n", "needs a \\[points\\] table"),
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
