"""A failure of a class as a whole that goes away with one part of the class repaired is charged to that part's
concept: the repairs themselves (grader.part_repairs, in this process), and grading submissions whose mask or
dropout is broken in ways no misconception names. Localisation over many generated mistakes is
tests/test_mutants.py's."""
import types

import pytest
import torch

from conftest import grade_forked, grade_json, solution_source
from grader import part_repairs
from grader.catalogue import PARTS, load
from grader.pipeline import grade_submissions
from grader.submission import locate

SOLUTION_MASK = 'self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))'
SOLUTION_DROPOUT = "self.dropout = nn.Dropout(dropout)"
MASKED_FILL = "attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)"


def edited(*edits) -> str:
    source = solution_source()
    for old, new, count in edits:
        assert source.count(old) == count, old
        source = source.replace(old, new)
    return source


def namespace_of(source: str) -> dict:
    module = types.ModuleType("edited_submission")
    exec(compile(source, "edited_submission.py", "exec"), module.__dict__)
    return module.__dict__


def outputs(classes: dict, name: str, training=False):
    """The class's output on a fixed input with the weights of the solution's class (same seed, same layers)."""
    torch.manual_seed(0)
    args = (3, 4, 6, 0.5) + ((2,) if name == "MultiHeadAttention" else ())
    module = classes[name](*args).train(training)
    torch.manual_seed(1)
    return module(torch.randn(2, 6, 3))  # (b, T, d_out)


@pytest.fixture(autouse=True)
def nothing_left_repaired():
    yield
    part_repairs.undo()


@pytest.mark.parametrize("name", ["CausalAttention", "MultiHeadAttention"])
@pytest.mark.parametrize("mistake", [
    (SOLUTION_MASK, SOLUTION_MASK.replace("triu", "tril")),  # the wrong triangle
    (SOLUTION_MASK, SOLUTION_MASK.replace("context_length, context_length", "context_length - 1, context_length - 1")),
    (MASKED_FILL, MASKED_FILL.replace("-torch.inf", "torch.inf")),
    (MASKED_FILL, MASKED_FILL.replace(".bool()", "")),  # a float mask: masked_fill_ raises
    (SOLUTION_MASK, ""),  # no mask buffer: forward raises on self.mask
])
def test_the_mask_repair_makes_a_broken_mask_correct_and_undo_restores_the_class(name, mistake):
    reference, student = namespace_of(solution_source()), namespace_of(edited((*mistake, 2)))
    original = dict(vars(student[name]))
    expected = outputs(reference, name)
    try:
        broken = outputs(student, name)
        assert not torch.allclose(broken, expected, equal_nan=True)
    except (RuntimeError, AttributeError):
        pass  # broken by raising
    part_repairs.repair(student[name], "mask")
    torch.testing.assert_close(outputs(student, name), expected)
    part_repairs.repair(student[name], None)
    assert dict(vars(student[name])) == original


@pytest.mark.parametrize("name", ["CausalAttention", "MultiHeadAttention"])
@pytest.mark.parametrize("replacement", ["", "self.dropout = dropout"])  # no dropout module, or a float
def test_the_dropout_repair_gives_the_module_the_constructors_dropout(name, replacement):
    reference, student = namespace_of(solution_source()), namespace_of(edited((SOLUTION_DROPOUT, replacement, 2)))
    with pytest.raises((AttributeError, TypeError)):
        outputs(student, name, training=True)
    part_repairs.repair(student[name], "dropout")
    torch.testing.assert_close(outputs(student, name, training=True), outputs(reference, name, training=True))


def test_the_worker_repairs_every_part_the_registry_names():
    assert set(part_repairs.REPAIRS) == set(PARTS)  # the worker sees no catalogue: the two lists must agree


def test_a_repair_of_an_unknown_part_is_refused():
    with pytest.raises(ValueError, match="unknown part"):
        part_repairs.repair(namespace_of(solution_source())["CausalAttention"], "softmax")


# Mistakes the catalogue does not name, in the part another concept owns: each costs that concept only, and
# those that call the class (as the mutation harness allows): GPT-2's context is read from its mask's size.
BROKEN_PARTS = {
    "float mask": (edited((MASKED_FILL, MASKED_FILL.replace(".bool()", ""), 2)), ["causal_mask"]),
    "mask a token short": (edited((SOLUTION_MASK, SOLUTION_MASK.replace("context_length, context_length",
                                                                        "context_length - 1, context_length - 1"), 2)),
                           ["buffers_and_devices", "causal_mask", "gpt2_sizing"]),
    "dropout as a float": (edited((SOLUTION_DROPOUT, "self.dropout = dropout", 2)), ["attention_dropout"]),
}


@pytest.fixture(scope="module")
def broken_part_reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken_parts")
    submissions = []
    for position, (source, _) in enumerate(BROKEN_PARTS.values()):
        (folder / f"case{position}.py").write_text(source)
        submissions.append(locate(str(folder / f"case{position}.py")))
    return dict(zip(BROKEN_PARTS, grade_forked(submissions, load())))


@pytest.mark.parametrize("case", list(BROKEN_PARTS))
def test_a_broken_part_costs_its_own_concept_only(broken_part_reports, case):
    report, allowed = broken_part_reports[case], BROKEN_PARTS[case][1]
    lost = {c.concept.id for c in report.concepts if c.score < c.concept.points}
    assert lost and lost <= set(allowed), [(c.concept.id, c.score, c.feedback) for c in report.concepts
                                           if c.score < c.concept.points]


@pytest.mark.parametrize("case", list(BROKEN_PARTS))
def test_a_release_repairs_as_the_full_grader_does_on_the_public_checks(release, tmp_path, case):
    """A student release holds stored reference outputs only: the repaired class is judged on its public
    output check's inputs, which it stores, so the self-check charges the same concepts as the full grader."""
    path = tmp_path / "attention.py"
    path.write_text(BROKEN_PARTS[case][0])
    in_release = grade_json(path, tmp_path=tmp_path, cwd=release)
    full = grade_submissions([locate(str(path))], load(), visibilities=("public",))[0].to_json()
    assert {c["id"]: c["score"] for c in in_release["concepts"]} == {c["id"]: c["score"] for c in full["concepts"]}
    lost = {c["id"] for c in in_release["concepts"] if c["score"] < c["max_score"]}
    assert lost <= set(BROKEN_PARTS[case][1])
