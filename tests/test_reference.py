"""The reference: its kept outputs are what a fresh computation gives and never shared; a family's combinations
come in one order; a student release finds a stored family by inputs that are close, not bit for bit equal; the
tolerant comparison that judges outputs against them is torch's, however it is computed."""
import itertools

import pytest
import torch

from grader import checks, live_reference, reference
from grader.checks import Weights
from grader.live_reference import LiveReference
from grader.reference import HEADS, MASK, SCALE
from grader.stored_reference import Recorder, StoredReference


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(shape, generator=g) for shape in ((2, 5, 3), (4, 3), (4, 3), (4, 3))]


def test_a_kept_output_is_what_the_call_computes_and_the_caller_may_change_its_own():
    args = inputs()
    first = live_reference.attention(*args, causal=True, num_heads=2, scale="unscaled_scores")
    expected = live_reference._attention(*args, causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(first, expected)
    first.zero_()
    again = live_reference.attention(*[a.clone() for a in args], causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(again, expected)  # equal values, not the same objects, find the kept output
    other = live_reference.attention(*inputs(seed=1), causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(other, live_reference._attention(*inputs(seed=1), causal=True, num_heads=2,
                                                         scale="unscaled_scores"))


def test_another_memory_layout_is_computed_afresh():
    x, w_query, w_key, w_value = inputs()
    transposed = w_query.T.contiguous().T  # the same values, laid out column first
    assert live_reference._value_key(transposed) != live_reference._value_key(w_query)
    assert torch.equal(live_reference.attention(x, transposed, w_key, w_value),
                       live_reference._attention(x, transposed, w_key, w_value))


def test_combinations_come_with_the_fewest_mistakes_first_and_all_of_them_once():
    axes = {"scale": SCALE, "mask": MASK, "heads": HEADS}
    ordered = checks.fewest_mistakes_first(axes, "scale")
    mistakes = [sum(choice != axes[name][0] for name, choice in combination.items()) for combination in ordered]
    assert mistakes == sorted(mistakes) and mistakes[0] == 0
    every = {tuple(c.items()) for c in ({"mask": m, "heads": h} for m, h in itertools.product(MASK, HEADS))}
    assert {tuple(c.items()) for c in ordered} == every and len(ordered) == len(every)


def test_a_family_computes_each_combination_and_knows_where_it_comes():
    x, *weights = inputs()
    axes = {"scale": SCALE, "mask": MASK}
    family = LiveReference().family((x, *weights, None, None, None, None), {"causal": True}, axes)
    combinations = family.combinations()
    assert len(combinations) == len(SCALE) * len(MASK) and combinations[0] == ("correct", "correct")
    assert [reference.position(axes, c) for c in combinations] == list(range(len(combinations)))
    assert torch.equal(family(mask="mask_after_softmax"),
                       live_reference._attention(x, *weights, causal=True, mask="mask_after_softmax"))
    with pytest.raises(ValueError, match="heads='merge_without_transpose'"):
        family(heads="merge_without_transpose")


def recorded(tmp_path, asked):
    """A stored reference holding the families that `asked()` asks for, recorded from the live reference."""
    recorder = Recorder(LiveReference())
    with reference.serving(recorder):
        asked()
    recorder.save(tmp_path / "outputs.pt")
    return StoredReference(tmp_path / "outputs.pt")


def test_a_stored_family_is_found_by_inputs_that_differ_in_the_last_bits_only(tmp_path):
    weights = Weights.random(3, 4, seed=5, out_proj=True)
    x = checks.randn(2, 5, 3, seed=6)  # (b, T, d_in)
    axes = {"heads": HEADS, "scale": SCALE}
    stored = recorded(tmp_path, lambda: weights.family(x, axes, causal=True, num_heads=2))
    # As another CPU's kernels draw the same seeds: a few units in the last place apart.
    nudged = x * (1 + 16 * torch.finfo(torch.float32).eps)
    assert not torch.equal(nudged, x)
    with reference.serving(stored):
        found = weights.family(nudged, axes, causal=True, num_heads=2)
        for combination in found.combinations():
            choices = dict(zip(axes, combination))
            assert torch.equal(found(**choices), live_reference._attention(
                x, weights.query, weights.key, weights.value, out_proj=weights.out_proj, causal=True, num_heads=2,
                **choices))
        with pytest.raises(LookupError, match="no stored reference output"):
            weights.family(checks.randn(2, 5, 3, seed=7), axes, causal=True, num_heads=2)  # other inputs
        with pytest.raises(LookupError):
            weights.family(x, axes, causal=False, num_heads=2)  # other options
        with pytest.raises(LookupError):
            weights.family(x, {"heads": HEADS}, causal=True, num_heads=2)  # other axes


def test_the_same_family_asked_again_is_recorded_once_and_its_outputs_are_the_callers_own(tmp_path):
    weights = Weights.random(3, 4, seed=5)
    x = checks.randn(5, 3, seed=6)  # (T, d_in)

    def ask_twice():
        weights.reference(x)
        weights.reference(x.clone())
    stored = recorded(tmp_path, ask_twice)
    assert len(stored.stored["families"]) == 1
    with reference.serving(stored):
        weights.reference(x).zero_()
        assert torch.equal(weights.reference(x), live_reference._attention(x, weights.query, weights.key,
                                                                          weights.value))


def test_close_is_torch_s_isclose_in_float64_on_generated_pairs():
    """close() compares small tensors value by value in Python: on generated pairs (dtypes, values near the
    tolerance, NaN, infinities, signed zeros, the largest float32) it agrees with torch.allclose in float64."""
    import random

    from grader.checks import ATOL, RTOL, VALUE_BY_VALUE, close

    seed = random.SystemRandom().randrange(2**32)
    print(f"seed {seed}")
    rng, generator = random.Random(seed), torch.Generator().manual_seed(seed)
    specials = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-30, 3.4e38, -3.4e38, ATOL, RTOL]
    disagreements = []
    for _ in range(5000):
        shape = (rng.randint(1, 3), rng.randint(1, 2 * VALUE_BY_VALUE // 3))  # both sides of VALUE_BY_VALUE
        a = torch.randn(*shape, generator=generator).to(rng.choice([torch.float32, torch.float64, torch.float16]))
        b = a.to(rng.choice([torch.float32, torch.float64]))
        if rng.random() < 0.4:
            b = b + torch.randn(*shape, generator=generator).to(b.dtype) * rng.choice([1e-7, 1e-5, 3e-5, 1e-4, 1e-3])
        elif rng.random() < 0.5:
            b = b * (1 + rng.choice([-1, 1]) * rng.choice([0.99e-4, 1e-4, 1.01e-4])) + rng.choice([0, 0.99e-5, 1e-5])
        for _ in range(rng.choice([0, 0, 1, 3])):
            index = rng.randrange(a.numel())
            a.view(-1)[index] = rng.choice(specials)
            b.view(-1)[index if rng.random() < 0.6 else rng.randrange(b.numel())] = rng.choice(specials)
        expected = torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL, equal_nan=True)
        if close(a, b) != expected:
            disagreements.append((a, b, expected))
    assert not disagreements, f"seed {seed}: {len(disagreements)} pairs, first {disagreements[0]}"
