"""Hidden checks: self-attention on other sizes, with biases, and scaling in every class."""

from grader.checks import Diagnosis, concept, expect_tensor, judge, randn
from grader.layouts import layout_of
from grader.probes import (CAUSAL_AXES, MULTIHEAD_AXES, causal_attention, check_weight_transfer, judge_self_attention,
                           linear_module, multihead_attention, self_attention_v1)


@concept("self_attention_v1", visibility="hidden")
def test_v1_output_shape(student):
    module, _ = self_attention_v1(student, d_in=5, d_out=3, seed=111)
    expect_tensor(module(randn(7, 5, seed=112)), (7, 3), "SelfAttention_v1(5, 3) on 7 tokens")


@concept("self_attention_v1", visibility="hidden")
def test_v1_output_with_other_sizes(student, device):
    module, weights = self_attention_v1(student, d_in=5, d_out=3, seed=113)
    x = randn(7, 5, seed=114)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "values", "SelfAttention_v1(x)")


@concept("self_attention_v2", visibility="hidden")
def test_v2_output_with_known_weights(student, device):
    module, weights = linear_module(student, "SelfAttention_v2", 3, 4, seed=121, d_in=3, d_out=4)
    x = randn(5, 3, seed=122)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "values", "SelfAttention_v2(x)")


@concept("self_attention_v2", visibility="hidden")
def test_v2_uses_its_biases_when_asked(student, device):
    module, weights = linear_module(student, "SelfAttention_v2", 3, 4, qkv_bias=True, seed=123, d_in=3, d_out=4,
                                    biases=True)
    x = randn(5, 3, seed=124)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "values", "SelfAttention_v2(x) with qkv_bias=True")


@concept("scaled_dot_product", visibility="hidden")
def test_v2_scaling(student, device):
    # d_k = 5: for 4, keys.shape[-1] ** 0.5 and keys.shape[-1] * 0.5 are both 2.
    module, weights = linear_module(student, "SelfAttention_v2", 3, 5, seed=131, d_in=3, d_out=5)
    x = randn(5, 3, seed=132)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "scale", "SelfAttention_v2(x)")


@concept("self_attention_v2", visibility="hidden")
def test_v2_normalises_each_query_over_the_keys(student, device):
    module, weights = linear_module(student, "SelfAttention_v2", 3, 4, seed=125, d_in=3, d_out=4)
    x = randn(6, 3, seed=126)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "softmax", "SelfAttention_v2(x)")


@concept("scaled_dot_product", visibility="hidden")
def test_causal_attention_scaling(student, device):
    module, weights = causal_attention(student, d_in=3, d_out=5, context_length=5, seed=133)  # d_k = 5
    x = randn(2, 5, 3, seed=134)  # (b, T, d_in)
    judge(module(x), weights.family(x, CAUSAL_AXES, device=device, causal=True),
          "scale", "CausalAttention(x)")


@concept("scaled_dot_product", visibility="hidden")
def test_multihead_attention_scales_by_the_head_dimension(student, device):
    # head_dim = 3, unlike d_in = 5 and d_out = 6, and unlike 4 (where ** 0.5 and * 0.5 agree).
    module, weights = multihead_attention(student, d_in=5, d_out=6, context_length=5, num_heads=2, seed=135)
    x = randn(2, 5, 5, seed=136)  # (b, T, d_in)
    family = weights.family(x, MULTIHEAD_AXES, device=device, causal=True, num_heads=2)
    judge(module(x), family, "scale", "MultiHeadAttention(x) with d_out=8 and 2 heads")


@concept("weight_transfer", visibility="hidden")
def test_copy_with_square_weights(student):
    check_weight_transfer(student, d_in=4, d_out=4, seed=141)


@concept("weight_transfer", visibility="hidden")
def test_copy_with_more_outputs_than_inputs(student):
    check_weight_transfer(student, d_in=2, d_out=5, seed=142)


@concept("self_attention_v2", visibility="hidden")
def test_v2_has_biases_when_asked(student):
    layout = layout_of(student, "SelfAttention_v2")  # recognised on a build with qkv_bias=True
    parameters = student.build("SelfAttention_v2", 3, 2, qkv_bias=True, describe=True).describe()["parameters"]
    if not all(m.bias is not None and m.bias in parameters for m in layout.projections):
        raise Diagnosis(f"SelfAttention_v2(3, 2, qkv_bias=True) should have a bias for each of its query, key and "
                        f"value projections ({layout.describe_projections()})")
