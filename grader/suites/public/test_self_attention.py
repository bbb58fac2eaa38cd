"""Public checks: self-attention with trainable weights, scaling and exercise 3.1 (section 3.4)."""
from grader.checks import concept, judge, randn
from grader.probes import (CAUSAL_AXES, causal_attention, check_layout, check_weight_transfer, judge_self_attention,
                           self_attention_v1)


@concept("self_attention_v1", visibility="public")
def test_v1_keeps_three_parameter_matrices(student, attribute_contract):
    # With the contract, the book's names and (d_in, d_out) nn.Parameter matrices; without, any recognised layout.
    check_layout(student, "SelfAttention_v1", attribute_contract)


@concept("self_attention_v1", visibility="public")
def test_v1_output_with_known_weights(student, device):
    module, weights = self_attention_v1(student, d_in=3, d_out=4, seed=11)
    x = randn(5, 3, seed=12)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "values", "SelfAttention_v1(x)")


@concept("self_attention_v1", visibility="public")
def test_v1_normalises_each_query_over_the_keys(student, device):
    module, weights = self_attention_v1(student, d_in=3, d_out=4, seed=13)
    x = randn(5, 3, seed=14)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "softmax", "SelfAttention_v1(x)")


@concept("self_attention_v2", visibility="public")
def test_v2_uses_linear_layers_without_bias(student, attribute_contract):
    # With the contract, nn.Linear layers named W_query, W_key and W_value; without, any recognised layout.
    check_layout(student, "SelfAttention_v2", attribute_contract)


@concept("scaled_dot_product", visibility="public")
def test_v1_scales_by_the_square_root_of_the_key_dimension(student, device):
    module, weights = self_attention_v1(student, d_in=3, d_out=4, seed=21)
    x = randn(5, 3, seed=22)  # (T, d_in)
    judge_self_attention(module, weights, x, device, "scale", "SelfAttention_v1(x)")


@concept("scaled_dot_product", visibility="public")
def test_causal_attention_scales_by_the_square_root_of_the_key_dimension(student, device):
    # Scaling is judged on every class that exists: a self-check without SelfAttention_v1 still judges it.
    module, weights = causal_attention(student, d_in=3, d_out=4, context_length=5, seed=23)
    x = randn(2, 5, 3, seed=24)  # (b, T, d_in)
    judge(module(x), weights.family(x, CAUSAL_AXES, device=device, causal=True),
          "scale", "CausalAttention(x)")


@concept("weight_transfer", visibility="public")
def test_copy_gives_v1_the_transposed_v2_weights(student):
    check_weight_transfer(student, d_in=3, d_out=2, seed=31)
