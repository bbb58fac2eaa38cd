"""Write the student handout: the stubs, a notebook version, and the grader with the public checks only.

The release holds no solution code and no hidden test. Its public checks still diagnose misconceptions: the
switchable reference (grader/reference.py) is replaced by the outputs it gave on the public checks' fixed
inputs, recorded here for every combination of choices, and looked up by the same call key.
"""
import ast
import json
import shutil
import textwrap
from pathlib import Path

from grader.errors import GraderError, UsageError

PROJECT = Path(__file__).resolve().parent.parent
GRADER = PROJECT / "grader"
STORED_OUTPUTS = "reference_outputs.pt"
REQUIREMENTS = "torch>=2.2\nnumpy\npytest>=7.4\nrich>=13\n"

STUDENT_README = """\
# Attention exercises

Fill in the stubs in `exercises/attention.py` (or work in `attention.ipynb`) and check yourself as you go.

## Set up

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
```

## Check yourself

From this folder:

```bash
python -m grader                           # grades ./exercises
python -m grader --concept causal_mask     # one concept only (repeatable)
python -m grader attention.ipynb           # grade the notebook instead
python -m grader --json report.json        # also write the report as JSON
python -m grader --html feedback.html      # also write the report as a page with heatmaps
```

Every concept is scored on its full scale with the **public checks only**. Your instructor grades with
more checks (the hidden ones), so a full score here is a good sign, not a guarantee. The report names the
misconception it recognises and shows what your code printed and the line where an error arose. For a concept
that lost points it draws your attention weights on the book's example ("Your journey starts with one step")
beside the expected ones: `python -m grader --html feedback.html` writes them as a page with colour heatmaps,
`--no-pictures` leaves them out of the terminal. In the notebook, `check(...)` shows them under the cell.
"""


def _stored_reference_module() -> str:
    """The release's grader/reference.py: the same names and call key, answers from stored outputs."""
    source = (GRADER / "reference.py").read_text()
    tree = ast.parse(source)
    keep = []
    for node in tree.body:
        names = ({t.id for t in node.targets if isinstance(t, ast.Name)} if isinstance(node, ast.Assign)
                 else {getattr(node, "name", None)})
        if names & {"SCALE", "MASK", "VALUES", "HEADS", "OUT_PROJ", "SOFTMAX", "misconception_of", "call_key"}:
            keep.append(ast.get_source_segment(source, node))
    header = textwrap.dedent('''\
        """Stored reference outputs for the public checks of this student release.

        The checks compare your outputs with outputs recorded on their fixed inputs; there is no reference
        implementation here.
        """
        import hashlib
        from pathlib import Path

        import torch

        from grader.wire import contiguous_bytes

        _table = None
        ''')
    footer = textwrap.dedent(f'''\


        def is_recording() -> bool:
            return False


        def attention(*args, **kwargs):
            """The stored output of this reference call."""
            global _table
            if _table is None:
                _table = torch.load(Path(__file__).with_name("{STORED_OUTPUTS}"), weights_only=True)
            key = call_key(args, kwargs)
            if key not in _table:
                raise LookupError("no stored output for this check: this torch version builds other test inputs "
                                  "than the one the release was made with")
            return _table[key].to(args[0].device)
        ''')
    return header + "\n\n" + "\n\n\n".join(keep) + footer


def _record_outputs() -> dict:
    """Grade the reference solution with the public checks, recording every reference output they may need."""
    from grader import reference
    from grader.catalogue import load
    from grader.pipeline import grade_submission
    from grader.submission import locate

    table = {}
    with reference.recording(table):
        report = grade_submission(locate(str(PROJECT / "solutions")), load(), visibilities=("public",))
    if report.score != report.max_score:
        failing = [c.concept.id for c in report.concepts if c.score < c.concept.points]
        raise GraderError(f"the reference solution fails public checks ({', '.join(failing)}); no release written")
    return table


def _prepare(out_dir: Path, force: bool):
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give a folder for the release")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise UsageError(f"{out_dir} exists and is not empty; pass --force to replace it")
        if out_dir.resolve() in (PROJECT, *PROJECT.parents):
            raise UsageError(f"refusing to replace {out_dir}: it holds this project")
        shutil.rmtree(out_dir)
    if not out_dir.parent.exists():
        raise UsageError(f"folder not found: {out_dir.parent}")


def write_release(out_dir, force: bool = False) -> Path:
    """Write the release into out_dir and return its path."""
    import torch

    from grader.catalogue import load
    from grader.checkout import require_checkout
    from grader.notebook_version import student_notebook

    require_checkout("release", "solutions/", "exercises/")
    out_dir = Path(out_dir)
    _prepare(out_dir, force)
    table = _record_outputs()
    staging = out_dir.with_name(out_dir.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(PROJECT / "exercises", staging / "exercises", ignore=ignore)
    shutil.copytree(GRADER, staging / "grader", ignore=ignore)
    shutil.rmtree(staging / "grader" / "suites" / "hidden")
    (staging / "grader" / "reference.py").write_text(_stored_reference_module())
    torch.save(table, staging / "grader" / STORED_OUTPUTS)
    (staging / "attention.ipynb").write_text(json.dumps(student_notebook(load()), indent=1) + "\n")
    (staging / "README.md").write_text(STUDENT_README)
    (staging / "requirements.txt").write_text(REQUIREMENTS)
    out_dir.mkdir(exist_ok=True)
    for item in staging.iterdir():
        item.rename(out_dir / item.name)
    staging.rmdir()
    return out_dir
