"""The data file of mutants whose lost points may fall outside their allowed concepts, each with its reason."""
import tomllib
from pathlib import Path

EXCEPTIONS_FILE = Path(__file__).with_name("exceptions.toml")


def load(path: Path = EXCEPTIONS_FILE) -> dict[str, str]:
    """Mutant id -> reason; a reason must be a non-empty string."""
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("exceptions", {})
    for mutant_id, reason in entries.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{path}: exception {mutant_id!r} needs a reason (a non-empty string)")
    return entries
