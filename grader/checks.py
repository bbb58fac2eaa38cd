"""What the suites use to judge a student's answer: markers, tolerant comparison, diagnosis.

Everything here runs in the trusted process, on tensors that came back from the worker as plain data.
"""
import functools
import itertools
import math
import re
from dataclasses import dataclass

import pytest
import torch

from grader import reference
from grader.feedback.wording import listed

VISIBILITIES = ("public", "hidden")
RTOL, ATOL = 1e-4, 1e-5  # float32, on CPU or on a GPU with TF32 off


def concept(concept_id: str, visibility: str):
    """Tag a test with the concept it grades and whether students may see it."""
    return pytest.mark.concept(concept_id, visibility=visibility)


class Diagnosis(AssertionError):
    """A failed check; `misconception` names the catalogued mistake it recognised, if any."""

    def __init__(self, message: str, misconception: str | None = None):
        super().__init__(message)
        self.misconception = misconception


class Unexplained(Diagnosis):
    """A module's output that no combination of catalogued choices explains: the check cannot tell which part
    of `definition` is wrong, so it is graded like an error of that definition, in its own concept (see
    grader.charging). `what` names the module first, as in "CausalAttention(x) on 3 tokens"."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.definition = what.split("(", 1)[0]


def misconception_of_error(error_type: str, where: str | None) -> str | None:
    """The catalogued mistake an error of the student's code shows by itself, if any: a shape error on a line
    that uses .T, which on a batched tensor reverses every dimension instead of swapping the last two."""
    code = (where or "").split(": ", 1)[-1]
    if error_type == "RuntimeError" and re.search(r"\.T\b", code):
        return "transpose_of_a_batch"
    return None


# Up to this many values, close() compares them one by one in Python: a judge compares one output with up to
# hundreds of references, most of which differ in their first value, and torch's dozen small operations per
# comparison cost more than that.
VALUE_BY_VALUE = 128


def close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same shape and values within float32 tolerance (NaN matches NaN); never for what is not a tensor.

    torch.isclose's test in float64 (both are converted), whichever way it is computed."""
    if not isinstance(actual, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return False
    if tuple(actual.shape) != tuple(expected.shape):
        return False
    if actual.numel() <= VALUE_BY_VALUE and actual.is_floating_point() and expected.is_floating_point():
        # A float32 value is a float64 one exactly, and Python's float arithmetic is float64's.
        return _each_close(actual.detach().cpu().reshape(-1).tolist(), expected.detach().cpu().reshape(-1).tolist())
    return torch.allclose(actual.detach().cpu().double(), expected.detach().cpu().double(),
                          rtol=RTOL, atol=ATOL, equal_nan=True)


def _each_close(actual: list[float], expected: list[float]) -> bool:
    """torch.isclose(actual, expected, RTOL, ATOL, equal_nan=True).all(), value by value, stopping at the first
    that differs: equal (infinities included), both NaN, or a finite error within atol + |rtol * expected|."""
    for a, b in zip(actual, expected):
        if a == b or (a != a and b != b):
            continue
        error = abs(a - b)
        if not (math.isfinite(error) and error <= ATOL + abs(b * RTOL)):
            return False
    return True


def shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def expect_tensor(value, shape, what: str, failure=Diagnosis) -> torch.Tensor:
    """Fail unless the student's value is a tensor of the given shape."""
    if not isinstance(value, torch.Tensor):
        raise failure(f"{what} returned {value!r}, expected a tensor of shape {shape_text(shape)}")
    if tuple(value.shape) != tuple(shape):
        raise failure(f"{what} returned shape {shape_text(value.shape)}, expected {shape_text(shape)}")
    return value


def expect_module_output(value, shape, what: str) -> torch.Tensor:
    """expect_tensor for a module's output, where anything else is the module's own mistake as a whole: `what`
    names the module first, as in "CausalAttention(x)" (see Unexplained)."""
    return expect_tensor(value, shape, what, lambda message: Unexplained(message, what))


def expect_close(actual, expected: torch.Tensor, what: str, wrong=()):
    """Fail unless actual matches expected; `wrong` holds (misconception id, output it would give) pairs."""
    if not isinstance(actual, torch.Tensor):
        expect_tensor(actual, expected.shape, what)
    if close(actual, expected):
        return
    for misconception, output in wrong:
        if close(actual, output):
            raise Diagnosis(f"{what} does not give the expected values", misconception)
    expect_tensor(actual, expected.shape, what)
    raise Diagnosis(observed_difference(actual, expected, what))


def observed_difference(actual: torch.Tensor, expected: torch.Tensor, what: str) -> str:
    """What differs, as behaviour a student can look for: NaN where there should be numbers, and which tokens'
    outputs (rows of the second-to-last dimension) are off, with the largest difference."""
    actual, expected = actual.detach().cpu().double(), expected.detach().cpu().double()
    if bool((actual.isnan() & ~expected.isnan()).any()):
        return f"{what} gives NaN where the expected output has numbers (a row that attends to nothing?)"
    off = ~torch.isclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
    largest = (actual - expected).abs().nan_to_num(float("inf"))[off].max().item()
    if actual.dim() < 2:
        return f"{what} gives other values than expected (largest difference {largest:.3g})"
    tokens = off.transpose(-2, 0).reshape(actual.shape[-2], -1).any(dim=-1).tolist()  # per row of (..., T, d)
    wrong = [i for i, bad in enumerate(tokens) if bad]
    if len(wrong) == len(tokens):
        return f"{what}: every token's output differs from the expected one (largest difference {largest:.3g})"
    right = [i for i, bad in enumerate(tokens) if not bad]
    return (f"{what}: the outputs of tokens {listed(right)} are as expected, those of tokens {listed(wrong)} "
            f"differ (largest difference {largest:.3g})")



def judge(actual, family: reference.Family, axis: str, what: str):
    """Judge one concept (`axis`, one of the family's axes) while adopting the student's choices on the others.

    Passes when `actual` matches the reference with the correct choice on `axis` and any catalogued choice
    on the others; otherwise fails naming the misconception on `axis` that the output matches, if any. An
    output that no combination explains is the module's as a whole (Unexplained): `what` names it first,
    as in "CausalAttention(x) on 3 tokens".
    """
    axes = family.axes
    others = [name for name in axes if name != axis]

    def matches(choice):
        return any(close(actual, family(**{axis: choice}, **combination))
                   for combination in fewest_mistakes_first(axes, axis))

    if not isinstance(actual, torch.Tensor):
        raise Unexplained(f"{what} returned {actual!r}, expected a tensor", what)
    expect_some_numbers(actual, what)
    actual = actual.detach().cpu().double()  # once, not once per comparison
    if matches(axes[axis][0]):
        return
    for choice in axes[axis][1:]:
        if matches(choice):
            raise Diagnosis(f"{what} does not give the expected values", reference.misconception_of(choice))
    expected = family(**{axis: axes[axis][0]}, **{name: axes[name][0] for name in others})
    expect_module_output(actual, expected.shape, what)
    raise Unexplained(observed_difference(actual, expected, what), what)


def expect_some_numbers(actual: torch.Tensor, what: str):
    """An output that is NaN everywhere matches every reference that is NaN somewhere: it explains nothing."""
    if actual.numel() and not bool(actual.isfinite().any()):
        raise Unexplained(f"{what} gives NaN or infinity everywhere: no token attends to anything", what)


def expect_explained(actual, family: reference.Family, what: str):
    """Fail as Unexplained unless some combination of catalogued choices gives `actual`: a check of one concept
    (dropout, say) first makes sure the rest of the module is something it can reason about."""
    if isinstance(actual, torch.Tensor):
        expect_some_numbers(actual, what)
    if not any(close(actual, family(**combination)) for combination in fewest_mistakes_first(family.axes, "")):
        expected = family()
        expect_module_output(actual, expected.shape, what)
        raise Unexplained(observed_difference(actual, expected, what), what)


def fewest_mistakes_first(axes: dict, axis: str) -> tuple[dict, ...]:
    """Every combination of choices on the axes other than `axis`: all correct first, then those with one
    catalogued mistake, then two, and so on. Whether an output matches one of them does not depend on the
    order, but a student with a mistake or two is matched after a few references instead of hundreds."""
    return _fewest_mistakes_first(tuple((name, choices) for name, choices in axes.items() if name != axis))


@functools.cache
def _fewest_mistakes_first(others: tuple) -> tuple[dict, ...]:
    names = [name for name, _ in others]
    positions = itertools.product(*(range(len(choices)) for _, choices in others))
    ordered = sorted(positions, key=lambda chosen: sum(position > 0 for position in chosen))  # stable
    return tuple({name: choices[position] for name, (_, choices), position in zip(names, others, chosen)}
                 for chosen in ordered)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed))


def weights_problem(load_result: dict) -> str:
    problems = [f"no {name}" for name in load_result["missing"]]
    problems += [f"{name} has shape {shape_text(shape)}, expected {shape_text(expected)}"
                 for name, (shape, expected) in load_result["mismatched"].items()]
    return "; ".join(problems)


@dataclass(frozen=True)
class Weights:
    """Known weights for an attention module, in nn.Linear layout (d_out, d_in)."""
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    biases: tuple | None = None  # (query, key, value) biases, when the module has qkv_bias=True
    out_proj: tuple | None = None  # (weight, bias) of MultiHeadAttention's output projection

    @classmethod
    def random(cls, d_in, d_out, seed, biases=False, out_proj=False):
        """Uniform weights in [-1, 1) from `seed`: drawn once per process (every student gets the same), each
        caller's tensors its own."""
        drawn = _random_weights(d_in, d_out, seed, biases, out_proj)
        return cls(drawn.query.clone(), drawn.key.clone(), drawn.value.clone(), biases=_clones(drawn.biases),
                   out_proj=_clones(drawn.out_proj))

    def family(self, x, axes: dict, device="cpu", **options) -> reference.Family:
        """The reference outputs for input x under each combination of the choices on `axes`, on `device`;
        options are attention's own (`causal`, `num_heads`)."""
        def on_device(values):
            return None if values is None else tuple(v.to(device) for v in values)

        biases = on_device(self.biases) or (None, None, None)
        args = (x.to(device), *on_device((self.query, self.key, self.value)), *biases, on_device(self.out_proj))
        return reference.current().family(args, options, axes)

    def reference(self, x, device="cpu", **options) -> torch.Tensor:
        """The reference output for input x with every choice correct."""
        return self.family(x, {}, device, **options)()


@functools.cache
def _random_weights(d_in, d_out, seed, biases, out_proj) -> Weights:
    g = generator(seed)

    def uniform(*shape):
        return torch.rand(*shape, generator=g) * 2 - 1

    return Weights(uniform(d_out, d_in), uniform(d_out, d_in), uniform(d_out, d_in),
                   biases=(uniform(d_out), uniform(d_out), uniform(d_out)) if biases else None,
                   out_proj=(uniform(d_out, d_out), uniform(d_out)) if out_proj else None)


def _clones(tensors: tuple | None) -> tuple | None:
    return None if tensors is None else tuple(t.clone() for t in tensors)
