"""Public checks: self-attention with trainable weights, scaling and exercise 3.1 (section 3.4)."""
from grader.checks import Diagnosis, concept, judge, randn
from grader.probes import (CAUSAL_AXES, causal_attention, check_weight_transfer, judge_self_attention,
                           self_attention_v1)

QKV = ("W_query", "W_key", "W_value")


@concept("self_attention_v1", visibility="public")
def test_v1_keeps_three_parameter_matrices(student):
    info = student.build("SelfAttention_v1", 3, 2).describe()
    for name in QKV:
        if name not in info["parameters"]:
            raise Diagnosis(f"SelfAttention_v1 has no nn.Parameter named {name}")
        if info["parameters"][name]["shape"] != [3, 2]:
            raise Diagnosis(f"SelfAttention_v1(3, 2).{name} has shape {tuple(info['parameters'][name]['shape'])}, "
                            "expected (d_in, d_out) = (3, 2)")


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
def test_v2_uses_linear_layers_without_bias(student):
    info = student.build("SelfAttention_v2", 3, 2).describe()
    for name in QKV:
        layer = info["modules"].get(name)
        if layer is None or not layer["linear"]:
            raise Diagnosis(f"SelfAttention_v2.{name} should be an nn.Linear layer")
        if (layer["in_features"], layer["out_features"]) != (3, 2):
            raise Diagnosis(f"SelfAttention_v2(3, 2).{name} maps {layer['in_features']} to {layer['out_features']} "
                            "features, expected d_in=3 to d_out=2")
        if layer["has_bias"]:
            raise Diagnosis(f"SelfAttention_v2(3, 2).{name} has a bias although qkv_bias=False", "qkv_bias_ignored")


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
