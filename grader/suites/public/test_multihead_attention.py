"""Public checks: the multi-head wrapper (exercise 3.2), multi-head attention and GPT-2 sizes (section 3.6)."""
from grader.checks import Diagnosis, concept
from grader.probes import (check_gpt2_size, check_multihead_structure, check_two_dim_wrapper, check_wrapper_output,
                           check_wrapper_structure)


@concept("multihead_wrapper", visibility="public")
def test_wrapper_holds_independent_causal_attention_heads(student):
    check_wrapper_structure(student, num_heads=3)


@concept("multihead_wrapper", visibility="public")
def test_wrapper_concatenates_its_heads_outputs(student):
    check_wrapper_output(student, d_in=3, d_out=2, context_length=5, num_heads=3, seed=61)


@concept("multihead_wrapper", visibility="public")
def test_exercise_3_2_two_output_features(student):
    check_two_dim_wrapper(student, d_in=3, context_length=5)


@concept("multihead_attention", visibility="public")
def test_multihead_attention_layers_and_sizes(student):
    info = student.build("MultiHeadAttention", 3, 4, 5, 0.0, num_heads=2).describe()
    attributes = info["attributes"]
    if attributes.get("num_heads") != 2 or attributes.get("head_dim") != 2:
        raise Diagnosis("MultiHeadAttention(3, 4, 5, 0.0, num_heads=2) should have num_heads=2 and head_dim=2, "
                        f"has {attributes.get('num_heads')} and {attributes.get('head_dim')}")
    for name in ("W_query", "W_key", "W_value"):
        layer = info["modules"].get(name)
        if layer is None or not layer["linear"] or (layer["in_features"], layer["out_features"]) != (3, 4):
            raise Diagnosis(f"MultiHeadAttention.{name} should be nn.Linear(d_in=3, d_out=4)")
    out_proj = info["modules"].get("out_proj")
    if out_proj is None:
        raise Diagnosis("MultiHeadAttention has no out_proj layer", "missing_out_proj")
    if not out_proj["linear"] or (out_proj["in_features"], out_proj["out_features"]) != (4, 4) \
            or not out_proj["has_bias"]:
        raise Diagnosis("MultiHeadAttention.out_proj should be nn.Linear(d_out, d_out) with a bias")


@concept("multihead_attention", visibility="public")
def test_multihead_attention_output_with_known_weights(student, device):
    check_multihead_structure(student, device, d_in=3, d_out=4, num_tokens=5, num_heads=2, seed=71)


@concept("gpt2_sizing", visibility="public")
def test_gpt2_small(student):
    check_gpt2_size(student, "small", 768, 12, count_parameters=True, construct_on=None)  # built on the CPU
