"""The mutants of the reference: every edit of every operator at every site, as compiled source.

A mutant's id is `<scope>:<operator>:<n>`, n counting that operator's mutants in that scope in the order of
the source, so ids stay the same from run to run while the reference and the operators do not change.
"""
import ast
import copy
from dataclasses import dataclass

from benchmarks.mutation.operators import OPERATORS, names_of
from benchmarks.mutation.reference import Reference, Statement, node_at


@dataclass(frozen=True)
class Mutant:
    id: str
    description: str
    source: str
    statements: tuple[Statement, ...]  # the statements the edit changes (a dropped block: all of its own)

    @property
    def file_stem(self) -> str:
        """The mutant's name as a submission file: an id whose characters a student id keeps."""
        return self.id.replace(":", "+")


@dataclass(frozen=True)
class Generated:
    """The mutants, and what was discarded on the way."""
    mutants: tuple[Mutant, ...]
    proposed: int  # edits the operators made
    not_compiling: int
    unchanged: int  # same source as the reference, or as an earlier mutant

    @property
    def by_id(self) -> dict:
        return {m.id: m for m in self.mutants}


def _apply(tree: ast.Module, path, new) -> ast.Module:
    mutated = copy.deepcopy(tree)
    *parents, (field, index) = path
    holder = node_at(mutated, tuple(parents))
    if index is None:
        setattr(holder, field, new)
    elif isinstance(new, list):
        items = getattr(holder, field)
        items[index:index + 1] = new
    else:
        getattr(holder, field)[index] = new
    return ast.fix_missing_locations(mutated)


def generate(reference: Reference) -> Generated:
    names = names_of(reference)
    baseline = ast.unparse(reference.tree)
    seen = {baseline}
    mutants, counters = [], {}
    proposed = not_compiling = unchanged = 0
    for site in reference.sites:
        for operator in OPERATORS:
            for edit in operator(site, names):
                proposed += 1
                source = ast.unparse(_apply(reference.tree, site.path, copy.deepcopy(edit.new)))
                if source in seen:
                    unchanged += 1
                    continue
                seen.add(source)
                try:
                    compile(source, "attention.py", "exec")
                except SyntaxError:
                    not_compiling += 1
                    continue
                key = (site.scope, operator.__name__)
                counters[key] = counters.get(key, 0) + 1
                changed = (site.owner,) + tuple(s for s in reference.statements
                                                if s.path[:len(site.path)] == site.path and s != site.owner)
                description = edit.description
                if not isinstance(site.node, ast.stmt) and len(ast.unparse(site.node)) < 25:
                    description += f" in `{site.owner.text if len(site.owner.text) < 80 else site.owner.text[:77] + '...'}`"
                mutants.append(Mutant(f"{site.scope}:{operator.__name__}:{counters[key]}", description, source,
                                      changed))
    return Generated(tuple(mutants), proposed, not_compiling, unchanged)


def unmutated(reference: Reference) -> str:
    """The reference as the mutants are written (unparsed, without comments): the control of every run."""
    return ast.unparse(reference.tree)
