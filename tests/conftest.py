"""Shared helpers for the project's own tests: grading real files through the library and the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"


def run_cli(*args, cwd=ROOT, timeout=300, env=None):
    """Run `python -m grader ARGS` as a user would; returns the CompletedProcess. `env` sets variables for
    this run (None unsets one)."""
    variables = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={k: v for k, v in variables.items() if v is not None})


def grade_json(path, *args, tmp_path, cwd=ROOT, env=None):
    """Grade through the CLI and return the JSON report."""
    out = tmp_path / "report.json"
    result = run_cli(path, "--json", out, *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def assert_report_fits(report, width: int = 80):
    """The terminal report drawn for `width` columns, in Unicode and in ASCII: no line is wider, and no line
    wraps back to column 0 (each line that starts there starts a line of the report drawn without limit)."""
    from rich.cells import cell_len

    from grader.reporters import render_table

    for ascii_only in (False, True):
        unlimited = render_table(report, width=10_000, ascii_only=ascii_only).splitlines()
        starts = [line for line in unlimited if line[:1].strip()]
        for line in render_table(report, width=width, ascii_only=ascii_only).splitlines():
            assert cell_len(line) <= width, line
            assert not line[:1].strip() or any(start.startswith(line) for start in starts), line


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path."""
    def write_file(name, content):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return path
    return write_file


def grade_forked(submissions, catalogue, **options):
    """grade_submissions as a batch grades them: each worker forked from one zygote, so that a test grading many
    submissions pays one torch import instead of one per submission."""
    from grader.pipeline import grade_submissions
    from grader.sandbox import detect
    from grader.zygote_client import ZygoteClient, ZygoteServer

    with ZygoteServer(detect(True), "cpu") as server:
        return grade_submissions(submissions, catalogue, zygote=ZygoteClient(server.path), **options)


def solution_source() -> str:
    return (ROOT / "solutions" / "attention.py").read_text()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A student release made by `python -m grader release`, one per test module that asks for it (a module
    may change its copy)."""
    out = tmp_path_factory.mktemp("release") / "handout"
    result = run_cli("release", out, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def ordinary_user():
    """As root: a way to run this project as an ordinary uid (see ordinary_user.py); skips where it cannot."""
    from ordinary_user import ordinary_user_session

    with ordinary_user_session() as session:
        yield session


@pytest.fixture(scope="session")
def corpus_batch(tmp_path_factory):
    """Every hand-written and edited submission, the reference, the stubs and the unrunnable cases
    (tests/report_corpus.py) in class/, graded by a batch into out/: their folder."""
    from report_corpus import make_corpus

    root = tmp_path_factory.mktemp("corpus")
    result = run_cli("batch", make_corpus(root / "class"), "--out", root / "out", timeout=1800)
    assert result.returncode == 0, result.stderr
    return root


def python_without_the_project(venv: Path, pip: bool = False) -> Path:
    """The python of a new virtual environment at venv (with pip if asked) that imports this one's packages
    (torch, numpy, pytest, rich, IPython) through a .pth file, but not this project: an editable install's finder
    would fill in, from the checkout, any grader module that a student release lacks."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", *([] if pip else ["--without-pip"]), str(venv)], check=True,
                   timeout=120)
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site_packages / "tests-packages.pth").write_text("".join(f"{folder}\n" for folder in ours))
    return venv / "bin" / "python"


def clean_env(home: Path, **extra) -> dict:
    """An environment that says nothing of the checkout: no PYTHONPATH or other Python settings."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}
