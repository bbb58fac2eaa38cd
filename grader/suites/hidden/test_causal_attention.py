"""Hidden checks: the mask with short sequences and in multi-head attention, dropout's placement, buffers."""

import torch

from grader.checks import (Diagnosis, close, concept, expect_module_output, expect_some_numbers, expect_tensor, judge,
                           randn)
from grader.probes import (CAUSAL_AXES, DROPOUT_TOKENS, MULTIHEAD_AXES, causal_attention, check_dropout_in_training,
                           check_dropout_in_eval, check_mask_buffer, check_mask_follows_meta, dropout_pair,
                           multihead_attention, one_hot_tokens, seeded_pair)
from grader.proxy import StudentError


def output_of_short_sequence(module, x, context_length, name):
    """Forward on fewer tokens than context_length; an error there, where context_length tokens run, is the
    unsliced mask (an error on both is the module's own, graded where the module is: see grader.charging)."""
    try:
        return module(x)
    except StudentError as exc:
        full = torch.zeros(x.shape[0], context_length, x.shape[-1])  # (b, context_length, d_in)
        try:
            module(full)
        except StudentError:
            raise exc from None
        raise Diagnosis(f"{name} fails on a sequence shorter than context_length: {exc}", "mask_not_sliced") from None


@concept("causal_mask", visibility="hidden")
def test_causal_attention_on_a_sequence_shorter_than_the_context(student, device):
    module, weights = causal_attention(student, d_in=3, d_out=4, context_length=6, seed=201)
    x = randn(2, 3, 3, seed=202)  # (b, T=3, d_in)
    judge(output_of_short_sequence(module, x, 6, "CausalAttention"),
          weights.family(x, CAUSAL_AXES, device=device, causal=True), "mask",
          "CausalAttention(x) on 3 of 6 tokens")


@concept("causal_mask", visibility="hidden")
def test_causal_attention_with_query_key_value_biases(student, device):
    module, weights = causal_attention(student, d_in=3, d_out=5, context_length=4, seed=209, biases=True)
    x = randn(2, 4, 3, seed=210)  # (b, T, d_in)
    judge(module(x), weights.family(x, CAUSAL_AXES, device=device, causal=True), "mask",
          "CausalAttention(x) with qkv_bias=True")


@concept("causal_mask", visibility="hidden")
def test_multihead_attention_mask(student, device):
    module, weights = multihead_attention(student, d_in=3, d_out=4, context_length=5, num_heads=2, seed=203)
    x = randn(2, 5, 3, seed=204)  # (b, T, d_in)
    family = weights.family(x, MULTIHEAD_AXES, device=device, causal=True, num_heads=2)
    judge(module(x), family, "mask", "MultiHeadAttention(x)")


@concept("causal_mask", visibility="hidden")
def test_multihead_attention_on_a_sequence_shorter_than_the_context(student, device):
    module, weights = multihead_attention(student, d_in=3, d_out=4, context_length=8, num_heads=2, seed=205)
    x = randn(1, 4, 3, seed=206)  # (b, T=4, d_in)
    judge(output_of_short_sequence(module, x, 8, "MultiHeadAttention"),
          weights.family(x, MULTIHEAD_AXES, device=device, causal=True, num_heads=2), "mask",
          "MultiHeadAttention(x) on 4 of 8 tokens")


@concept("attention_dropout", visibility="hidden")
def test_dropout_acts_on_the_weights_not_on_the_context(student):
    # With identical value vectors, dropout on the weights keeps each output row constant; on the context not.
    n = DROPOUT_TOKENS
    with_dropout, _ = dropout_pair(student, value_weight=torch.ones(n, n))
    out = expect_tensor(with_dropout.train()(one_hot_tokens(n), seed=9), (1, n, n), "CausalAttention(x)")[0]  # (T, d_out)
    rows = out[out.isfinite().all(dim=-1)]
    if not torch.allclose(rows, rows[:, :1].expand_as(rows), atol=1e-5):
        raise Diagnosis("with identical value vectors the features of one output row differ in training mode, "
                        "so dropout hit the context vectors", "dropout_on_context")


@concept("attention_dropout", visibility="hidden")
def test_multihead_dropout_is_off_in_eval_mode(student):
    check_dropout_in_eval(student, "MultiHeadAttention")


@concept("attention_dropout", visibility="hidden")
def test_multihead_dropout_is_on_in_training(student):
    with_dropout, without = seeded_pair(student, "MultiHeadAttention")
    x = one_hot_tokens(6)
    expected = expect_module_output(without(x), (1, 6, 6), "MultiHeadAttention(x) without dropout")
    expect_some_numbers(expected, "MultiHeadAttention(x) without dropout")  # NaN everywhere would match itself
    if close(with_dropout.train()(x, seed=11), expected):
        raise Diagnosis("in training mode MultiHeadAttention with dropout=0.5 changes nothing: dropout is not applied")


@concept("buffers_and_devices", visibility="hidden")
def test_multihead_mask_is_a_registered_buffer(student):
    check_mask_buffer(student, "MultiHeadAttention", 3, 4, 5, 0.0, num_heads=2)


@concept("buffers_and_devices", visibility="hidden")
def test_forward_runs_on_the_meta_device(student):
    check_mask_follows_meta(student, "CausalAttention", 3, 4, 5, 0.0)


@concept("buffers_and_devices", visibility="hidden")
def test_multihead_mask_follows_the_module_to_another_device(student):
    check_mask_follows_meta(student, "MultiHeadAttention", 3, 4, 5, 0.0, num_heads=2)


@concept("buffers_and_devices", visibility="hidden")
def test_causal_attention_runs_in_float64_after_to(student):
    module = student.build("CausalAttention", 3, 4, 5, 0.0, training=False)
    module.to(torch.float64)
    out = module(randn(1, 5, 3, seed=208).double())
    expect_module_output(out, (1, 5, 4), "CausalAttention(x) in float64")
    if out.dtype != torch.float64:
        raise Diagnosis(f"after .to(torch.float64) CausalAttention returned {out.dtype}, expected torch.float64")


@concept("attention_dropout", visibility="hidden")
def test_dropout_rescales_by_one_over_one_minus_p(student):
    # At p = 0.5, 1/p and 1/(1-p) are both 2: another rate tells a hand-written dropout's scaling apart.
    check_dropout_in_training(student, p=0.25, seed=13)
