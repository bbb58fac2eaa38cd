"""What the suites compare a student's attention with: the reference's outputs under the catalogued choices.

Tests judge one concept while adopting the student's choices for the others: a student who never scales the
scores should lose `scaled_dot_product` only, so the causal-mask tests accept the unscaled variant of the
reference and only the mask is held to the correct behaviour. A test asks the one Reference object for a
Family: attention over one input under every combination of the choices on some axes. The instructors'
grader computes them (grader/live_reference.py); a student release, which has no reference implementation,
reads them from outputs stored when it was built (grader/stored_reference.py).
"""
import contextlib
import functools
import importlib.util
import itertools
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch

# The choices a student makes, per axis: the first value is the correct one, the others name misconceptions
# (an optional ":detail" tells apart two forms of the same misconception).
SCALE = ("correct", "unscaled_scores", "scaled_by_dk", "scaled_by_model_dim:d_out", "scaled_by_model_dim:d_in")
MASK = ("correct", "mask_includes_diagonal", "mask_wrong_triangle", "mask_filled_with_zero", "mask_after_softmax",
        "mask_not_applied")
VALUES = ("correct", "wrong_value_projection:key", "wrong_value_projection:query")
HEADS = ("correct", "split_without_transpose", "merge_without_transpose")
OUT_PROJ = ("correct", "missing_out_proj")
SOFTMAX = ("correct", "softmax_wrong_dim")  # over the queries (dim=-2) instead of the keys
MULTIHEAD_SOFTMAX = (*SOFTMAX, "softmax_wrong_dim:heads")  # also over the heads (dim=1 of (b, h, T, T) scores)
# With one head d_k is d_out, so scaling by the model width is the correct choice there.
SINGLE_HEAD_SCALE = tuple(s for s in SCALE if s != "scaled_by_model_dim:d_out")

# Every choice a test of a module adopts from the student, whichever axis it judges.
SELF_ATTENTION_AXES = {"values": VALUES, "scale": SINGLE_HEAD_SCALE, "softmax": SOFTMAX}  # SelfAttention_v1 and v2
CAUSAL_AXES = {"mask": MASK, "scale": SINGLE_HEAD_SCALE, "softmax": SOFTMAX}
MULTIHEAD_AXES = {"scale": SCALE, "mask": MASK, "heads": HEADS, "out_proj_choice": OUT_PROJ, "softmax": MULTIHEAD_SOFTMAX}

STORED_OUTPUTS = Path(__file__).with_name("reference_outputs.pt")  # in a student release
LIVE_MODULE = "grader.live_reference"  # the implementation, which a student release leaves out


def misconception_of(choice: str) -> str | None:
    return None if choice == "correct" else choice.split(":")[0]


@dataclass(frozen=True)
class Family:
    """The reference outputs for one input under each combination of the choices on `axes` (axis -> its
    choices, the correct one first). An axis a call leaves out takes its correct choice."""
    axes: dict
    output: Callable[[tuple], torch.Tensor]  # one choice per axis, in the axes' order -> the output

    def __call__(self, **choices) -> torch.Tensor:
        wrong = [f"{axis}={choice!r}" for axis, choice in choices.items() if choice not in self.axes.get(axis, ())]
        if wrong:
            raise ValueError(f"not a choice on this family's axes ({', '.join(self.axes)}): {', '.join(wrong)}")
        return self.output(tuple(choices.get(axis, options[0]) for axis, options in self.axes.items()))

    def combinations(self) -> list[tuple]:
        """Every combination of choices, all correct first (itertools.product's order)."""
        return list(itertools.product(*self.axes.values()))

    def outputs(self) -> list[torch.Tensor]:
        """Every combination's output, in combinations()' order."""
        return [self.output(combination) for combination in self.combinations()]


def position(axes: dict, combination: tuple) -> int:
    """Where a combination of choices (one per axis, in the axes' order) comes in Family.combinations()."""
    index = 0
    for choice, options in zip(combination, axes.values()):
        index = index * len(options) + options.index(choice)
    return index


class Reference(Protocol):
    def family(self, args: tuple, options: dict, axes: dict) -> Family:
        """attention(*args, **options) under each combination of the choices on `axes`.

        args: x (..., T, d_in), the query, key and value weights in nn.Linear layout (d_out, d_in), their biases
        (or None) and out_proj's (weight, bias) (or None); options: `causal` and `num_heads`.
        """


@functools.cache
def _packaged() -> Reference:
    """What this copy of the grader holds: the implementation, or a student release's stored outputs."""
    if importlib.util.find_spec(LIVE_MODULE) is None:
        from grader.stored_reference import StoredReference
        return StoredReference(STORED_OUTPUTS)
    from grader.live_reference import LiveReference
    return LiveReference()


_serving: ContextVar[Reference | None] = ContextVar("serving", default=None)


def current() -> Reference:
    """The Reference the suites ask: the packaged one, unless a caller of `serving` put another in its place."""
    return _serving.get() or _packaged()


@contextlib.contextmanager
def serving(reference: Reference):
    """Have the suites ask `reference` within the block (a release's recorder, while it grades the solution)."""
    token = _serving.set(reference)
    try:
        yield reference
    finally:
        _serving.reset(token)
