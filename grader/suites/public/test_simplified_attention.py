"""Public checks: attention scores, weights and context vectors without trainable weights (section 3.3)."""
import torch

from grader.checks import concept, expect_close
from grader.probes import BOOK_INPUTS, check_context_vectors


@concept("attention_scores", visibility="public")
def test_scores_of_the_book_example(student):
    x = BOOK_INPUTS  # (6, 3)
    expect_close(student.call("attention_scores", x), x @ x.T, "attention_scores(inputs)",
                 wrong=[("scores_transposed", x.T @ x)])


@concept("attention_weights", visibility="public")
def test_weights_of_the_book_example(student):
    scores = BOOK_INPUTS @ BOOK_INPUTS.T  # (6, 6)
    expect_close(student.call("attention_weights", scores), torch.softmax(scores, dim=-1), "attention_weights(scores)",
                 wrong=[("softmax_wrong_dim", torch.softmax(scores, dim=0)),
                        ("sum_normalized", scores / scores.sum(dim=-1, keepdim=True))])


@concept("context_vectors", visibility="public")
def test_context_vectors_of_the_book_example(student):
    check_context_vectors(student, BOOK_INPUTS)
