"""Where a failed check is charged: each mistake once, in the concept whose code holds it.

A check of one concept often runs a definition that another concept owns (the causal-mask checks run
MultiHeadAttention too). When that definition is the trouble, the check does not count for its own concept:

- a definition that is missing or still its stub costs every concept that `needs` it (the registry), and is
  not counted elsewhere;
- an error raised in a definition, or an output of it that no catalogued choice explains (checks.Unexplained),
  is the definition's own: it counts in a concept that owns a definition of its traceback, and elsewhere once,
  moved to the owner of the deepest (the first concept in the registry that needs it), then not again;
- a layout the grader cannot recognise (layouts.LayoutUnknown) fails in its owner only.
"""
from dataclasses import dataclass, field

from grader.catalogue import registry


def not_counted_message(definition: str, unwritten: bool) -> str:
    """Why a check is not counted: a definition it calls, one its concept can be judged without, is not written
    yet, or failed as a whole and was charged to its own concept."""
    if unwritten:
        problem = "is not written yet"
    else:
        problem = (f"raised an error or gave an output no catalogued mistake explains (charged once, to "
                   f"{registry().first_needing(definition)})")
    return f"{definition} {problem}: the checks of other concepts that call it are not counted"


def counted_in(concept: str, chain: tuple[str, ...], unwritten: bool) -> bool:
    """Whether a failure in the definitions `chain` (deepest first) counts in a check of `concept`."""
    if unwritten:
        return not registry().judged_without(concept, chain[0])
    return any(registry().first_needing(definition) == concept for definition in chain)


@dataclass
class Charges:
    """One student's charges: which definitions have already been charged to their own concept."""
    graded: tuple[str, ...]  # the concepts this grading reports
    charged: set[str] = field(default_factory=set)

    def verdict(self, concept: str, exc: BaseException, classified: dict) -> dict:
        """The verdict of a check of `concept` that raised `exc`, which plugin.classify made `classified`:
        as it is, skipped (not counted), or moved to another concept (its "concept" key)."""
        owner = getattr(exc, "owner", None)  # see grader.layouts.LayoutUnknown
        if owner is not None and owner != concept:
            return {"status": "skipped", "message": str(exc)}
        definition = getattr(exc, "definition", None)  # see proxy.StudentError, checks.Unexplained
        if definition is None:
            return classified
        unwritten = bool(getattr(exc, "not_implemented", False))
        if counted_in(concept, getattr(exc, "chain", (definition,)), unwritten):
            return classified
        if unwritten:
            return {"status": "skipped", "message": not_counted_message(definition, True), "not_implemented": True}
        owner = registry().first_needing(definition)
        if owner not in self.graded:
            return classified  # its own concept is not graded here: the failure counts where it arose
        if definition in self.charged:
            return {"status": "skipped", "message": not_counted_message(definition, False)}
        # The first such failure moves to the definition's own concept: it may be the only check that runs that
        # code (dropout in training mode, say), and a failure must never go uncounted.
        self.charged.add(definition)
        return {**classified, "concept": owner}
