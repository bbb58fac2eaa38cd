"""Public checks: the multi-head wrapper (exercise 3.2), multi-head attention and GPT-2 sizes (section 3.6)."""
from grader.checks import concept
from grader.probes import (check_gpt2_size, check_layout, check_multihead_structure, check_two_dim_wrapper,
                           check_wrapper_output, check_wrapper_structure)
from grader.wire import META_WHERE_LOADED


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
def test_multihead_attention_layers_and_sizes(student, attribute_contract):
    check_layout(student, "MultiHeadAttention", attribute_contract)


@concept("multihead_attention", visibility="public")
def test_multihead_attention_output_with_known_weights(student, device):
    check_multihead_structure(student, device, d_in=3, d_out=4, num_tokens=5, num_heads=2, seed=71)


@concept("gpt2_sizing", visibility="public")
def test_gpt2_small(student):
    # On the CPU in a self-check, whose fresh worker would first load the meta kernels (about a second).
    check_gpt2_size(student, "small", 768, 12, construct_on=META_WHERE_LOADED)
