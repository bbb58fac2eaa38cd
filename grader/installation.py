"""Check the installed torch and numpy before grading starts: refuse a pair that cannot work together, and
warn about a torch outside the range this project is tested with.

Read from the installed packages' metadata, without importing either (the self-check imports torch while
its worker starts, and the batch's main process never imports it). torch before 2.3 was built against
numpy 1 and cannot use numpy 2: `.numpy()` raises "Numpy is not available" and importing torch warns.
Any other torch is graded, in range or not: a course cannot choose the torch of Colab or of a student's laptop.
"""
import re
from importlib import metadata

from grader.errors import UsageError

OLDEST_TORCH = (2, 2)
NEWEST_TORCH = (2, 14)  # the newest release the project's tests have passed with (see the README)
TORCH_REQUIREMENT = f"torch>={OLDEST_TORCH[0]}.{OLDEST_TORCH[1]},<{NEWEST_TORCH[0]}.{NEWEST_TORCH[1] + 1}"
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
        return ("torch is not installed: install it as https://pytorch.org/get-started/locally/ says (its "
                "CPU-only wheel is far smaller than the default Linux one, which bundles CUDA)")
    if numpy is not None and numpy >= (2, 0) and torch < FIRST_TORCH_FOR_NUMPY_2:
        return (f"torch {torch[0]}.{torch[1]} cannot use numpy {numpy[0]}.{numpy[1]}: "
                "pip install 'numpy<2' (or a torch of 2.3 or newer)")
    return None


def warning(torch: tuple[int, int]) -> str | None:
    """One line for a torch outside the tested range; None inside it."""
    if OLDEST_TORCH <= torch <= NEWEST_TORCH:
        return None
    return (f"warning: torch {torch[0]}.{torch[1]} is outside the versions this grader is tested with "
            f"({TORCH_REQUIREMENT}); grades may differ: pip install '{TORCH_REQUIREMENT}'")


def check() -> str | None:
    """Raise UsageError, with one line that says what to install, for versions that cannot work together;
    return the warning for a torch outside the tested range (None inside it), for the caller to show."""
    torch = _release("torch")
    found = problem(torch, _release("numpy"))
    if found:
        raise UsageError(found)
    return warning(torch)
