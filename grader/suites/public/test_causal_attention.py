"""Public checks: causal mask, dropout and the mask buffer (section 3.5)."""
from grader.checks import Diagnosis, close, concept, expect_tensor, judge, randn
from grader.probes import (CAUSAL_AXES, causal_attention, check_dropout_in_eval,
                           check_dropout_in_training, check_layout, check_mask_buffer, check_mask_follows_meta)


@concept("causal_mask", visibility="public")
def test_causal_attention_layers(student, attribute_contract):
    check_layout(student, "CausalAttention", attribute_contract)


@concept("causal_mask", visibility="public")
def test_causal_attention_output_with_known_weights(student, device):
    module, weights = causal_attention(student, d_in=3, d_out=4, context_length=5, seed=41)
    x = randn(2, 5, 3, seed=42)  # (b, T, d_in)
    judge(module(x), weights.family(x, CAUSAL_AXES, device=device, causal=True), "mask", "CausalAttention(x)")


@concept("causal_mask", visibility="public")
def test_causal_attention_normalises_each_query_over_the_keys(student, device):
    module, weights = causal_attention(student, d_in=3, d_out=4, context_length=6, seed=43)
    x = randn(2, 6, 3, seed=46)  # (b, T, d_in): batched, where dim=1 is not the keys' dimension
    judge(module(x), weights.family(x, CAUSAL_AXES, device=device, causal=True), "softmax", "CausalAttention(x)")


@concept("causal_mask", visibility="public")
def test_future_tokens_do_not_change_earlier_outputs(student):
    # Whatever weights it starts with: this check needs none of ours, so it runs in any layout.
    module = student.build("CausalAttention", 3, 4, 5, 0.0, training=False)
    x = randn(1, 5, 3, seed=44)  # (b, T, d_in)
    changed = x.clone()
    changed[:, 3:] = randn(1, 2, 3, seed=45)  # new tokens 3 and 4
    before = expect_tensor(module(x), (1, 5, 4), "CausalAttention(x)")
    after = expect_tensor(module(changed), (1, 5, 4), "CausalAttention(x)")
    if before.isnan().any():
        raise Diagnosis("CausalAttention gives NaN: some token attends to nothing")
    if not close(before[:, :3], after[:, :3]):
        raise Diagnosis("changing tokens 3 and 4 changed the outputs of tokens 0 to 2: they see the future")


@concept("attention_dropout", visibility="public")
def test_dropout_is_off_in_eval_mode(student):
    check_dropout_in_eval(student, "CausalAttention")


@concept("attention_dropout", visibility="public")
def test_dropout_drops_and_rescales_attention_weights_in_training(student):
    check_dropout_in_training(student)


@concept("buffers_and_devices", visibility="public")
def test_mask_is_a_registered_buffer(student):
    check_mask_buffer(student, "CausalAttention", 3, 4, 5, 0.0)


@concept("buffers_and_devices", visibility="public")
def test_mask_follows_the_module_to_another_device(student):
    check_mask_follows_meta(student, "CausalAttention", 3, 4, 5, 0.0, run_forward=False)
