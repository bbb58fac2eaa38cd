"""Mutation operators: each takes one site of the reference and yields the edits it makes there.

An operator is `operator(site, names) -> iterable of Edit`; `OPERATORS` is the whole list, in the order their
mutants are numbered. An edit replaces the site's node (a statement may be replaced by several). Operators
only propose edits: the generator (mutants.py) discards those that do not compile or change nothing.
"""
import ast
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.mutation.reference import Reference, Site

MODULES = {"torch", "nn"}  # names that stand for a library, not a value: `torch.softmax(x)` is not x's method
IN_PLACE_TWINS = {"masked_fill_": "masked_fill", "add_": "add", "sub_": "sub", "mul_": "mul", "div_": "div",
                  "clamp_": "clamp", "transpose_": "transpose", "unsqueeze_": "unsqueeze", "squeeze_": "squeeze"}
FUNCTION_TWINS = {"triu": "tril", "tril": "triu", "cat": "stack", "stack": "cat", "ones": "zeros", "zeros": "ones",
                  "rand": "randn", "randn": "rand", "softmax": "log_softmax"}
DIMENSIONS = (-2, -1, 0, 1, 2)  # what a dimension argument may be changed to
DIMENSION_KEYWORDS = {"dim", "dim0", "dim1"}
DIMENSION_METHODS = {"transpose", "softmax", "cat", "stack", "sum", "mean"}
OPERATOR_TWINS = {ast.Div: ast.Mult, ast.Mult: ast.Div, ast.Pow: ast.Mult, ast.MatMult: ast.Mult,
                  ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Add: ast.Sub, ast.Sub: ast.Add,
                  ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In}
SHAPE_COMMENT = re.compile(r"#\s*(\([^)]*\))")


@dataclass(frozen=True)
class Edit:
    """Replace the site's node by `new` (a list splices statements into the body that held it)."""
    new: ast.AST | list
    description: str


def code(node) -> str:
    text = " ".join(ast.unparse(node).split()) if not isinstance(node, list) else "; ".join(map(code, node))
    return text if len(text) <= 70 else text[:67] + "..."


def edit(site: Site, new, what: str = "") -> Edit:
    return Edit(new, f"{what}`{code(site.node)}` -> `{code(new) if new != [] else 'nothing'}`")


def _with(node, **fields):
    new = copy.deepcopy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _is_dimension(site: Site) -> bool:
    """An integer that names a tensor dimension: a dim= keyword, transpose's arguments, an index of .shape."""
    parent = site.parent
    if isinstance(parent, ast.keyword):
        return parent.arg in DIMENSION_KEYWORDS
    if isinstance(parent, ast.Call) and site.field == "args" and isinstance(parent.func, ast.Attribute):
        return parent.func.attr in DIMENSION_METHODS
    if isinstance(parent, ast.Subscript) and site.field == "slice":
        return isinstance(parent.value, ast.Attribute) and parent.value.attr in ("shape", "size")
    return False  # among others the 1 of -1, which is changed as a whole at its minus sign


def _constant(site: Site) -> int | float | None:
    """The number at the site, a negative literal (-1) read as one constant."""
    node = site.node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def _number(value) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


# --- statements --------------------------------------------------------------------------------------------

def drop(site: Site, names) -> Iterator[Edit]:
    """Drop a statement (it becomes `pass`)."""
    if isinstance(site.node, ast.stmt) and site.field in ("body", "orelse"):
        yield Edit(ast.Pass(), f"drop `{code(site.node) if not isinstance(site.node, ast.With) else site.owner.text}`")


def unwrap_with(site: Site, names) -> Iterator[Edit]:
    """Run a with-block's body without its context manager (`torch.no_grad()`)."""
    if isinstance(site.node, ast.With):
        yield Edit(copy.deepcopy(site.node.body), f"`{site.owner.text}` removed around its body")


# --- operands and arguments --------------------------------------------------------------------------------

def swap_operands(site: Site, names) -> Iterator[Edit]:
    """Swap the two sides of a binary operation or a comparison."""
    node = site.node
    if isinstance(node, ast.BinOp) and ast.dump(node.left) != ast.dump(node.right):
        yield edit(site, _with(node, left=node.right, right=node.left))
    if isinstance(node, ast.Compare) and len(node.comparators) == 1:
        yield edit(site, _with(node, left=node.comparators[0], comparators=[node.left]))


def swap_arguments(site: Site, names) -> Iterator[Edit]:
    """Swap two neighbouring positional arguments of a call, elements of a tuple or unpacked names."""
    node = site.node
    field = "args" if isinstance(node, ast.Call) else "elts" if isinstance(node, (ast.Tuple, ast.List)) else None
    if field is None:
        return
    items = getattr(node, field)
    for i in range(len(items) - 1):
        if ast.dump(items[i]) != ast.dump(items[i + 1]) and not isinstance(items[i], ast.Starred):
            swapped = items[:i] + [items[i + 1], items[i]] + items[i + 2:]
            yield edit(site, _with(node, **{field: swapped}))


def drop_keyword(site: Site, names) -> Iterator[Edit]:
    """Leave out one keyword argument of a call (it takes its default)."""
    node = site.node
    if isinstance(node, ast.Call):
        for i, keyword in enumerate(node.keywords):
            yield Edit(_with(node, keywords=node.keywords[:i] + node.keywords[i + 1:]),
                       f"`{code(node)}` without `{code(keyword)}`")


# --- operators, constants and dimensions --------------------------------------------------------------------

def change_operator(site: Site, names) -> Iterator[Edit]:
    """Replace an arithmetic or comparison operator with its usual confusion; drop a minus sign."""
    node = site.node
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATOR_TWINS:
        yield edit(site, _with(node, op=OPERATOR_TWINS[type(node.op)]()))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in OPERATOR_TWINS:
        yield edit(site, _with(node, ops=[OPERATOR_TWINS[type(node.ops[0])]()]))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _constant(site) is None:
        yield edit(site, copy.deepcopy(node.operand))


def change_dimension(site: Site, names) -> Iterator[Edit]:
    """Point a dimension argument at another dimension: dim=-1 -> dim=1, transpose(1, 2) -> transpose(0, 2)."""
    value = _constant(site)
    if value is not None and isinstance(value, int) and _is_dimension(site):
        for other in DIMENSIONS:
            if other != value:
                yield edit(site, _number(other))


def change_constant(site: Site, names) -> Iterator[Edit]:
    """Change a number that is not a dimension (n -> n - 1, n + 1; a float -> 1.0, half, double), flip a
    boolean, misspell a string that is code (a buffer's name, a dictionary key)."""
    node, value = site.node, _constant(site)
    if isinstance(site.parent, ast.UnaryOp) and isinstance(site.parent.op, ast.USub) and value is not None:
        return  # -1 is changed as a whole, at its minus sign
    if value is not None and not _is_dimension(site):
        if isinstance(value, int):
            others = (value - 1, value + 1)
        else:
            others = (0.5, 1.0) if value == 0 else (1.0, value / 2, value * 2)
        for other in dict.fromkeys(o for o in others if o != value):
            yield edit(site, _number(other))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield edit(site, ast.Constant(not node.value))
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_code_string(site):
        yield edit(site, ast.Constant(node.value + "_"))


def _is_code_string(site: Site) -> bool:
    """A string the program uses as a name or key, not a message for a person."""
    return isinstance(site.parent, (ast.Call, ast.Dict, ast.Compare, ast.arguments)) and site.field in (
        "args", "keys", "comparators", "defaults", "left")


# --- names, attributes and functions -----------------------------------------------------------------------

def swap_name(site: Site, names: "Names") -> Iterator[Edit]:
    """Use another local of the same kind: one with the same shape comment (keys for queries), another
    parameter of the same type (d_out for d_in), another name unpacked by the same statement."""
    node = site.node
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        for other in names.alternatives(site):
            yield edit(site, ast.Name(other, ast.Load()))


def swap_attribute(site: Site, names: "Names") -> Iterator[Edit]:
    """Use another attribute built the same way: self.W_key for self.W_query."""
    node = site.node
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        for group in names.attribute_groups:
            if node.attr in group:
                for other in group:
                    if other != node.attr:
                        yield edit(site, _with(node, attr=other))


def in_place_twin(site: Site, names) -> Iterator[Edit]:
    """Replace an in-place tensor method with its out-of-place twin: masked_fill_ -> masked_fill."""
    node = site.node
    if isinstance(node, ast.Attribute) and node.attr in IN_PLACE_TWINS:
        yield edit(site, _with(node, attr=IN_PLACE_TWINS[node.attr]))


def function_twin(site: Site, names) -> Iterator[Edit]:
    """Call a look-alike function: triu -> tril, cat -> stack, ones -> zeros, softmax -> log_softmax."""
    node = site.node
    if isinstance(node, ast.Attribute) and node.attr in FUNCTION_TWINS and isinstance(site.parent, ast.Call) \
            and site.field == "func":
        yield edit(site, _with(node, attr=FUNCTION_TWINS[node.attr]))


def transpose_form(site: Site, names) -> Iterator[Edit]:
    """Write a transpose another way: .transpose(a, b) -> .T or .mT; .T -> .mT or nothing."""
    node = site.node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transpose":
        for attr in ("T", "mT"):
            yield edit(site, ast.Attribute(copy.deepcopy(node.func.value), attr, ast.Load()))
    if isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        yield edit(site, _with(node, attr="mT" if node.attr == "T" else "T"))
        yield edit(site, copy.deepcopy(node.value))


def unwrap_call(site: Site, names) -> Iterator[Edit]:
    """Skip a call: a method's result becomes its receiver (x.contiguous() -> x), a function's its first
    argument (self.dropout(w) -> w, torch.softmax(s, dim=-1) -> s)."""
    node = site.node
    if not isinstance(node, ast.Call) or isinstance(site.parent, ast.Expr):
        return  # a call that is a whole statement is dropped by `drop`
    func = node.func
    receiver_is_value = isinstance(func, ast.Attribute) and not (
        isinstance(func.value, ast.Name) and func.value.id in MODULES | {"self"})
    if receiver_is_value:
        yield edit(site, copy.deepcopy(func.value))
    elif node.args and not isinstance(node.args[0], ast.Starred):
        yield edit(site, copy.deepcopy(node.args[0]))


def drop_subscript(site: Site, names) -> Iterator[Edit]:
    """Use the whole of a subscripted value (mask[:n, :n] -> mask), one index fewer, or a slice without its
    end."""
    node = site.node
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        yield edit(site, copy.deepcopy(node.value))
        index = node.slice
        if isinstance(index, ast.Tuple):
            for i in range(len(index.elts)):
                rest = index.elts[:i] + index.elts[i + 1:]
                yield edit(site, _with(node, slice=rest[0] if len(rest) == 1 else ast.Tuple(rest, ast.Load())))
    if isinstance(node, ast.Slice) and node.upper is not None:
        yield edit(site, _with(node, upper=None))


OPERATORS = (drop, unwrap_with, swap_operands, swap_arguments, drop_keyword, change_operator, change_dimension,
             change_constant, swap_name, swap_attribute, in_place_twin, function_twin, transpose_form, unwrap_call,
             drop_subscript)


# --- what a name may be swapped for -----------------------------------------------------------------------

@dataclass(frozen=True)
class Names:
    """The kinds of the reference's names, read from the code: which locals share a shape comment, which
    parameters share a type (a default's type, or "size" for those that never have a default), which were
    unpacked together, which attributes are built alike."""
    kinds: dict  # scope -> {name: [(line, kind)]}: a local's kind from each line it is (re)bound on
    attribute_groups: tuple[frozenset[str], ...]

    def kind(self, scope: str, name: str, line: int):
        bindings = [kind for bound, kind in self.kinds.get(scope, {}).get(name, ()) if bound < line]
        return bindings[-1] if bindings else None

    def alternatives(self, site: Site) -> list[str]:
        line = site.owner.lineno
        kind = self.kind(site.scope, site.node.id, line)
        if kind is None:
            return []
        return [other for other in self.kinds.get(site.scope, {})
                if other != site.node.id and self.kind(site.scope, other, line) == kind]


def names_of(reference: Reference) -> Names:
    kinds, groups = {}, set()
    for site in reference.sites:
        node = site.node
        if isinstance(node, ast.FunctionDef) or not isinstance(node, ast.stmt):
            continue
        scope_kinds = kinds.setdefault(site.scope, {})
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                shape = SHAPE_COMMENT.search(reference.comments.get(node.end_lineno, ""))
                if shape:
                    scope_kinds.setdefault(target.id, []).append((node.lineno, ("shape", shape.group(1))))
            elif isinstance(target, ast.Tuple):
                for element in target.elts:
                    if isinstance(element, ast.Name):
                        scope_kinds.setdefault(element.id, []).append((node.lineno, ("unpacked", node.lineno)))
    functions = list(_functions(reference.tree))
    typed = {}  # a parameter's type is its default's, in whichever definition gives it one
    for _, function in functions:
        positional = function.args.args[len(function.args.args) - len(function.args.defaults):]
        for arg, default in zip(positional, function.args.defaults):
            if isinstance(default, ast.Constant):
                typed[arg.arg] = type(default.value).__name__
    for scope, function in functions:
        for name in [a.arg for a in function.args.args + function.args.kwonlyargs if a.arg != "self"]:
            kind = ("parameter", typed.get(name, "size"))  # one without a default anywhere is a size
            kinds.setdefault(scope, {}).setdefault(name, []).insert(0, (0, kind))
    for node in ast.walk(reference.tree):
        if isinstance(node, ast.ClassDef):
            built = {}
            for statement in ast.walk(node):
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
                        statement.targets[0], ast.Attribute):
                    built.setdefault(ast.dump(statement.value), []).append(statement.targets[0].attr)
            groups |= {frozenset(attrs) for attrs in built.values() if len(attrs) > 1}
    return Names(kinds, tuple(sorted(groups, key=sorted)))


def _functions(tree: ast.Module):
    """(scope, function) for every top-level function and method."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from ((f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, ast.FunctionDef))
