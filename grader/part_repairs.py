"""Replace one part of a student's class by a correct one, in the worker, to find which part a failure is in.

When a class raises, or computes what no catalogued mistake explains, the trusted side runs the check again
with one part repaired (grader.charging, grader.plugin); if the check then passes, the failure is that part's
concept's, not the class's as a whole. The parts, named by `part` in catalogue.toml:

- "mask": the causal mask and its application. Every `masked_fill` the class's forward calls (in the student's
  file) hides the scores above the diagonal with -inf, whatever mask and value it was given, and the module
  gets a correct `mask` buffer for its context length (a forward that reads `self.mask` must find one).
- "dropout": the module's `dropout` attribute is an nn.Dropout with the constructor's probability.

A repair patches the class itself, so that modules the student's code builds (a wrapper's heads) get it too,
until it is undone. Arguments are read by the book's names (`context_length`, `dropout`), else by position
(d_in, d_out, context_length, dropout, ...).
"""
import functools
import inspect
import sys

import torch
from torch import nn

ARGUMENT_POSITIONS = {"context_length": 2, "dropout": 3}  # after self, in the book's signatures
_patched = {}  # class -> {attribute: its own value before the repair, or None where it inherited one}


def repair(cls: type, part: str | None):
    """Repair `part` of `cls` (undoing any earlier repair first); None only undoes."""
    undo()
    if part is None:
        return
    if part not in REPAIRS:
        raise ValueError(f"unknown part {part!r}")
    after_init, around_forward = REPAIRS[part]
    _patch(cls, "__init__", _after(cls.__init__, after_init))
    if around_forward is not None:
        _patch(cls, "forward", around_forward(cls.forward))


def undo():
    for cls, saved in _patched.items():
        for name, value in saved.items():
            if value is None:
                delattr(cls, name)
            else:
                setattr(cls, name, value)
    _patched.clear()


def _patch(cls, name, value):
    _patched.setdefault(cls, {})[name] = cls.__dict__.get(name)
    setattr(cls, name, value)


def _after(init, fix):
    @functools.wraps(init)
    def repaired_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        fix(self, _argument(init, args, kwargs, "context_length"), _argument(init, args, kwargs, "dropout"))
    return repaired_init


def _argument(init, args, kwargs, name):
    try:
        bound = inspect.signature(init).bind(None, *args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {}
    if name in bound:
        return bound[name]
    position = ARGUMENT_POSITIONS[name]
    return args[position] if len(args) > position else None


# --- the mask ------------------------------------------------------------------------------

def _correct_mask_buffer(module, context_length, dropout):
    if isinstance(context_length, bool) or not isinstance(context_length, int) or context_length < 1:
        return
    for table in (module._buffers, module._parameters, module._modules, module.__dict__):
        table.pop("mask", None)
    device = next((t.device for t in module.parameters()), None)
    module.register_buffer("mask", torch.triu(torch.ones(context_length, context_length, device=device), diagonal=1))


def _causal(scores: torch.Tensor) -> torch.Tensor:
    rows, columns = scores.shape[-2:]  # (..., T_query, T_key)
    return torch.ones(rows, columns, dtype=torch.bool, device=scores.device).triu(1)


def _with_causal_masking(forward):
    student_file = getattr(getattr(forward, "__code__", None), "co_filename", None)
    originals = {"masked_fill": torch.Tensor.masked_fill, "masked_fill_": torch.Tensor.masked_fill_}

    def causal(name):
        original = originals[name]

        def fill(scores, *args, **kwargs):
            # Only the student's own calls: torch's Python kernels (the meta device's) call masked_fill too.
            if sys._getframe(1).f_code.co_filename != student_file:
                return original(scores, *args, **kwargs)
            return original(scores, _causal(scores), -torch.inf)
        return fill

    @functools.wraps(forward)
    def repaired_forward(self, *args, **kwargs):
        saved = (torch.Tensor.masked_fill, torch.Tensor.masked_fill_, torch.masked_fill)
        torch.Tensor.masked_fill = torch.masked_fill = causal("masked_fill")
        torch.Tensor.masked_fill_ = causal("masked_fill_")
        try:
            return forward(self, *args, **kwargs)
        finally:
            torch.Tensor.masked_fill, torch.Tensor.masked_fill_, torch.masked_fill = saved
    return repaired_forward


# --- dropout -------------------------------------------------------------------------------

def _correct_dropout(module, context_length, dropout):
    if isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout <= 1:
        module.dropout = nn.Dropout(float(dropout))


REPAIRS = {  # part -> (what to fix once the module is built, how to wrap its forward)
    "mask": (_correct_mask_buffer, _with_causal_masking),
    "dropout": (_correct_dropout, None),
}
