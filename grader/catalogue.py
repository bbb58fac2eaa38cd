"""The concepts a submission is graded on, their points, and the misconceptions the grader can name.

Two files an instructor can edit: `catalogue.toml`, the registry that declares every concept and
misconception once (titles, default points, the definitions each concept needs, pictures, hints, feedback),
and an assignment file (default `assignment.toml`; another one with --config) that may pick the concepts and
their points.
"""
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from grader.errors import GraderError, UsageError
from grader.submission import CONTRACT_NAMES

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
ASSIGNMENT_FILE = Path(__file__).with_name("assignment.toml")


PICTURE_SIDES = ("expected", "training")  # what a concept's pictures draw beside the student's matrix
PARTS = ("mask", "dropout")  # the parts of a class that grader.part_repairs can replace by correct ones


@dataclass(frozen=True)
class Concept:
    id: str
    title: str
    points: float
    hint: str  # what to check when a mistake is not one the catalogue recognises: the operation to use
    hints: tuple[str, ...] = ()  # the hints before it: the idea, then what to inspect
    definitions: tuple[str, ...] = ()  # the definitions of attention.py its checks call
    needs: tuple[str, ...] = ()  # those it cannot be judged without: a missing one costs this concept
    pictures: str | None = None  # one of PICTURE_SIDES, or None for a concept without pictures
    part: str | None = None  # one of PARTS: its part of a class that another concept owns

    @property
    def ladder(self) -> tuple[str, ...]:
        """The hints a student asks for one by one, from the idea to the operation (see grader.hints)."""
        return (*self.hints, self.hint)


@dataclass(frozen=True)
class Misconception:
    id: str
    title: str  # a short name a student recognises, shown with the id beside it
    concepts: tuple[str, ...]  # where it can be named: one concept, or each module that can carry it
    feedback: str


@dataclass(frozen=True)
class Catalogue:
    """The concepts of one assignment, in the chapter's order, and every known misconception."""
    concepts: tuple[Concept, ...]
    misconceptions: dict[str, Misconception]
    known_concept_ids: tuple[str, ...]  # every concept of catalogue.toml, graded here or not
    attribute_contract: bool = True  # layouts other than the contract's attribute names cost a structure test

    def concept(self, concept_id: str) -> Concept:
        for concept in self.concepts:
            if concept.id == concept_id:
                return concept
        raise KeyError(concept_id)

    def judged_without(self, concept_id: str, definition: str) -> bool:
        """Whether a check of the concept that calls `definition`, missing or unwritten, is left uncounted
        (the concept is judged on the definitions that exist) rather than failed."""
        return definition not in self.concept(concept_id).needs

    def parts_of(self, definition: str) -> tuple[tuple[str, str], ...]:
        """(concept, part) for each concept, in the chapter's order, that owns a part of `definition`."""
        return tuple((c.id, c.part) for c in self.concepts if c.part and definition in c.definitions)

    def first_needing(self, definition: str) -> str | None:
        """The first concept, in the chapter's order, that cannot be judged without `definition`."""
        return next((c.id for c in self.concepts if definition in c.needs), None)

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
    for kind, fields in (("concepts", ("title", "hint")), ("misconceptions", ("title", "concept", "feedback"))):
        if not isinstance(catalogue.get(kind, {}), dict):
            raise GraderError(f"malformed catalogue: {kind} must be a table of [{kind}.ID] entries")
        for entry_id, entry in catalogue.get(kind, {}).items():
            missing = [f for f in fields if f not in entry] if isinstance(entry, dict) else list(fields)
            if missing:
                raise GraderError(f"malformed catalogue entry {kind}.{entry_id}: it needs {' and '.join(missing)}")
    try:
        declared = {cid: _concept(cid, c) for cid, c in catalogue["concepts"].items()}
        misconceptions = {mid: Misconception(mid, str(m["title"]), _names(m["concept"]), str(m["feedback"]))
                          for mid, m in catalogue.get("misconceptions", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GraderError(f"malformed catalogue entry ({exc})") from None
    for m in misconceptions.values():
        for concept_id in m.concepts:
            if concept_id not in declared:
                raise GraderError(f"misconception {m.id} names unknown concept {concept_id}")
    points = assignment.get("points", {c.id: c.points for c in declared.values()})
    if not isinstance(points, dict) or not points:
        raise UsageError(f"{source}: [points] must name at least one concept (or leave the table out to grade "
                         "every concept at its default points)")
    for cid, value in points.items():
        if cid not in declared:
            raise UsageError(f"{source}: unknown concept {cid!r}; choose from {', '.join(declared)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise UsageError(f"{source}: points of {cid} must be a number >= 0, not {value!r}")
    concepts = tuple(replace(concept, points=float(points[cid])) for cid, concept in declared.items() if cid in points)
    return Catalogue(concepts, misconceptions, tuple(declared), _attribute_contract(assignment, source))


def _concept(cid: str, entry: dict) -> Concept:
    where = f"concepts.{cid}"
    definitions = _definitions(entry.get("definitions", []), f"{where}.definitions")
    needs = _definitions(entry.get("needs", []), f"{where}.needs")
    if not set(needs) <= set(definitions):
        raise GraderError(f"malformed catalogue entry {where}.needs: it may name only the concept's definitions")
    pictures = entry.get("pictures")
    if pictures is not None and pictures not in PICTURE_SIDES:
        raise GraderError(f"malformed catalogue entry {where}.pictures: it must be one of {', '.join(PICTURE_SIDES)}")
    points = entry.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
        raise GraderError(f"malformed catalogue entry {where}.points: it must be a number >= 0")
    part = entry.get("part")
    if part is not None and part not in PARTS:
        raise GraderError(f"malformed catalogue entry {where}.part: it must be one of {', '.join(PARTS)}")
    return Concept(cid, str(entry["title"]), float(points), str(entry["hint"]),
                   _texts(entry.get("hints", []), f"{where}.hints"), definitions, needs, pictures, part)


def _definitions(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(name in CONTRACT_NAMES for name in value):
        raise GraderError(f"malformed catalogue entry {where}: it must list names of attention.py's definitions "
                          f"({', '.join(CONTRACT_NAMES)})")
    return tuple(sorted(value, key=CONTRACT_NAMES.index))


def _texts(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(text, str) and text.strip() for text in value):
        raise GraderError(f"malformed catalogue entry {where}: it must be a list of texts")
    return tuple(value)


def _names(value) -> tuple[str, ...]:
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _attribute_contract(assignment: dict, source: str) -> bool:
    contract = assignment.get("contract", {})
    unknown = set(contract) - {"attribute_names"} if isinstance(contract, dict) else {"contract"}
    if unknown:
        raise UsageError(f"{source}: [contract] takes only attribute_names = true or false, not {sorted(unknown)[0]!r}")
    value = contract.get("attribute_names", True)
    if not isinstance(value, bool):
        raise UsageError(f"{source}: [contract] attribute_names must be true or false, not {value!r}")
    return value


@cache
def load(assignment: Path = ASSIGNMENT_FILE, catalogue: Path = CATALOGUE_FILE) -> Catalogue:
    """The catalogue restricted to the assignment's concepts, with the assignment's points."""
    return parse(_read_toml(catalogue), _read_toml(assignment, UsageError), str(assignment))


@cache
def registry(catalogue: Path = CATALOGUE_FILE) -> Catalogue:
    """Every concept of the registry at its default points, whatever an assignment chooses."""
    return parse(_read_toml(catalogue), {}, str(catalogue))
