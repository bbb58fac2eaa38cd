"""The texts a student release writes beside the code: its README, the pyproject.toml that makes the handout an
installable package (`pip install .` puts its grader in the student's virtual environment, so that
`python -m grader` works from inside exercises/ and a notebook opened anywhere can import it), and
requirements.txt (which GitHub Classroom's workflow installs). The README's Colab section goes with the notebook's
first cell (grader/colab.py)."""
from grader import __version__
from grader.installation import TORCH_REQUIREMENT

DISTRIBUTION = "attention-exercises-handout"  # not the project's own name: a student never installs the instructors'
DEPENDENCIES = (TORCH_REQUIREMENT, "numpy", "pytest>=7.4", "rich>=13")  # what the student modules import
EXTRAS = {"notebook": ("jupyterlab>=4", "ipykernel"),  # Jupyter, and IPython for the notebook's check()
          "pytest-json": ("pytest-json-report>=1.5,<2",)}  # python -m grader --pytest-json
REQUIREMENTS = "".join(f"{requirement}\n" for requirement in DEPENDENCIES)

# The setup blocks are the commands tests/test_release.py runs, line by line (the macOS and Linux one).
STUDENT_README = """\
# Attention exercises

Fill in the stubs in `exercises/attention.py` (or work in `attention.ipynb`, here or in Colab) and check
yourself as you go.

## Set up

You need Python 3.11 or newer. Open a terminal in this folder (the one that holds this README) and paste the
block for your system. Each ends by grading the stubs: every concept at 0, "not implemented yet".

**macOS and Linux** (Terminal):

```bash
python3 -m venv .venv
source .venv/bin/activate
# Linux: PyPI's default torch wheel bundles CUDA (several GB). For the CPU-only build, all these exercises
# need, run the next line without its # before `pip install .`:
# pip install torch --index-url https://download.pytorch.org/whl/cpu
pip install .
python -m grader
```

**Windows** (PowerShell):

```powershell
py -m venv .venv
Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned
.venv\\Scripts\\Activate.ps1
pip install .
python -m grader
```

(`py` is the launcher python.org's installer adds; with Python from the Microsoft Store, write `python` instead.
The second line lets this PowerShell window run the activation script, and no other.)

`pip install .` installs torch, numpy, pytest and rich, and this folder's grader, into `.venv`. On macOS and
Windows, PyPI's torch is already the CPU-only build. To work in the notebook, install Jupyter too and open it:

```bash
pip install '.[notebook]'
jupyter lab attention.ipynb
```

In a new terminal, activate the environment again before you check yourself: `source .venv/bin/activate`
(Windows: `.venv\\Scripts\\Activate.ps1`).

## In Colab

Colab has torch already and needs no setup block. Open `attention.ipynb` in Colab (File > Upload notebook),
upload `handout.zip` (in this folder: the handout, zipped) to the Files pane on the left, and run the notebook's
first code cell. It unzips the handout into `handout/`, installs it with pip, leaving Colab's torch as it is,
and makes `handout/` the working folder. If your instructor gave you the handout's git address instead, put it
between the quotes of that cell's `HANDOUT_REPOSITORY = ""` line: the cell clones it. Colab forgets uploaded
files when its runtime stops; in a new one, upload `handout.zip` and run the first code cell again.

## Check yourself

From this folder:

```bash
python -m grader                           # grades ./exercises
python -m grader --concept causal_mask     # one concept only (repeatable)
python -m grader attention.ipynb           # grade the notebook instead
python -m grader --hint causal_mask        # the next hint for a concept (no grading)
python -m grader --json report.json        # also write the report as JSON
python -m grader --html feedback.html      # also write the report as a page with heatmaps
python -m grader --watch                   # grade again at each save of attention.py (Ctrl-C ends)
```

From inside `exercises/`, `python -m grader` grades `attention.py` there.

Every concept is scored on its full scale with the **public checks only**. Your instructor grades with
more checks (the hidden ones), so a full score here is a good sign, not a guarantee. The report names the
misconception it recognises and shows what your code printed and the line where an error arose. For a concept
that lost points it draws your attention weights on the book's example ("Your journey starts with one step")
beside the expected ones: `python -m grader --html feedback.html` writes them as a page with colour heatmaps,
`--no-pictures` leaves them out of the terminal. In the notebook, the cell after each exercise calls
`check(...)`, which shows them under the cell. The import at the top readies the checks' worker in the
background, so each check, like each `--watch` grading after the first, takes a fraction of a second; your
code still runs in a fresh process every time, never in the notebook's kernel. Grading the notebook with
`python -m grader attention.ipynb` skips those check cells (the handout's own, marked in their metadata) and
runs every cell you add.
"""


def pyproject_toml() -> str:
    """The handout's pyproject.toml: the grader package with its data, the student's dependencies and extras."""
    def listed(requirements) -> str:
        return "[" + ", ".join(f'"{r}"' for r in requirements) + "]"

    extras = "".join(f"{name} = {listed(requirements)}\n" for name, requirements in EXTRAS.items())
    return f"""\
# The handout as a package: `pip install .` puts its grader (public checks only) into your virtual environment.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{DISTRIBUTION}"
version = "{__version__}"
description = "Attention exercises (chapter 3 of 'Build a Large Language Model (From Scratch)') and their self-check"
readme = "README.md"
requires-python = ">=3.11"
dependencies = {listed(DEPENDENCIES)}

[project.optional-dependencies]
{extras}
[tool.setuptools.packages.find]
include = ["grader", "grader.*"]

[tool.setuptools.package-data]
grader = ["*.toml", "reference_outputs.pt", "suites/pytest.ini", "suites/public/*.py"]
"""
