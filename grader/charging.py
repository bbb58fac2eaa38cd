"""Where a failed check is charged: each mistake once, in the concept whose code holds it.

A check of one concept often runs a definition that another concept owns (the causal-mask checks run
MultiHeadAttention too). When that definition is the trouble, the check does not count for its own concept:

- a definition that is missing or still its stub costs every concept that `needs` it (the registry), and is
  not counted elsewhere;
- an error raised in a class, or an output of it that no catalogued choice explains, that goes away when one
  concept's part of the class (its `part` in the registry: the mask, the dropout) is replaced by a correct
  one (grader.part_repairs) is that concept's: it counts there, and elsewhere once, moved there; other checks
  that meet it then pass, as they did with the part repaired;
- any other error raised in a definition, or an output of it that no catalogued choice explains
  (checks.Unexplained), is the definition's own: it counts in a concept that owns a definition of its
  traceback, and elsewhere once, moved to the owner of the deepest (the first concept in the registry that
  needs it), then not again;
- a layout the grader cannot recognise (layouts.LayoutUnknown) fails in its owner only.
"""
from dataclasses import dataclass, field

from grader.catalogue import registry


def not_counted_message(definition: str, unwritten: bool, owner: str | None = None) -> str:
    """Why a check is not counted: a definition it calls, one its concept can be judged without, is not written
    yet, or failed (as a whole, or in another concept's part of it) and was charged once to `owner`."""
    if unwritten:
        return f"{definition} is not written yet: the checks of other concepts that call it are not counted"
    return (f"{definition} raised an error or gave an output no catalogued mistake explains (charged once, to "
            f"{owner or registry().first_needing(definition)}): the other checks that meet it are not counted")


def counted_in(concept: str, chain: tuple[str, ...], unwritten: bool) -> bool:
    """Whether a failure in the definitions `chain` (deepest first) counts in a check of `concept`."""
    if unwritten:
        return not registry().judged_without(concept, chain[0])
    return any(registry().first_needing(definition) == concept for definition in chain)


def repaired_definition(exc: BaseException) -> str | None:
    """The class whose parts could explain `exc`: its `repairable` (a wrapper's head, see probes.heads_output),
    else the definition it failed in as a whole (proxy.StudentError, checks.Unexplained)."""
    return getattr(exc, "repairable", None) or getattr(exc, "definition", None)


def repairable(exc: BaseException, graded) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """(definition, its (concept, part) pairs among the `graded` concepts) when `exc` is a failure of a class as
    a whole (an error it raised, or checks.Unexplained) that a repaired part might explain; else None."""
    definition = repaired_definition(exc)
    if definition is None or getattr(exc, "not_implemented", False) or getattr(exc, "owner", None) is not None:
        return None
    parts = tuple((concept, part) for concept, part in registry().parts_of(definition) if concept in graded)
    return (definition, parts) if parts else None


@dataclass
class Charges:
    """One student's charges: which failing definitions have already been charged, and to which concept."""
    graded: tuple[str, ...]  # the concepts this grading reports
    charged: set[tuple[str, str]] = field(default_factory=set)  # (definition, the concept it was charged to)

    def verdict(self, concept: str, exc: BaseException, classified: dict, part_of: str | None = None) -> dict:
        """The verdict of a check of `concept` that raised `exc`, which plugin.classify made `classified`:
        as it is, skipped (not counted), or moved to another concept (its "concept" key). `part_of` is the
        concept whose part of the failing class, repaired, made the check pass (see repairable)."""
        owner = getattr(exc, "owner", None)  # see grader.layouts.LayoutUnknown
        if owner is not None and owner != concept:
            return {"status": "skipped", "message": str(exc)}
        if part_of in self.graded:
            definition = repaired_definition(exc)
            if concept != part_of and (definition, part_of) in self.charged:
                return {"status": "passed"}  # it passed with the other concept's part repaired: its own is right
            return self._charged_once(concept, classified, definition, part_of)
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
        return self._charged_once(concept, classified, definition, owner)

    def _charged_once(self, concept: str, classified: dict, definition: str, owner: str) -> dict:
        """The verdict of a check of `concept` meeting a failure of `definition` that is `owner`'s: counted in
        `owner`'s checks; elsewhere moved to `owner` the first time, then not counted."""
        if concept == owner:
            return classified
        if (definition, owner) in self.charged:
            return {"status": "skipped", "message": not_counted_message(definition, False, owner)}
        # The first such failure moves to its concept: that may be the only check that runs the code (dropout in
        # training mode, say), and a failure must never go uncounted.
        self.charged.add((definition, owner))
        return {**classified, "concept": owner}
