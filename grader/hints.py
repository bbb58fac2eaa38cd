"""The hint ladder: for each concept two or three hints, from the idea to what to inspect to the operation to
use, one more each time the student asks. The level reached is kept in a small file beside the submission
(a notebook's kernel cannot rewrite its own notebook); where that file travels with the submission, the report
shows the levels to the instructor. It never changes a grade."""
import json
import os
from dataclasses import dataclass
from pathlib import Path

from grader.catalogue import Catalogue
from grader.errors import UsageError

HINTS_FILE = ".attention-hints.json"


@dataclass(frozen=True)
class Hint:
    concept: str
    level: int  # 1 for the first hint
    levels: int  # how many the ladder has
    text: str

    def shown(self, ask_again: str) -> str:
        """The hint as a student reads it; `ask_again` is how to ask for the next one where they are."""
        more = f"{ask_again} again for the next one" if self.level < self.levels else "that was the last one"
        return f"Hint {self.level} of {self.levels} for {self.concept}: {self.text}\n({more})"


def hints_folder(submission: Path) -> Path:
    """Where a submission's hint levels are kept: in its folder, or beside its file."""
    return submission if submission.is_dir() else submission.parent


def levels_taken(folder: Path) -> dict[str, int]:
    """The hint level reached per concept in this folder; {} where there is none (or it is not ours)."""
    try:
        levels = json.loads((folder / HINTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(levels, dict):
        return {}
    return {str(k): v for k, v in levels.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}


def next_hint(catalogue: Catalogue, concept_id: str, folder: Path) -> Hint:
    """The next hint of the concept's ladder (the last one again once all were given), recorded in folder."""
    if concept_id not in catalogue.concept_ids:
        raise UsageError(f"unknown concept {concept_id!r}; choose from {', '.join(catalogue.concept_ids)}")
    ladder = catalogue.concept(concept_id).ladder
    levels = levels_taken(folder)
    level = min(levels.get(concept_id, 0) + 1, len(ladder))
    levels[concept_id] = level
    path = folder / HINTS_FILE
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_text(json.dumps(levels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise UsageError(f"cannot record the hint level in {path}: {exc.strerror}") from None
    return Hint(concept_id, level, len(ladder), ladder[level - 1])
