"""Refuse, before grading starts, a torch and numpy that cannot work together.

Read from the installed packages' metadata, without importing either (the self-check imports torch while
its worker starts, and the batch's main process never imports it). torch before 2.3 was built against
numpy 1 and cannot use numpy 2: `.numpy()` raises "Numpy is not available" and importing torch warns.
"""
import re
from importlib import metadata

from grader.errors import UsageError

OLDEST_TORCH = (2, 2)
FIRST_TORCH_FOR_NUMPY_2 = (2, 3)


def _release(package: str) -> tuple[int, int] | None:
    try:
        found = re.match(r"(\d+)\.(\d+)", metadata.version(package))
    except metadata.PackageNotFoundError:
        return None
    return (int(found[1]), int(found[2])) if found else None


def problem(torch: tuple[int, int] | None, numpy: tuple[int, int] | None) -> str | None:
    """What is wrong with these (major, minor) versions, and what to install; None when they work."""
    if torch is None:
        return "torch is not installed: pip install torch (see the README's Quick start for the CPU build)"
    if torch < OLDEST_TORCH:
        return f"torch {torch[0]}.{torch[1]} is older than the 2.2 the grader needs: pip install 'torch>=2.2'"
    if numpy is not None and numpy >= (2, 0) and torch < FIRST_TORCH_FOR_NUMPY_2:
        return (f"torch {torch[0]}.{torch[1]} cannot use numpy {numpy[0]}.{numpy[1]}: "
                "pip install 'numpy<2' (or a torch of 2.3 or newer)")
    return None


def check():
    """Raise UsageError, with one line that says what to install, for versions that cannot work together."""
    found = problem(_release("torch"), _release("numpy"))
    if found:
        raise UsageError(found)
