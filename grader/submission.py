"""Find a submission on disk and turn it into the cells the worker runs.

Three forms are accepted: a folder (a copy of `exercises/`), one `.py` file, or a Jupyter `.ipynb` notebook.
Reading never runs student code; problems that stop grading altogether (bad encoding, a notebook that is
not JSON) become a `Submission` with a `problem`, so that they are reported like any other result.
"""
import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

from grader.errors import UsageError

CONTRACT_NAMES = (
    "attention_scores", "attention_weights", "context_vectors", "SelfAttention_v1", "SelfAttention_v2",
    "copy_weights_v2_to_v1", "CausalAttention", "MultiHeadAttentionWrapper", "wrapper_with_two_dim_output",
    "MultiHeadAttention", "gpt2_attention",
)
SUFFIXES = (".py", ".ipynb")
DEFAULT_FOLDER = "exercises"  # graded when no path is given
# Cell magics whose body is still Python; any other cell magic (%%bash, %%html, ...) skips its cell.
PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
# The handout notebook's own cells carry {"role": ...} under this key in their metadata; grading a notebook skips
# those whose role is scaffolding (the self-check cells and their import, demos, Colab's install cell), and runs
# every other cell, the student's included.
ROLE_KEY = "attention_exercises"
SCAFFOLDING_ROLES = ("check", "demo", "install", "grader")


@dataclass(frozen=True)
class Cell:
    """One piece of student code, run in order with the others in the same namespace."""
    filename: str  # how tracebacks and notes name it, as Jupyter shows it: "hw3.ipynb In [7]", "hw3.ipynb code cell 4"
    source: str


@dataclass(frozen=True)
class Submission:
    """What a student handed in, read but not run."""
    display_path: str  # the path as the user gave it
    file: Path | None  # the file holding the code
    cells: tuple[Cell, ...] = ()
    problem: str | None = None  # why it cannot be run at all
    import_dir: str | None = None  # a folder submission: the student's own imports resolve against it


def defines_contract_name(source: str) -> bool:
    """Whether Python source defines at least one contract name at its top level (without running it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return any(re.search(rf"^(def|class)\s+{name}\b", source, re.M) for name in CONTRACT_NAMES)
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    defined |= {target.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    return bool(defined & set(CONTRACT_NAMES))


def candidate_files(folder: Path) -> list[Path]:
    """The files of a folder that may hold the submission: code or notebooks that define a contract name."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in SUFFIXES or not path.is_file() or path.name.startswith((".", "_")):
            continue
        try:
            text = decode(path.read_bytes(), path)
        except (ValueError, OSError):
            found.append(path)  # unreadable: let reading it report the problem
            continue
        if path.suffix == ".ipynb":
            try:
                source = "\n".join(cell.source for cell in notebook_cells(text, path.name))
            except ValueError:
                found.append(path)  # a broken notebook: let reading it report the problem
                continue
        else:
            source = text
        if defines_contract_name(source):
            found.append(path)
    return found


def strip_magics(source: str) -> str | None:
    """Drop IPython magics and shell lines; None when the whole cell is not Python."""
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        if not first.startswith(PYTHON_CELL_MAGICS):
            return None
        lines = lines[1:]
    # Blank lines keep the line numbers of the notebook's cell in tracebacks.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def notebook_language(notebook: dict) -> str | None:
    """The notebook's kernel language as its metadata says (Jupyter, Colab, VS Code; nbformat 3 or 4)."""
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(section, {}).get(key) if isinstance(metadata.get(section), dict) else None
        if isinstance(value, str) and value:
            return value
    return metadata.get("language") if isinstance(metadata.get("language"), str) else None


def is_scaffolding(cell: dict) -> bool:
    """Whether a notebook cell is one of the handout's own check, grader-import or demo cells (see ROLE_KEY)."""
    metadata = cell.get("metadata")
    marker = metadata.get(ROLE_KEY) if isinstance(metadata, dict) else None
    return isinstance(marker, dict) and marker.get("role") in SCAFFOLDING_ROLES


def cell_name(cell: dict, position: int) -> str:
    """A code cell as Jupyter shows it: `In [7]` once run, else its position among the code cells."""
    count = cell.get("execution_count", cell.get("prompt_number"))  # nbformat 4, nbformat 3
    if isinstance(count, int) and not isinstance(count, bool):
        return f"In [{count}]"
    return f"code cell {position}"


def raw_cells(notebook: dict) -> list | None:
    """The cells of nbformat 4 (`cells`) or of nbformat 3 (`worksheets[].cells`, code in `input`)."""
    if isinstance(notebook.get("cells"), list):
        return notebook["cells"]
    worksheets = notebook.get("worksheets")
    if isinstance(worksheets, list):
        return [{**cell, "source": cell.get("input", "")} for sheet in worksheets if isinstance(sheet, dict)
                for cell in sheet.get("cells", []) if isinstance(cell, dict)]
    return None


def notebook_cells(text: str, name: str) -> list[Cell]:
    """The code cells of a notebook, in order, as Python. Raises ValueError for a notebook that is not one."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not a valid notebook: it is not JSON ({exc.msg}, line {exc.lineno})") from None
    cells = raw_cells(notebook) if isinstance(notebook, dict) else None
    if cells is None:
        raise ValueError(f"{name} is not a valid notebook: it has no list of cells")
    language = notebook_language(notebook)
    if language is not None and language.lower() != "python":
        raise ValueError(f"{name} is a notebook for the {language} kernel, not Python: change its kernel to "
                         "Python 3 and run it again, or hand in the .py file")
    code_cells = [cell for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    code = []  # markdown (with its attachments), raw and nbformat 3 heading cells are not code
    for position, cell in enumerate(code_cells, start=1):
        if is_scaffolding(cell):
            continue
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        python = strip_magics(source)
        if python is not None and python.strip():
            code.append(Cell(filename=f"{name} {cell_name(cell, position)}", source=python))
    return code


def decode(data: bytes, path: Path, display_path: str | None = None) -> str:
    """A file's text as Python or Jupyter reads it: source by its byte-order mark or coding line (PEP 263),
    else UTF-8; a notebook as UTF-8, with or without the byte-order mark Windows editors add.
    Raises ValueError, naming the file, for bytes that are not in that encoding."""
    name = display_path or str(path)
    encoding, coding_problem = "utf-8-sig", None
    if path.suffix != ".ipynb":
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:  # bytes that are not UTF-8 in the first two lines, or an unknown encoding
            coding_problem = exc.msg
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding.startswith("utf-8"):
            raise ValueError(f"{name} is not UTF-8 text (byte {exc.start})") from None
        raise ValueError(f"{name} is not {encoding} text, as its coding line says (byte {exc.start})") from None
    if coding_problem:
        raise ValueError(f"{name} has a coding line Python cannot use ({coding_problem})")
    return text


def read_file(path: Path, display_path: str) -> Submission:
    try:
        text = decode(path.read_bytes(), path, display_path)
    except ValueError as exc:
        return Submission(display_path, path, problem=str(exc))
    except OSError as exc:
        return Submission(display_path, path, problem=f"cannot read {display_path}: {exc.strerror}")
    if path.suffix == ".ipynb":
        try:
            return Submission(display_path, path, tuple(notebook_cells(text, display_path)))
        except ValueError as exc:
            return Submission(display_path, path, problem=str(exc))
    return Submission(display_path, path, (Cell(filename=display_path, source=text),))


def locate(given_path: str, label: str | None = None) -> Submission:
    """Read the submission at `given_path`, named `label` (default: the path) in reports and messages.

    Raises UsageError only when the path does not exist.
    """
    path, display_path = Path(given_path), label or given_path
    if not path.exists():
        raise UsageError(f"submission not found: {given_path} (give a folder, a .py file or a .ipynb notebook)")
    if path.is_file():
        if path.suffix not in SUFFIXES:
            return Submission(display_path, None, problem=f"cannot grade {display_path}: "
                              "expected a folder, a .py file or a .ipynb notebook")
        return read_file(path, display_path)
    candidates = candidate_files(path)
    if not candidates:
        return Submission(display_path, None, problem=f"no .py or .ipynb file in {display_path} defines any "
                          "of the exercise names (attention_scores, CausalAttention, ...)")
    if len(candidates) > 1:
        names = ", ".join(str(Path(display_path) / c.name) for c in candidates)
        return Submission(display_path, None,
                          problem=f"{display_path} holds several candidate submissions ({names}); keep exactly one")
    # Cells are named after the file (for tracebacks); the submission keeps the path as given.
    return replace(read_file(candidates[0], str(Path(display_path) / candidates[0].name)), display_path=display_path,
                   import_dir=str(path.resolve()) if has_own_modules(path, candidates[0]) else None)


def default_submission(folder: Path) -> str:
    """What `python -m grader` grades when given no path, run in `folder`: ./exercises from the folder that
    holds it; from inside that folder (any folder without one whose files define exercise names), the folder."""
    if not (folder / DEFAULT_FOLDER).is_dir() and candidate_files(folder):
        return "."
    return f"./{DEFAULT_FOLDER}"


def has_own_modules(folder: Path, submission_file: Path) -> bool:
    """Whether the folder holds Python modules (besides the submission) that the submission may import."""
    for entry in folder.iterdir():
        if entry.name.startswith((".", "__pycache__")) or entry == submission_file:
            continue
        if entry.suffix in (".py", ".so", ".pyd") or (entry.is_dir() and any(entry.rglob("*.py"))):
            return True
    return False
