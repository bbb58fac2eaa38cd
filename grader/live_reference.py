"""The reference implementation of attention, with a switch for each catalogued misconception (see
grader.reference for the choices). Instructors only: a student release leaves this file out and answers from
stored outputs instead. Weights are in nn.Linear layout (d_out, d_in); SelfAttention_v1's (d_in, d_out)
matrices are passed transposed.
"""
import torch

from grader.reference import Family
from grader.wire import contiguous_bytes

# Outputs already computed in this process, by their inputs' values: a batch's tests give every student the
# same inputs. Bounded, since some inputs are a student's own (weights read back from their module).
_computed: dict = {}
MAX_COMPUTED = 20_000


class LiveReference:
    """Computes each output when a test asks for it."""

    def family(self, args: tuple, options: dict, axes: dict) -> Family:
        # The inputs are read once, when the family is made (as a release's stored families do): a check asks
        # for up to hundreds of combinations, and reading every input's bytes for each cost more than computing.
        inputs = _inputs_key(args, options)

        def output(combination):
            choices = dict(zip(axes, combination))
            key = None if inputs is None else (inputs, tuple(choices.items()))
            return _kept(key, lambda: _attention(*args, **options, **choices))
        return Family(axes, output)


def _mask(num_tokens, choice):
    ones = torch.ones(num_tokens, num_tokens, dtype=torch.bool)
    return {
        "correct": ones.triu(1),
        "mask_filled_with_zero": ones.triu(1),
        "mask_after_softmax": ones.triu(1),
        "mask_includes_diagonal": ones.triu(0),
        "mask_wrong_triangle": ones.tril(-1),
        "mask_not_applied": ~ones,  # computed, never applied: masked_fill without its underscore
    }[choice]


class _NotKept(Exception):
    """An argument whose value is not cheap to read (a tensor on a GPU): its call is not kept."""


def _value_key(value):
    """A hashable stand-in for an argument, equal for equal values in the same memory layout (a layout may
    change the last bits of a product, and a kept output must be the one this call would compute)."""
    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu":
            raise _NotKept
        return (str(value.dtype), tuple(value.shape), value.stride(),
                contiguous_bytes(value.detach().contiguous()))
    if isinstance(value, (tuple, list)):
        return tuple(_value_key(item) for item in value)
    return value


def _inputs_key(args: tuple, options: dict):
    """The key of attention's inputs and options, or None where they are not kept (a GPU tensor, an unhashable
    argument)."""
    try:
        key = _value_key((args, tuple(sorted(options.items()))))
        hash(key)
    except (_NotKept, TypeError):
        return None
    return key


def _kept(key, compute):
    """compute()'s output, kept under key (the inputs' key and the choices) unless key is None."""
    output = None if key is None else _computed.get(key)
    if output is None:
        output = compute()
        if key is not None:
            if len(_computed) >= MAX_COMPUTED:
                _computed.clear()
            _computed[key] = output
    return output.clone()  # the caller's own: a later student gets the kept one untouched


def attention(*args, **kwargs):
    """Scaled dot-product attention over x: (..., T, d_in) -> (..., T, d_out), with the chosen variants."""
    inputs = _inputs_key(args, kwargs)
    return _kept(None if inputs is None else (inputs, ()), lambda: _attention(*args, **kwargs))


def _attention(x, w_query, w_key, w_value, b_query=None, b_key=None, b_value=None, out_proj=None, *,
               num_heads=1, causal=False, scale="correct", mask="correct", values="correct", heads="correct",
               out_proj_choice="correct", softmax="correct"):
    """out_proj is a (weight, bias) pair or None; causal=False ignores `mask`."""
    *batch, num_tokens, d_in = x.shape
    d_out = w_query.shape[0]
    head_dim = d_out // num_heads

    def project(weight, bias):
        y = x @ weight.T  # (..., T, d_out)
        return y if bias is None else y + bias

    queries, keys = project(w_query, b_query), project(w_key, b_key)
    values_by_choice = {"correct": lambda: project(w_value, b_value),
                        "wrong_value_projection:key": lambda: keys,
                        "wrong_value_projection:query": lambda: queries}
    vals = values_by_choice[values]()

    def split(y):
        if heads == "split_without_transpose":
            return y.reshape(*batch, num_heads, num_tokens, head_dim)  # (..., h, T, hd), scrambled
        return y.reshape(*batch, num_tokens, num_heads, head_dim).transpose(-3, -2)  # (..., h, T, hd)

    queries, keys, vals = split(queries), split(keys), split(vals)
    scores = queries @ keys.transpose(-2, -1)  # (..., h, T, T)
    if causal and mask != "mask_after_softmax":
        fill = 0.0 if mask == "mask_filled_with_zero" else -torch.inf
        scores = scores.masked_fill(_mask(num_tokens, mask).to(scores.device), fill)
    divisor = {"correct": head_dim ** 0.5, "unscaled_scores": 1.0, "scaled_by_dk": float(head_dim),
               "scaled_by_model_dim:d_out": d_out ** 0.5, "scaled_by_model_dim:d_in": d_in ** 0.5}[scale]
    dim = {"correct": -1, "softmax_wrong_dim": -2, "softmax_wrong_dim:heads": -3}[softmax]
    weights = torch.softmax(scores / divisor, dim=dim)  # (..., h, T, T)
    if causal and mask == "mask_after_softmax":
        weights = weights.masked_fill(_mask(num_tokens, mask).to(weights.device), 0.0)
    context = weights @ vals  # (..., h, T, hd)
    if heads == "merge_without_transpose":
        context = context.reshape(*batch, num_tokens, d_out)  # scrambled
    else:
        context = context.transpose(-3, -2).reshape(*batch, num_tokens, d_out)  # (..., T, d_out)
    if out_proj is not None and out_proj_choice == "correct":
        weight, bias = out_proj
        context = context @ weight.T + bias
    return context
