"""A reference implementation of attention with switches for the catalogued misconceptions.

Tests use it to judge one concept while adopting the student's choices for the others: a student who never
scales the scores should lose `scaled_dot_product` only, so the causal-mask tests accept the unscaled variant
of the reference and only the mask is held to the correct behaviour. Weights are in nn.Linear layout
(d_out, d_in); SelfAttention_v1's (d_in, d_out) matrices are passed transposed.
"""
import contextlib
import hashlib

import torch

from grader.wire import contiguous_bytes

_recording = None  # while a student release is built: call key -> output of every reference call
# Outputs already computed in this process, by their inputs' values: a batch's tests give every student the
# same inputs. Bounded, since some inputs are a student's own (weights read back from their module).
_computed: dict = {}
MAX_COMPUTED = 20_000


# The choices a student makes, per axis: the first value is the correct one, the others name misconceptions
# (an optional ":detail" tells apart two forms of the same misconception).
SCALE = ("correct", "unscaled_scores", "scaled_by_dk", "scaled_by_model_dim:d_out", "scaled_by_model_dim:d_in")
MASK = ("correct", "mask_includes_diagonal", "mask_wrong_triangle", "mask_filled_with_zero", "mask_after_softmax")
VALUES = ("correct", "wrong_value_projection:key", "wrong_value_projection:query")
HEADS = ("correct", "split_without_transpose", "merge_without_transpose")
OUT_PROJ = ("correct", "missing_out_proj")
SOFTMAX = ("correct", "softmax_wrong_dim")  # over the queries (dim=-2) instead of the keys


def misconception_of(choice: str) -> str | None:
    return None if choice == "correct" else choice.split(":")[0]


def _mask(num_tokens, choice):
    ones = torch.ones(num_tokens, num_tokens, dtype=torch.bool)
    return {
        "correct": ones.triu(1),
        "mask_filled_with_zero": ones.triu(1),
        "mask_after_softmax": ones.triu(1),
        "mask_includes_diagonal": ones.triu(0),
        "mask_wrong_triangle": ones.tril(-1),
    }[choice]


def call_key(args, kwargs) -> str:
    """A stable name for one reference call: its tensors' dtypes, shapes and bytes, and its other arguments."""
    digest = hashlib.sha256()

    def add(value):
        if isinstance(value, torch.Tensor):
            flat = value.detach().to("cpu", torch.float64).contiguous()
            digest.update(f"T{tuple(flat.shape)}".encode() + contiguous_bytes(flat))
        elif isinstance(value, (tuple, list)):
            digest.update(b"(")
            for item in value:
                add(item)
            digest.update(b")")
        else:
            digest.update(repr(value).encode())

    add(tuple(args))
    add(tuple(sorted((k, v) for k, v in kwargs.items() if k != "device")))
    return digest.hexdigest()


@contextlib.contextmanager
def recording(table: dict):
    """Record every reference call's output into table (for the student release's stored outputs)."""
    global _recording
    _recording = table
    try:
        yield
    finally:
        _recording = None


def is_recording() -> bool:
    return _recording is not None


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


def attention(*args, **kwargs):
    """Scaled dot-product attention over x: (..., T, d_in) -> (..., T, d_out), with the chosen variants."""
    try:
        key = _value_key((args, tuple(sorted(kwargs.items()))))
        output = _computed.get(key)
    except (_NotKept, TypeError):  # a GPU tensor, an unhashable argument
        key = output = None
    if output is None:
        output = _attention(*args, **kwargs)
        if key is not None:
            if len(_computed) >= MAX_COMPUTED:
                _computed.clear()
            _computed[key] = output
    output = output.clone()  # the caller's own: a later student gets the stored one untouched
    if _recording is not None:
        _recording[call_key(args, kwargs)] = output.detach().cpu().clone()
    return output


def _attention(x, w_query, w_key, w_value, b_query=None, b_key=None, b_value=None, *, num_heads=1,
              out_proj=None, causal=False, scale="correct", mask="correct", values="correct", heads="correct",
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
    weights = torch.softmax(scores / divisor, dim=-1 if softmax == "correct" else -2)  # (..., h, T, T)
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
