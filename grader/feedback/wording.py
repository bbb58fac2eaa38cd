"""How numbers read in every report a person looks at: scores as the terminal prints them, counts with their noun."""


def number(value: float) -> str:
    """A score as few digits as it needs: 6, 4.5, 2.67 (scores are rounded to 2 decimals)."""
    return f"{round(value, 2):g}"


def fraction(score: float, maximum: float) -> str:
    """A score out of its maximum, compactly: 6/6, 4.5/6."""
    return f"{number(score)}/{number(maximum)}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """1 student, 2 students (0 students)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
