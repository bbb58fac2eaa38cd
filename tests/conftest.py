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
    """Run `python -m grader ARGS` as a user would, with `env` added to ours; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})


def grade_json(path, *args, tmp_path, cwd=ROOT, env=None):
    """Grade through the CLI and return the JSON report."""
    out = tmp_path / "report.json"
    result = run_cli(path, "--json", out, *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path."""
    def write_file(name, content):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return path
    return write_file


def solution_source() -> str:
    return (ROOT / "solutions" / "attention.py").read_text()


@pytest.fixture(scope="module")
def ordinary_user():
    """As root: a way to run this project as an ordinary uid (see ordinary_user.py); skips where it cannot."""
    from ordinary_user import ordinary_user_session

    with ordinary_user_session() as session:
        yield session
