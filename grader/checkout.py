"""The project's files beside the grader package (solutions/, exercises/, pyproject.toml), which only a
checkout has: a wheel or `pip install .` installs the package alone. Commands that build from them ask here."""
from pathlib import Path

from grader.errors import UsageError

PROJECT_DIR = Path(__file__).resolve().parent.parent


def require_checkout(command: str, *needed: str) -> None:
    """Raise a one-line UsageError where any of `needed` is not beside the grader package."""
    if not all((PROJECT_DIR / name).exists() for name in needed):
        raise UsageError(f"python -m grader {command} needs a checkout of the project (its {' and '.join(needed)}, "
                         "which an installed package does not have); run it from a clone")
