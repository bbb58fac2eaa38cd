"""The reference solution as the harness sees it: its definitions, their statements, and which calls which.

A *definition* is a top-level name of solutions/attention.py (a function, a class, or a constant such as
GPT2_SIZES). Its *statements* are what the concept table annotates: every statement in its body, methods
included, and the `def` line of a function whose parameters have defaults (those defaults are code too).
Imports and docstrings belong to no definition and are neither annotated nor mutated.
"""
import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

REFERENCE_FILE = Path(__file__).resolve().parents[2] / "solutions" / "attention.py"

Path_ = tuple[tuple[str, int | None], ...]  # (field, index) steps from the module node to one node
COMPOUND = (ast.FunctionDef, ast.With, ast.If, ast.For, ast.While, ast.Try)


@dataclass(frozen=True)
class Statement:
    """One annotated statement of the reference."""
    definition: str  # top-level name: CausalAttention, gpt2_attention, GPT2_SIZES
    scope: str  # where it is written: CausalAttention.forward, GPT2_SIZES
    text: str  # its source with whitespace collapsed; a compound statement's is its first line
    path: Path_
    lineno: int


@dataclass(frozen=True)
class Site:
    """A node a mutation operator may change, with what the operators need to know about where it is."""
    node: ast.AST
    parent: ast.AST | None
    field: str
    path: Path_
    scope: str
    owner: Statement  # the innermost statement that contains it


@dataclass(frozen=True)
class Reference:
    source: str
    tree: ast.Module
    statements: tuple[Statement, ...]
    sites: tuple[Site, ...]
    calls: dict  # definition -> the definitions it names (calls or uses), from the reference's own text
    comments: dict  # line number -> the comment that ends it

    def callers(self, definition: str) -> set[str]:
        """Every definition that uses `definition`, directly or through others."""
        found, frontier = set(), {definition}
        while frontier:
            frontier = {d for d, used in self.calls.items() if used & frontier} - found
            found |= frontier
        return found

    def statements_of(self, definition: str) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.definition == definition)


def node_at(tree: ast.AST, path: Path_) -> ast.AST:
    node = tree
    for field, index in path:
        node = getattr(node, field) if index is None else getattr(node, field)[index]
    return node


def statement_text(source: str, node: ast.stmt) -> str:
    if isinstance(node, COMPOUND):
        text = source.splitlines()[node.lineno - 1]
    else:
        text = ast.get_source_segment(source, node)
    return " ".join(text.split())


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _has_defaults(node: ast.FunctionDef) -> bool:
    return bool(node.args.defaults) or any(d is not None for d in node.args.kw_defaults)


def _comments(source: str) -> dict:
    return {token.start[0]: token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT}


def load(path: Path = REFERENCE_FILE) -> Reference:
    """Parse the reference and list its statements and mutation sites."""
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    statements, sites = [], []

    def visit(node, parent, field, path, definition, scope, owner):
        """Record `node` (inside `definition`) and everything under it."""
        if isinstance(node, ast.stmt) and not isinstance(node, ast.ClassDef):
            if _is_docstring(node):
                return
            if not isinstance(node, ast.FunctionDef) or _has_defaults(node):
                owner = Statement(definition, scope, statement_text(source, node), path, node.lineno)
                statements.append(owner)
        if owner is not None and not isinstance(node, ast.FunctionDef):
            sites.append(Site(node, parent, field, path, scope, owner))
        for child_field, value in ast.iter_fields(node):
            if child_field in ("decorator_list", "returns", "type_comment"):
                continue
            children = value if isinstance(value, list) else [value]
            for index, child in enumerate(children):
                if not isinstance(child, ast.AST):
                    continue
                child_scope = scope
                child_owner = owner
                if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                    child_scope = f"{scope}.{child.name}"
                if isinstance(node, ast.FunctionDef) and child_field == "body":
                    child_owner = None  # the body's statements own their own nodes, not the def line
                if isinstance(node, ast.FunctionDef) and child_field == "args" and owner is None:
                    continue  # a def without defaults: its parameters are not mutated
                step = (child_field, index if isinstance(value, list) else None)
                visit(child, node, child_field, path + (step,), definition, child_scope, child_owner)

    calls = {}
    definitions = {}
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue  # imports and the module docstring
        definitions[name] = node
        visit(node, tree, "body", (("body", index),), name, name, None)
    for name, node in definitions.items():
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in definitions}
        calls[name] = used - {name}
    return Reference(source, tree, tuple(statements), tuple(sites), calls, _comments(source))
