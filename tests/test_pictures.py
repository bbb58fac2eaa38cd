"""The pictures' matrices: the student's attention weights on the book's public example, beside the expected ones."""
import math

import pytest
import torch

from conftest import ROOT, grade_forked, solution_source
from edited_submissions import LAYOUTS, MISTAKES, apply_edits
from grader.catalogue import load
from grader.feedback.example import TOKENS
from grader.pipeline import grade_submissions
from grader.probes import BOOK_INPUTS
from grader.runner import VISIBILITY_DIRS
from grader.submission import locate

PICTURED = ("attention_weights", "scaled_dot_product", "causal_mask", "attention_dropout", "multihead_wrapper",
            "multihead_attention")
EDITS = {
    "correct": [],
    "mask_includes_diagonal": MISTAKES["mask_includes_diagonal"],
    "mask_wrong_triangle": MISTAKES["mask_wrong_triangle"],
    "softmax_wrong_dim": [("return torch.softmax(scores, dim=-1)  # (..., T, T)",
                           "return torch.softmax(scores, dim=0)  # (..., T, T)")],
    "heads_share_weights": MISTAKES["heads_share_weights"],
    "unscaled_scores": MISTAKES["unscaled_scores"],
    **{f"layout_{name}": edits for name, edits in LAYOUTS.items()},
}


def grade_edits(tmp_path, edits: dict, visibilities=VISIBILITY_DIRS):
    paths = {}
    for name, edit in edits.items():
        paths[name] = tmp_path / f"{name}.py"
        paths[name].write_text(apply_edits(solution_source(), edit))
    reports = grade_forked([locate(str(p)) for p in paths.values()], load(), visibilities=visibilities)
    return dict(zip(edits, reports))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return grade_edits(tmp_path_factory.mktemp("pictures"), EDITS)


def pictures(report, concept):
    return {p.label: p for p in report.pictures if p.concept == concept}


def tensor(matrix):
    return torch.tensor(matrix, dtype=torch.float64)


def book_weights(sharpness=1.0, causal=True, scale=6 ** 0.5):
    """The book's scores on the public example, masked and scaled as the chapter says: written out here."""
    scores = sharpness * BOOK_INPUTS.double() @ BOOK_INPUTS.double().T  # (6, 6)
    if causal:
        scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), -math.inf)
    return torch.softmax(scores / scale, dim=-1)


def test_each_attention_weight_concept_has_its_pictures_with_the_books_words(reports):
    report = reports["correct"]
    assert [p.concept for p in report.pictures] == sorted((p.concept for p in report.pictures),
                                                          key=[c.concept.id for c in report.concepts].index)
    assert {p.concept for p in report.pictures} == set(PICTURED)
    assert all(p.tokens == ("Your", "journey", "starts", "with", "one", "step") == TOKENS for p in report.pictures)
    assert len(pictures(report, "multihead_wrapper")) == len(pictures(report, "multihead_attention")) == 2


@pytest.mark.parametrize("name", ["correct", *(f"layout_{name}" for name in LAYOUTS)])
def test_correct_code_in_any_layout_draws_the_expected_matrices(reports, name):
    for picture in reports[name].pictures:
        assert picture.problem is None and picture.student is not None, (picture.label, picture.problem)
        if picture.other_is == "expected":
            assert not any(map(any, picture.differs)), (name, picture.label)


def test_the_expected_side_is_the_chapters_attention_on_the_public_example(reports):
    report = reports["correct"]
    expected = {
        ("attention_weights", "attention_weights(scores)"): book_weights(causal=False, scale=1.0),
        ("scaled_dot_product", "SelfAttention_v1"): book_weights(causal=False),
        ("causal_mask", "CausalAttention"): book_weights(),
        ("multihead_wrapper", "MultiHeadAttentionWrapper, head 1"): book_weights(),
        ("multihead_wrapper", "MultiHeadAttentionWrapper, head 2"): book_weights(sharpness=2.0),
        ("multihead_attention", "MultiHeadAttention, head 1"): book_weights(),
        ("multihead_attention", "MultiHeadAttention, head 2"): book_weights(sharpness=2.0),
    }
    for (concept, label), weights in expected.items():
        assert torch.allclose(tensor(pictures(report, concept)[label].other), weights, atol=1e-6), (concept, label)


def test_dropout_shows_the_eval_weights_beside_the_same_modules_training_weights(reports):
    (picture,) = pictures(reports["correct"], "attention_dropout").values()
    assert picture.other_is == "training"
    eval_mode, training = tensor(picture.student), tensor(picture.other)
    assert torch.allclose(eval_mode, book_weights(), atol=1e-6)
    kept = (training - 2 * eval_mode).abs() < 1e-5
    dropped = training.abs() < 1e-9
    assert bool((kept | dropped).all()) and bool(dropped[eval_mode > 0].any()) and bool(kept[eval_mode > 0].any())


def test_a_mask_that_includes_the_diagonal_leaves_no_weight_on_it(reports):
    weights = tensor(pictures(reports["mask_includes_diagonal"], "causal_mask")["CausalAttention"].student)
    diagonal = weights.diagonal()
    assert bool(diagonal[0].isnan()) and bool(weights[0].isnan().all())  # the first token sees nothing
    assert bool((diagonal[1:] == 0).all())


def test_a_mask_over_the_wrong_triangle_puts_weight_above_the_diagonal(reports):
    picture = pictures(reports["mask_wrong_triangle"], "causal_mask")["CausalAttention"]
    weights = tensor(picture.student)
    assert bool((weights.triu(1) > 0).any()) and any(map(any, picture.differs))


def test_a_softmax_over_the_wrong_dimension_makes_columns_sum_to_one(reports):
    weights = tensor(pictures(reports["softmax_wrong_dim"], "attention_weights")["attention_weights(scores)"].student)
    assert torch.allclose(weights.sum(dim=0), torch.ones(6, dtype=torch.float64), atol=1e-6)
    assert not torch.allclose(weights.sum(dim=1), torch.ones(6, dtype=torch.float64), atol=1e-3)


def test_heads_that_are_one_module_draw_the_same_weights(reports):
    heads = pictures(reports["heads_share_weights"], "multihead_wrapper")
    first, second = (heads[f"MultiHeadAttentionWrapper, head {h}"] for h in (1, 2))
    assert first.student == second.student and first.other != second.other


def test_unscaled_multi_head_scores_show_in_the_scaling_pictures(reports):
    scaled = pictures(reports["unscaled_scores"], "scaled_dot_product")
    assert not any(map(any, scaled["SelfAttention_v1"].differs))  # the mistake is in MultiHeadAttention only
    assert torch.allclose(tensor(scaled["MultiHeadAttention, head 1"].student), book_weights(scale=1.0), atol=1e-6)


def test_pictures_use_no_hidden_test(tmp_path, reports):
    """Graded with the public checks only, every picture is the same: nothing of a hidden test goes into one."""
    names = ("mask_includes_diagonal", "heads_share_weights")
    public = grade_edits(tmp_path, {name: EDITS[name] for name in names}, visibilities=("public",))
    for name in names:
        assert [p.to_json() for p in public[name].pictures] == [p.to_json() for p in reports[name].pictures]


def test_a_stub_draws_no_matrix_but_says_why(tmp_path):
    (report,) = grade_submissions([locate(str(ROOT / "exercises"))], load())
    assert report.pictures and all(p.student is None and p.problem for p in report.pictures)
    assert all(p.other for p in report.pictures if p.other_is == "expected")


def test_a_picture_that_hangs_costs_no_concept_and_says_why(tmp_path):
    """MultiHeadAttention hangs only on the picture's sizes (d_out 12, six tokens): the scaling picture, drawn
    before the multi-head concepts, gives up after a few seconds and marks nothing broken for their tests."""
    hang = [("        b, num_tokens, d_in = x.shape\n        keys = self.W_key(x)  # (b, T, d_out)\n"
             "        queries = self.W_query(x)  # (b, T, d_out)\n        values = self.W_value(x)  # (b, T, d_out)\n\n"
             "        # Split d_out",
             "        b, num_tokens, d_in = x.shape\n        while self.d_out == 12 and num_tokens == 6:\n"
             "            pass\n        keys = self.W_key(x)  # (b, T, d_out)\n"
             "        queries = self.W_query(x)  # (b, T, d_out)\n        values = self.W_value(x)  # (b, T, d_out)\n\n"
             "        # Split d_out")]
    (report,) = grade_edits(tmp_path, {"hangs": hang}).values()
    scores = {c.concept.id: (c.score, c.concept.points) for c in report.concepts}
    assert scores["multihead_attention"][0] == scores["multihead_attention"][1], report.concepts
    assert scores["scaled_dot_product"][0] == scores["scaled_dot_product"][1]
    stuck = pictures(report, "scaled_dot_product")["MultiHeadAttention, head 1"]
    assert stuck.student is None and "no answer within 3 s" in stuck.problem
