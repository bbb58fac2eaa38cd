"""A torch and numpy that cannot work together are refused at start, with one line that says what to install."""
import os
import subprocess
import sys

from conftest import ROOT
from grader.installation import problem


def test_torch_before_2_3_with_numpy_2_is_refused_with_what_to_install():
    assert problem((2, 2), (2, 1)) == "torch 2.2 cannot use numpy 2.1: pip install 'numpy<2' (or a torch of 2.3 or newer)"
    assert problem((2, 2), (1, 26)) is None and problem((2, 2), None) is None
    assert problem((2, 13), (2, 3)) is None
    assert "older than the 2.2" in problem((2, 1), (1, 26))
    assert "torch is not installed" in problem(None, (2, 0))


def test_the_cli_refuses_an_incompatible_installation_before_grading(tmp_path):
    # A sitecustomize that makes the installed numpy look like numpy 2 beside a torch 2.2.
    (tmp_path / "sitecustomize.py").write_text(
        "from importlib import metadata\n"
        "real = metadata.version\n"
        "metadata.version = lambda name: {'torch': '2.2.2', 'numpy': '2.1.0'}.get(name) or real(name)\n")
    result = subprocess.run([sys.executable, "-m", "grader", "solutions/"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("torch 2.2 cannot use numpy 2.1: pip install 'numpy<2' "
                                                           "(or a torch of 2.3 or newer)")
