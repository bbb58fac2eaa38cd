"""The concepts a submission is graded on, their points, and the misconceptions the grader can name.

Two files an instructor can edit: `catalogue.toml` (titles, hints, misconception feedback) and an assignment
file (default `assignment.toml`; another one with --config) that picks the concepts and their points.
"""
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from grader.errors import GraderError, UsageError

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
ASSIGNMENT_FILE = Path(__file__).with_name("assignment.toml")


@dataclass(frozen=True)
class Concept:
    id: str
    title: str
    points: float
    hint: str  # what to check when a mistake is not one the catalogue recognises


@dataclass(frozen=True)
class Misconception:
    id: str
    concept: str
    feedback: str


@dataclass(frozen=True)
class Catalogue:
    """The concepts of one assignment, in the chapter's order, and every known misconception."""
    concepts: tuple[Concept, ...]
    misconceptions: dict[str, Misconception]
    known_concept_ids: tuple[str, ...]  # every concept of catalogue.toml, graded here or not

    def concept(self, concept_id: str) -> Concept:
        for concept in self.concepts:
            if concept.id == concept_id:
                return concept
        raise KeyError(concept_id)

    @property
    def concept_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.concepts)


def _read_toml(path: Path, error=GraderError) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise error(f"config file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"cannot read {path}: {exc}") from None


def parse(catalogue: dict, assignment: dict, source: str) -> Catalogue:
    """Build and validate a catalogue; raises GraderError naming the bad entry."""
    try:
        titles = {cid: (str(c["title"]), str(c["hint"])) for cid, c in catalogue["concepts"].items()}
        misconceptions = {mid: Misconception(mid, str(m["concept"]), str(m["feedback"]))
                          for mid, m in catalogue.get("misconceptions", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GraderError(f"malformed catalogue entry ({exc})") from None
    for m in misconceptions.values():
        if m.concept not in titles:
            raise GraderError(f"misconception {m.id} names unknown concept {m.concept}")
    points = assignment.get("points")
    if not isinstance(points, dict) or not points:
        raise UsageError(f"{source}: needs a [points] table naming at least one concept")
    for cid, value in points.items():
        if cid not in titles:
            raise UsageError(f"{source}: unknown concept {cid!r}; choose from {', '.join(titles)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{source}: points of {cid} must be a number >= 0, not {value!r}")
    concepts = tuple(Concept(cid, title, float(points[cid]), hint)
                     for cid, (title, hint) in titles.items() if cid in points)
    return Catalogue(concepts, misconceptions, tuple(titles))


@cache
def load(assignment: Path = ASSIGNMENT_FILE, catalogue: Path = CATALOGUE_FILE) -> Catalogue:
    """The catalogue restricted to the assignment's concepts, with the assignment's points."""
    return parse(_read_toml(catalogue), _read_toml(assignment, UsageError), str(assignment))
