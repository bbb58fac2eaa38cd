"""Hidden checks: wrapper heads, multi-head attention on other sizes, the head-divisibility check, GPT-2 sizes."""

import pytest
import torch

from grader.checks import Diagnosis, close, concept, expect_tensor, randn
from grader.probes import check_gpt2_size, check_multihead_structure, check_two_dim_wrapper, check_wrapper_output
from grader.proxy import StudentError


@concept("multihead_wrapper", visibility="hidden")
def test_wrapper_heads_have_their_own_weights(student):
    wrapper = student.build("MultiHeadAttentionWrapper", 3, 2, 4, 0.0, num_heads=2)
    first, second = wrapper.get_many(["heads.0", "heads.1"])
    if first is None or second is None:
        raise Diagnosis("the wrapper should keep its heads in self.heads")
    parameters = first.describe()["parameters"]
    if not parameters:
        raise Diagnosis("the wrapper's heads have no parameters")
    name, info = next(iter(parameters.items()))  # whatever the heads' layout, change one of head 0's weights
    before = second.get(name)
    first.load({name: torch.full(info["shape"], 7.0)})
    if before is not None and not close(second.get(name), before):
        raise Diagnosis("setting the weights of head 0 changed head 1: the heads share weights", "heads_share_weights")


@concept("multihead_wrapper", visibility="hidden")
def test_wrapper_output_with_four_heads(student):
    check_wrapper_output(student, d_in=5, d_out=3, context_length=4, num_heads=4, seed=303)


@concept("multihead_wrapper", visibility="hidden")
def test_exercise_3_2_with_other_sizes(student):
    check_two_dim_wrapper(student, d_in=6, context_length=4, dropout=0.1)


@concept("multihead_attention", visibility="hidden")
def test_multihead_attention_rejects_indivisible_head_sizes(student):
    student.build("MultiHeadAttention", 4, 8, 5, 0.0, num_heads=4)  # divisible: must build
    try:
        student.build("MultiHeadAttention", 4, 6, 5, 0.0, num_heads=4)
    except StudentError as exc:
        if exc.not_implemented:
            raise
        return
    raise Diagnosis("MultiHeadAttention(d_out=6, num_heads=4) was built although 6 is not divisible by 4",
                    "no_head_divisibility_check")


@concept("multihead_attention", visibility="hidden")
def test_multihead_attention_with_biases_and_three_heads(student, device):
    check_multihead_structure(student, device, d_in=5, d_out=6, num_tokens=4, num_heads=3, seed=311, biases=True)


@concept("multihead_attention", visibility="hidden")
def test_multihead_attention_output_shape(student):
    module = student.build("MultiHeadAttention", 7, 4, 6, 0.0, num_heads=4, training=False)
    expect_tensor(module(randn(3, 6, 7, seed=314)), (3, 6, 4), "MultiHeadAttention(7, 4, 6, 0.0, num_heads=4)")


@concept("gpt2_sizing", visibility="hidden")
@pytest.mark.parametrize("size, d_model, num_heads", [("medium", 1024, 16), ("large", 1280, 20), ("xl", 1600, 25)])
def test_gpt2_larger_sizes(student, size, d_model, num_heads):
    check_gpt2_size(student, size, d_model, num_heads)


@concept("gpt2_sizing", visibility="hidden")
def test_gpt2_default_size_is_small(student):
    check_gpt2_size(student, None, 768, 12)
