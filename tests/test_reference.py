"""The reference implementation's kept outputs: the same values a fresh computation gives, never shared."""
import itertools

import torch

from grader import checks, reference


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(shape, generator=g) for shape in ((2, 5, 3), (4, 3), (4, 3), (4, 3))]


def test_a_kept_output_is_what_the_call_computes_and_the_caller_may_change_its_own():
    args = inputs()
    first = reference.attention(*args, causal=True, num_heads=2, scale="unscaled_scores")
    expected = reference._attention(*args, causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(first, expected)
    first.zero_()
    again = reference.attention(*[a.clone() for a in args], causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(again, expected)  # equal values, not the same objects, find the kept output
    other = reference.attention(*inputs(seed=1), causal=True, num_heads=2, scale="unscaled_scores")
    assert torch.equal(other, reference._attention(*inputs(seed=1), causal=True, num_heads=2,
                                                    scale="unscaled_scores"))


def test_another_memory_layout_is_computed_afresh():
    x, w_query, w_key, w_value = inputs()
    transposed = w_query.T.contiguous().T  # the same values, laid out column first
    assert reference._value_key(transposed) != reference._value_key(w_query)
    assert torch.equal(reference.attention(x, transposed, w_key, w_value),
                       reference._attention(x, transposed, w_key, w_value))


def test_combinations_come_with_the_fewest_mistakes_first_and_all_of_them_once():
    axes = {"scale": reference.SCALE, "mask": reference.MASK, "heads": reference.HEADS}
    ordered = checks.fewest_mistakes_first(axes, "scale")
    mistakes = [sum(choice != axes[name][0] for name, choice in combination.items()) for combination in ordered]
    assert mistakes == sorted(mistakes) and mistakes[0] == 0
    every = {tuple(c.items()) for c in ({"mask": m, "heads": h} for m, h in itertools.product(reference.MASK,
                                                                                             reference.HEADS))}
    assert {tuple(c.items()) for c in ordered} == every and len(ordered) == len(every)
