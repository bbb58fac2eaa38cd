"""A torch and numpy that cannot work together are refused at start, with one line that says what to install; a
torch outside the tested range is graded, with one line that says so."""
import os
import subprocess
import sys

from conftest import ROOT
from grader.installation import NEWEST_TORCH, OLDEST_TORCH, TORCH_REQUIREMENT, problem, warning


def test_torch_before_2_3_with_numpy_2_is_refused_with_what_to_install():
    assert problem((2, 2), (2, 1)) == "torch 2.2 cannot use numpy 2.1: pip install 'numpy<2' (or a torch of 2.3 or newer)"
    assert problem((2, 2), (1, 26)) is None and problem((2, 2), None) is None
    assert problem((2, 13), (2, 3)) is None
    assert "torch is not installed" in problem(None, (2, 0))


def test_a_torch_outside_the_tested_range_is_graded_with_a_one_line_warning():
    assert TORCH_REQUIREMENT == "torch>=2.2,<2.15"
    assert warning(OLDEST_TORCH) is None and warning(NEWEST_TORCH) is None and warning((2, 7)) is None
    for outside in ((2, 1), (NEWEST_TORCH[0], NEWEST_TORCH[1] + 1), (3, 0)):
        line = warning(outside)
        assert line.startswith(f"warning: torch {outside[0]}.{outside[1]} is outside") and "\n" not in line
        assert f"pip install '{TORCH_REQUIREMENT}'" in line
        assert problem(outside, (1, 26)) is None  # not refused


def pretending(tmp_path, versions: dict) -> dict:
    """An environment in which the grader reads these package versions (a sitecustomize on PYTHONPATH)."""
    (tmp_path / "sitecustomize.py").write_text(
        "from importlib import metadata\n"
        "real = metadata.version\n"
        f"metadata.version = lambda name: {versions!r}.get(name) or real(name)\n")
    return {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}


def test_the_cli_grades_with_a_newer_torch_and_says_so_once(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "solutions/", "--concept", "attention_scores"], cwd=ROOT,
                            capture_output=True, text=True, env=pretending(tmp_path, {"torch": "2.15.0"}), timeout=120)
    assert result.returncode == 0 and "Total: 6/6" in result.stdout
    assert [line for line in result.stderr.splitlines() if "torch" in line] == [
        f"warning: torch 2.15 is outside the versions this grader is tested with ({TORCH_REQUIREMENT}); grades may "
        f"differ: pip install '{TORCH_REQUIREMENT}'"]


def test_the_cli_refuses_an_incompatible_installation_before_grading(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "solutions/"], cwd=ROOT, capture_output=True, text=True,
                            env=pretending(tmp_path, {"torch": "2.2.2", "numpy": "2.1.0"}), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("torch 2.2 cannot use numpy 2.1: pip install 'numpy<2' "
                                                           "(or a torch of 2.3 or newer)")


def test_the_release_and_every_platform_install_the_tested_torch_range():
    from grader.handout_texts import REQUIREMENTS
    from grader.platforms import classroom, gradescope, prairielearn

    assert REQUIREMENTS.splitlines()[0] == TORCH_REQUIREMENT
    # Each installs the CPU build first, in the range, so that the requirements do not fetch another torch.
    assert f"pip3 install '{TORCH_REQUIREMENT}' --index-url https://download.pytorch.org/whl/cpu" in gradescope.SETUP_SH
    assert f'"{TORCH_REQUIREMENT}" --index-url https://download.pytorch.org/whl/cpu' in prairielearn.dockerfile(
        REQUIREMENTS)
    assert classroom.INSTALL.startswith(f"python -m pip install --quiet '{TORCH_REQUIREMENT}' --index-url")
