"""Turn test outcomes into per-concept results with feedback a student can act on."""
from grader.catalogue import Catalogue
from grader.results import ConceptResult, TestOutcome

MAX_MESSAGES = 4


def concept_feedback(catalogue: Catalogue, concept_id: str, tests: list[TestOutcome]) -> tuple[str, ...]:
    """Recognised misconceptions first, then what the failing tests said, then a generic hint if needed."""
    failing = [t for t in tests if t.status not in ("passed", "skipped")]
    if not failing:
        return ()
    if all(t.not_implemented for t in failing):
        return (failing[0].message or "not implemented yet",)
    feedback = [catalogue.misconceptions[m].feedback for m in dict.fromkeys(t.misconception for t in failing)
                if m in catalogue.misconceptions]
    # A recognised misconception explains its tests; only the other failures need their own message.
    messages = list(dict.fromkeys(t.message for t in failing if t.message and not t.misconception))
    feedback += messages[:MAX_MESSAGES]
    if not any(t.misconception for t in failing):
        feedback.append("Hint: " + catalogue.concept(concept_id).hint)
    return tuple(feedback)


def score(catalogue: Catalogue, outcomes: list[TestOutcome], concept_ids: tuple[str, ...]) -> tuple[ConceptResult, ...]:
    """One result per concept, in catalogue order."""
    results = []
    for concept_id in concept_ids:
        tests = [t for t in outcomes if t.concept == concept_id]
        titles = tuple((m, catalogue.misconceptions[m].title) for m in dict.fromkeys(t.misconception for t in tests)
                       if m in catalogue.misconceptions)
        results.append(ConceptResult(catalogue.concept(concept_id), tuple(tests),
                                     concept_feedback(catalogue, concept_id, tests), titles))
    return tuple(results)


def unrunnable(catalogue: Catalogue, concept_ids: tuple[str, ...], reason: str) -> tuple[ConceptResult, ...]:
    """Every concept at zero with the reason, for a submission that cannot run at all."""
    return tuple(ConceptResult(catalogue.concept(cid),
                               (TestOutcome(nodeid=f"submission::{cid}", concept=cid, visibility="public",
                                            status="error", message=reason),),
                               (reason,))
                 for cid in concept_ids)
