"""The same suites give the same grade in every path, wherever the Python installation lives.

A virtual environment under /tmp, inside a folder other users cannot enter, reached through `..` and a
.pth file: the zygote's workers mount an empty /tmp of their own, and must still see every folder this
Python imports from when a submission (or torch) imports a module late.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy
import pytest

from conftest import ROOT, solution_source
from grader.sandbox import detect

# Correct code that imports late (numpy.testing is never imported before the worker starts) and checks, at
# its top level, that its installation's folders (the prefix, and every site-packages folder on sys.path, the
# .pth file's among them) are visible to it.
LATE_IMPORTS = """import os as _os
import sys as _sys

_hidden = [p for p in (_sys.prefix, *_sys.path) if "site-packages" in p and not _os.path.isdir(p)]
assert not _hidden, f"the worker cannot see {_hidden}"
import numpy.testing  # a module of the installation that nothing imported before
print("worker pid", _os.getpid())  # 1 in a worker forked by the batch's zygote
"""


@pytest.fixture(scope="module")
def python_under_tmp(tmp_path_factory):
    """A virtual environment in a 0700 folder under /tmp, whose numpy is a symlink there and whose other
    packages (torch, this project) come through a .pth file. Returns the course folder beside it."""
    place = tmp_path_factory.mktemp("private-home")
    place.chmod(0o700)
    venv = place / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    ours = Path(numpy.__file__).parent.parent
    for name in ("numpy", "numpy.libs"):
        if (ours / name).exists():
            (site_packages / name).symlink_to(ours / name)
    (site_packages / "elsewhere.pth").write_text(f"{ours}\n{ROOT}\n")
    course = place / "course"
    (course / "submissions").mkdir(parents=True)
    (course / "submissions" / "alice.py").write_text(LATE_IMPORTS + solution_source())
    return course


def grade_both_ways(course: Path, python: str, out: Path) -> tuple[dict, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    single = subprocess.run([python, "-m", "grader", "submissions/alice.py", "--json", str(out / "single.json")],
                            cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    batch = subprocess.run([python, "-m", "grader", "batch", "submissions", "--out", str(out / "batch")],
                           cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert batch.returncode == 0, batch.stderr
    return (json.loads((out / "single.json").read_text()),
            json.loads((out / "batch" / "reports" / "alice.json").read_text()))


@pytest.mark.skipif(not detect().isolated, reason="bubblewrap is not available on this machine")
def test_an_installation_under_tmp_reached_through_dotdot_grades_the_same_alone_and_in_a_batch(python_under_tmp,
                                                                                              tmp_path):
    single, batch = grade_both_ways(python_under_tmp, "../venv/bin/python", tmp_path)
    scores = {r["id"]: r["score"] for r in single["concepts"]}
    assert single["status"] == batch["status"] == "graded", (single["error"], batch["error"], batch["output"])
    assert scores == {r["id"]: r["score"] for r in batch["concepts"]}
    assert single["score"] == single["max_score"] == 100
    if os.geteuid() == 0:  # without root, a sandboxed zygote refuses to fork and the batch starts fresh workers
        assert "worker pid 1\n" in batch["output"]  # the zygote forked it (its empty /tmp hid the venv before)


def test_python_executable_is_absolute_and_keeps_the_virtual_environment_name(monkeypatch, tmp_path):
    from grader.sandbox import python_executable

    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to(shutil.which("python3") or sys.executable)
    (tmp_path / "handout").mkdir()
    monkeypatch.chdir(tmp_path / "handout")
    monkeypatch.setattr(sys, "executable", "../venv/bin/python")
    assert python_executable() == str(tmp_path.resolve() / "venv" / "bin" / "python")
