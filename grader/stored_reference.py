"""A student release's reference: the families of outputs its public checks ask for, recorded while the release
is built, and found again by their inputs.

The checks draw their inputs with fixed seeds, but not to the same bits on every machine: torch's vectorised
CPU kernels (AVX2, AVX-512) and its plain ones (and arm64's) round `torch.randn` differently in the last
bits. So a stored family is not looked up by its inputs' bytes: among those recorded with the same options,
axes and shapes, it is the one whose inputs are closest, and no further apart than the checks' tolerance.
The release ships these inputs and outputs only, nothing that computes attention.
"""
import functools
from pathlib import Path

import torch

from grader.checks import close
from grader.reference import Family, Reference, position


def _tensors(args: tuple) -> list:
    """attention's tensor arguments in one list (out_proj's pair as two), None for each one left out."""
    flat = []
    for arg in args:
        flat.extend(arg if isinstance(arg, tuple) else (arg,))
    return flat


def _axes_key(axes: dict) -> tuple:
    return tuple((axis, tuple(choices)) for axis, choices in axes.items())


def _distance(stored: list, asked: list) -> float | None:
    """How far apart two inputs are (their largest difference); None unless they have the same tensors in the
    same shapes and dtypes, each within the checks' tolerance of the other."""
    if len(stored) != len(asked):
        return None
    largest = 0.0
    for kept, given in zip(stored, asked):
        if kept is None or given is None:
            if kept is not given:
                return None
            continue
        if kept.dtype != given.dtype or not close(given, kept):
            return None
        difference = (given.detach().cpu().double() - kept.double()).nan_to_num(0.0).abs()
        largest = max(largest, difference.max().item() if difference.numel() else 0.0)
    return largest


def _closest(families: list[dict], asked: list, options: dict, axes: dict) -> tuple[float, dict] | None:
    """The recorded family for these inputs, options and axes, with its distance; None if there is none."""
    found = []
    for family in families:
        if family["options"] == options and family["axes"] == _axes_key(axes):
            distance = _distance(family["inputs"], asked)
            if distance is not None:
                found.append((distance, family))
    return min(found, key=lambda pair: pair[0], default=None)


class Recorder:
    """Asks `reference` for every family the suites want, keeping all of each family's outputs for a release."""

    def __init__(self, reference: Reference):
        self.reference = reference
        self.families: list[dict] = []

    def family(self, args: tuple, options: dict, axes: dict) -> Family:
        family = self.reference.family(args, options, axes)
        asked = _tensors(args)
        kept = _closest(self.families, asked, options, axes)
        if kept is None or kept[0] > 0:  # the same inputs again (another test, another student): kept once
            self.families.append({
                "inputs": [None if t is None else t.detach().cpu().clone() for t in asked],
                "options": dict(options), "axes": _axes_key(axes),
                "outputs": torch.stack([output.detach().cpu() for output in family.outputs()])})  # (combinations, ...)
        return family

    def save(self, path: Path):
        torch.save({"torch": str(torch.__version__), "families": self.families}, path)


class StoredReference:
    """The outputs a release recorded, read when a check first asks for one."""

    def __init__(self, path: Path):
        self.path = path

    @functools.cached_property
    def stored(self) -> dict:
        return torch.load(self.path, weights_only=True)

    def family(self, args: tuple, options: dict, axes: dict) -> Family:
        found = _closest(self.stored["families"], _tensors(args), options, axes)
        if found is None:
            raise LookupError(self._not_found())
        outputs, device = found[1]["outputs"], args[0].device

        def output(combination):
            return outputs[position(axes, combination)].to(device, copy=True)  # the caller's own
        return Family(axes, output)

    def _not_found(self) -> str:
        made_with = self.stored["torch"]
        if made_with != torch.__version__:
            return (f"no stored reference output for this check's inputs: the release was made with torch {made_with}, "
                    f"and torch {torch.__version__} draws other random inputs")
        return "no stored reference output for this check's inputs: the release did not record them"
