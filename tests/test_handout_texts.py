"""The handout's README and pyproject.toml: its macOS and Linux setup block, run line by line as written, by an
ordinary user, installs the handout as a package and ends with a working `python -m grader`, from the handout
folder and from inside exercises/."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from conftest import run_cli
from grader.handout_texts import DEPENDENCIES, DISTRIBUTION, STUDENT_README, pyproject_toml
from grader.installation import TORCH_REQUIREMENT
from grader.sandbox import detect, unprivileged_command
from ordinary_user import ORDINARY_UID, ordinary_user_view

CREATE_VENV = "python3 -m venv .venv"


def setup_block(readme: str, language: str) -> list[str]:
    """The lines of the README's first fenced block in `language`."""
    found = re.search(rf"^```{language}\n(.*?)^```", readme, re.M | re.S)
    assert found, f"no ```{language} block"
    return found.group(1).splitlines()


def test_each_setup_block_activates_its_environment_and_ends_with_the_grader():
    linux, windows = setup_block(STUDENT_README, "bash"), setup_block(STUDENT_README, "powershell")
    assert linux[:2] == [CREATE_VENV, "source .venv/bin/activate"] and linux[-2:] == ["pip install .", "python -m grader"]
    assert r".venv\Scripts\Activate.ps1" in windows and windows[-2:] == ["pip install .", "python -m grader"]
    # The CUDA note, and PyTorch's own CPU-only command, commented out for the student to choose.
    assert "# pip install torch --index-url https://download.pytorch.org/whl/cpu" in linux
    assert "bundles CUDA" in " ".join(linux)


def test_the_pyproject_installs_the_grader_under_the_handout_s_own_name():
    project = tomllib.loads(pyproject_toml())
    assert project["project"]["name"] == DISTRIBUTION != "attention-exercises"
    assert project["project"]["dependencies"][0] == TORCH_REQUIREMENT and len(DEPENDENCIES) == 4
    assert "jupyterlab>=4" in project["project"]["optional-dependencies"]["notebook"]
    assert "reference_outputs.pt" in project["tool"]["setuptools"]["package-data"]["grader"]


def as_a_student(folder: Path, needed: list[Path]):
    """argv -> argv run as an ordinary user who owns folder (as root: ORDINARY_UID, through bubblewrap, which shows
    it `needed` at their own paths); skips where that cannot be done."""
    if os.geteuid() != 0:
        return lambda argv: argv
    if not (shutil.which("setpriv") and detect().bwrap):
        pytest.skip("running as an ordinary uid here needs setpriv and bubblewrap")
    for path in (folder, *folder.rglob("*")):
        os.chown(path, ORDINARY_UID, ORDINARY_UID, follow_symlinks=False)
    folder.chmod(0o755)
    view = [detect().bwrap, *ordinary_user_view(needed, folder), "--die-with-parent"]
    return lambda argv: [*view, *unprivileged_command(argv, ORDINARY_UID)]


def test_the_readme_setup_for_linux_works_as_written(tmp_path):
    """A student who has torch already (its folder reached by a .pth file, as --system-site-packages would reach
    a system torch): no download of torch, and otherwise the block's lines exactly."""
    home = tmp_path / "home"
    handout = home / "handout"
    home.mkdir()
    result = run_cli("release", handout)
    assert result.returncode == 0, result.stderr
    lines = setup_block((handout / "README.md").read_text(), "bash")
    assert lines[0] == CREATE_VENV
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    site = f".venv/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    has_torch = f"printf '%s\\n' {' '.join(ours)} > {site}/has-torch.pth"
    script = "\n".join(["set -ex", lines[0], has_torch, *lines[1:], "cd exercises", "python -m grader"])
    (home / "setup.sh").write_text(script + "\n")
    base_python = Path(sys._base_executable).parent  # python3 of the Python this venv was made from
    needed = sorted({Path(p).resolve() for p in (sys.base_prefix, base_python, *ours)})
    env = {"PATH": f"{base_python}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}  # this machine's package index
    command = as_a_student(home, needed)(["bash", str(home / "setup.sh")])
    result = subprocess.run(command, cwd=handout, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (handout / ".venv").stat().st_uid == (ORDINARY_UID if os.geteuid() == 0 else os.geteuid())
    from_handout, from_exercises = result.stdout.split("Attention exercises: ")[1:]
    assert from_handout.startswith("./exercises (public checks only)")
    assert from_exercises.startswith(". (public checks only)") and "attention.py" in from_exercises
    assert all("Total: 0/100 (public checks only)" in out for out in (from_handout, from_exercises))
    installed = subprocess.run(command[:-2] + [str(handout / ".venv/bin/python"), "-c",
                                               "import grader; print(grader.__file__)"],
                               cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert Path(installed.stdout.strip()).is_relative_to(handout / ".venv"), installed.stderr
