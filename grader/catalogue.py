"""The concepts a submission is graded on and the misconceptions the grader can name (from catalogue.toml)."""
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from grader.errors import GraderError

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")


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
    concepts: tuple[Concept, ...]
    misconceptions: dict[str, Misconception]

    def concept(self, concept_id: str) -> Concept:
        for concept in self.concepts:
            if concept.id == concept_id:
                return concept
        raise KeyError(concept_id)

    @property
    def concept_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.concepts)


def parse(data: dict, source: str) -> Catalogue:
    """Build and validate a catalogue from parsed TOML; raises GraderError naming the bad entry."""
    try:
        concepts = tuple(Concept(cid, str(c["title"]), float(c["points"]), str(c["hint"]))
                         for cid, c in data["concepts"].items())
        misconceptions = {mid: Misconception(mid, str(m["concept"]), str(m["feedback"]))
                          for mid, m in data.get("misconceptions", {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise GraderError(f"{source}: malformed catalogue entry ({exc})") from None
    known = {c.id for c in concepts}
    for m in misconceptions.values():
        if m.concept not in known:
            raise GraderError(f"{source}: misconception {m.id} names unknown concept {m.concept}")
    if any(c.points < 0 for c in concepts):
        raise GraderError(f"{source}: points must not be negative")
    return Catalogue(concepts, misconceptions)


@cache
def load(path: Path = CATALOGUE_FILE) -> Catalogue:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GraderError(f"cannot read the concept catalogue {path}: {exc}") from None
    return parse(data, str(path))
