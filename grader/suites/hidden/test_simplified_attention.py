"""Hidden checks: attention scores, weights and context vectors on other shapes and batches."""
import torch

from grader.checks import concept, expect_close, randn
from grader.probes import check_context_vectors


@concept("attention_scores", visibility="hidden")
def test_scores_of_a_batch(student):
    x = randn(2, 5, 4, seed=101)  # (b, T, d)
    expect_close(student.call("attention_scores", x), x @ x.transpose(-2, -1), "attention_scores(batch)",
                 wrong=[("scores_transposed", x.transpose(-2, -1) @ x)])


@concept("attention_scores", visibility="hidden")
def test_scores_with_more_tokens_than_features(student):
    x = randn(7, 3, seed=102)  # (T, d)
    expect_close(student.call("attention_scores", x), x @ x.T, "attention_scores(inputs)",
                 wrong=[("scores_transposed", x.T @ x)])


@concept("attention_weights", visibility="hidden")
def test_weights_of_a_batch_with_negative_scores(student):
    scores = randn(2, 4, 4, seed=103) * 3  # (b, T, T)
    expect_close(student.call("attention_weights", scores), torch.softmax(scores, dim=-1), "attention_weights(batch)",
                 wrong=[("softmax_wrong_dim", torch.softmax(scores, dim=-2)),
                        ("softmax_wrong_dim", torch.softmax(scores, dim=0)),
                        ("sum_normalized", scores / scores.sum(dim=-1, keepdim=True))])


@concept("attention_weights", visibility="hidden")
def test_weights_of_large_scores_stay_finite(student):
    scores = randn(5, 5, seed=104) * 40 + 60  # exp() of these overflows float32
    expect_close(student.call("attention_weights", scores), torch.softmax(scores, dim=-1),
                 "attention_weights(large scores)",
                 wrong=[("softmax_wrong_dim", torch.softmax(scores, dim=0)),
                        ("sum_normalized", scores / scores.sum(dim=-1, keepdim=True))])


@concept("context_vectors", visibility="hidden")
def test_context_vectors_of_a_batch(student):
    check_context_vectors(student, randn(3, 4, 5, seed=105))
