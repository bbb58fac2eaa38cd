"""Turn test outcomes into per-concept results with feedback a student can act on, and judge a total against a bar."""
from dataclasses import dataclass

from grader.catalogue import Catalogue
from grader.errors import UsageError
from grader.feedback.wording import listed
from grader.results import ConceptResult, TestOutcome

MAX_MESSAGES = 4


def concept_feedback(catalogue: Catalogue, concept_id: str, tests: list[TestOutcome]) -> tuple[str, ...]:
    """Recognised misconceptions first, then what the failing tests said, then a generic hint if needed."""
    failing = [t for t in tests if t.status not in ("passed", "skipped")]
    if not failing:
        if not tests or any(t.status != "skipped" for t in tests):
            return ()
        # Nothing it is judged on could run: each definition is missing, unwritten or raised an error.
        names = listed(catalogue.concept(concept_id).definitions)
        if all(t.not_implemented for t in tests):
            return (f"not implemented yet: it is judged on {names}, and none of them is written yet",)
        return (f"not graded: it is judged on {names}, and none of them ran", *dict.fromkeys(t.message for t in tests))
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


@dataclass(frozen=True)
class Threshold:
    """A bar for a total: points, or a share of the maximum (`--fail-under 60` or `--fail-under 80%`)."""
    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> "Threshold":
        number = text.strip().removesuffix("%")
        try:
            value = float(number)
        except ValueError:
            raise UsageError(f"--fail-under takes points (60) or a percentage (80%), not {text!r}") from None
        percent = text.strip().endswith("%")
        if not 0 <= value <= (100 if percent else float("inf")) or value != value:
            raise UsageError(f"--fail-under must be between 0 and {'100%' if percent else 'the maximum'}, not {text}")
        return cls(value, percent)

    def points(self, max_score: float) -> float:
        return max_score * self.value / 100 if self.percent else self.value

    def met_by(self, score: float, max_score: float) -> bool:
        return score >= self.points(max_score) - 1e-9  # scores are rounded to 2 decimals
