"""How reports read wherever a person looks at them: scores as the terminal prints them, counts with their noun,
and a concept's status in plain words."""
from grader.results import ConceptResult

NOT_WRITTEN = "not written yet"
PUBLIC_ONLY = "public checks only"  # beside a score from a student release, which lacks the hidden checks


def number(value: float) -> str:
    """A score in as few digits as it needs: 6, 4.5, 2.67 (scores are rounded to 2 decimals)."""
    return f"{round(value, 2):g}"


def fraction(score: float, maximum: float) -> str:
    """A score out of its maximum, compactly: 6/6, 4.5/6."""
    return f"{number(score)}/{number(maximum)}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """1 student, 2 students, 0 students."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def listed(items) -> str:
    """Items in a sentence: "a", "a and b", "a, b and c"."""
    items = [str(item) for item in items]
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def status_shown(concept: ConceptResult) -> str:
    """A concept's status as a student reads it: its own (passed, failed, error, timeout), or "not written yet"
    where none of its code is written (a stub is not an error)."""
    return NOT_WRITTEN if concept.not_written else concept.status
