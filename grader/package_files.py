"""The grader's own files (the package with both suites, without caches), as platforms ship them, and their hash,
which a batch's saved reports and a cluster's workers are checked against."""
import hashlib
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # grader/


def grader_files() -> list[tuple[str, bytes]]:
    """(path relative to the project, content) for every file of the grader package, in a fixed order."""
    files = []
    for path in sorted(PACKAGE_DIR.rglob("*")):
        relative = path.relative_to(PACKAGE_DIR.parent)
        if path.is_file() and not any(part == "__pycache__" or part.startswith(".") for part in relative.parts):
            files.append((relative.as_posix(), path.read_bytes()))
    return files


@cache
def grader_hash() -> str:
    """A hash of every grader file (code, catalogue, suites): what a saved report was made with."""
    digest = hashlib.sha256()
    for name, content in grader_files():
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()[:16]
