"""The concept table (concepts.toml): which concepts each statement of the reference implements, and from it
the concepts a mutant may cost.

The table is keyed by definition and by a snippet of the statement's text, so that it survives moved lines.
Every statement needs exactly one matching snippet and every snippet exactly one statement: anything else is
an AnnotationError, raised when the table is read.
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.mutation.reference import Reference, Statement
from grader.catalogue import load as load_catalogue

TABLE_FILE = Path(__file__).with_name("concepts.toml")
MAX_CONCEPTS = 2  # per statement: a statement that serves more has not been understood yet


class AnnotationError(Exception):
    """The concept table does not fit the reference."""


@dataclass(frozen=True)
class Annotations:
    reference: Reference
    concepts: dict  # Statement -> frozenset of concept ids

    def of_definition(self, definition: str) -> frozenset[str]:
        """A definition's concepts: the union of its statements'."""
        return frozenset().union(*(self.concepts[s] for s in self.reference.statements_of(definition)))

    def allowed(self, changed: tuple[Statement, ...]) -> frozenset[str]:
        """The concepts a change of these statements may cost: theirs, and those of every definition that uses
        the changed definitions in the reference."""
        allowed = set().union(*(self.concepts[s] for s in changed))
        for definition in {s.definition for s in changed}:
            for caller in self.reference.callers(definition):
                allowed |= self.of_definition(caller)
        return frozenset(allowed)


def _matches(snippet: str, statement: Statement) -> bool:
    return " ".join(snippet.split()) in statement.text


def annotate(reference: Reference, table: dict, concept_ids: set[str]) -> Annotations:
    """Match the table to the reference's statements; raises AnnotationError naming every problem."""
    problems = []
    definitions = {s.definition for s in reference.statements}
    for definition in sorted(set(table) - definitions):
        problems.append(f"[{definition}] is not a definition of the reference")
    concepts = {}
    for definition in sorted(definitions):
        entries = table.get(definition, {})
        statements = reference.statements_of(definition)
        for snippet, ids in entries.items():
            ids = [ids] if isinstance(ids, str) else list(ids)
            unknown = sorted(set(ids) - concept_ids)
            if unknown:
                problems.append(f"[{definition}] {snippet!r}: unknown concept {', '.join(unknown)}")
            if not 1 <= len(ids) <= MAX_CONCEPTS:
                problems.append(f"[{definition}] {snippet!r}: {len(ids)} concepts, expected 1 to {MAX_CONCEPTS}")
            matched = [s for s in statements if _matches(snippet, s)]
            if len(matched) != 1:
                where = "; ".join(f"line {s.lineno}" for s in matched) or "no statement"
                problems.append(f"[{definition}] {snippet!r} matches {len(matched)} statements ({where}), expected 1")
                continue
            if matched[0] in concepts:
                problems.append(f"[{definition}] line {matched[0].lineno} is annotated twice")
            concepts[matched[0]] = frozenset(ids)
        for statement in statements:
            if statement not in concepts:
                problems.append(f"[{definition}] line {statement.lineno} has no annotation: {statement.text}")
    if problems:
        raise AnnotationError("the concept table does not fit the reference:\n  " + "\n  ".join(problems))
    return Annotations(reference, concepts)


def load(reference: Reference, path: Path = TABLE_FILE) -> Annotations:
    with open(path, "rb") as f:
        table = tomllib.load(f)
    return annotate(reference, table, set(load_catalogue().concept_ids))
