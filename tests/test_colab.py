"""Colab: the release's handout.zip (the release's files, the same bytes every time) and the notebook's first
code cell, which in Colab installs the handout from that zip or a clone and works in its folder, and elsewhere
does nothing."""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from conftest import clean_env, python_without_the_project, run_cli
from grader.colab import HANDOUT_FOLDER, HANDOUT_ZIP, INSTALL_CELL

PIP = [sys.executable, "-m", "pip", "install", "-q"]
CELL_INSTALLS = [[*PIP, "--no-deps", f"./{HANDOUT_FOLDER}"], [*PIP, "numpy", "pytest>=7.4", "rich>=13"]]


def release_files(release: Path) -> dict[str, bytes]:
    """The release's files by their path in the zip, the zip itself left out."""
    return {f"{HANDOUT_FOLDER}/{p.relative_to(release).as_posix()}": p.read_bytes()
            for p in release.rglob("*") if p.is_file() and p.name != HANDOUT_ZIP}


def test_the_zip_holds_the_release_s_files_under_one_folder_and_no_cache(release):
    with zipfile.ZipFile(release / HANDOUT_ZIP) as archive:
        names = archive.namelist()
        assert {name: archive.read(name) for name in names} == release_files(release)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert names == sorted(names) and len(names) > 40
    for needed in ("pyproject.toml", "README.md", "attention.ipynb", "exercises/attention.py",
                   "grader/__main__.py", "grader/in_notebook.py", "grader/reference_outputs.pt"):
        assert f"{HANDOUT_FOLDER}/{needed}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".egg-info" in n or "/build/" in n]


def test_two_releases_give_the_same_zip_whatever_their_folder(release, tmp_path):
    result = run_cli("release", tmp_path / "again", timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'again' / HANDOUT_ZIP}" in result.stdout
    assert (tmp_path / "again" / HANDOUT_ZIP).read_bytes() == (release / HANDOUT_ZIP).read_bytes()


def run_cell(monkeypatch, folder: Path, in_colab: bool, source: str = INSTALL_CELL):
    """Run the cell in folder as a notebook would, with Colab's module imported or not; returns what it printed
    and the pip commands it ran (recorded, not run; git runs). Outside Colab, starting any process fails."""
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    ran, real_run = [], subprocess.run

    def recorded(argv, **options):
        if argv[0] == "git":
            return real_run(argv, **options)
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    def refused(*args, **options):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "run", recorded if in_colab else refused)
    if not in_colab:
        monkeypatch.setattr(subprocess, "Popen", refused)
    monkeypatch.chdir(folder)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "colab-cell", "exec"), {})
    return printed.getvalue(), ran


def test_outside_colab_the_cell_prints_nothing_and_starts_nothing(monkeypatch, tmp_path, release):
    shutil.copy(release / HANDOUT_ZIP, tmp_path)
    printed, ran = run_cell(monkeypatch, tmp_path, in_colab=False)
    assert (printed, ran, Path.cwd()) == ("", [], tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [HANDOUT_ZIP]


def test_in_colab_the_cell_installs_the_uploaded_zip_and_works_in_its_folder(monkeypatch, tmp_path, release):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(release / HANDOUT_ZIP, content)
    printed, ran = run_cell(monkeypatch, content, in_colab=True)
    assert (printed, ran, Path.cwd()) == ("", CELL_INSTALLS, content / HANDOUT_FOLDER)
    assert (content / HANDOUT_FOLDER / "pyproject.toml").read_bytes() == (release / "pyproject.toml").read_bytes()
    # Run again in the handout's folder: nothing to do. From /content again (a new runtime): the student's work
    # in the unzipped folder stays, and the handout is installed again.
    assert run_cell(monkeypatch, Path.cwd(), in_colab=True) == ("", [])
    mine = content / HANDOUT_FOLDER / "exercises" / "attention.py"
    mine.write_text("# my work\n")
    assert run_cell(monkeypatch, content, in_colab=True) == ("", CELL_INSTALLS)
    assert mine.read_text() == "# my work\n"


def test_in_colab_without_the_zip_the_cell_says_in_one_line_to_upload_it(monkeypatch, tmp_path):
    printed, ran = run_cell(monkeypatch, tmp_path, in_colab=True)
    assert printed == f"Upload {HANDOUT_ZIP} to the Files pane on the left, then run this cell again.\n"
    assert (ran, Path.cwd(), list(tmp_path.iterdir())) == ([], tmp_path, [])


def test_in_colab_the_cell_clones_the_repository_the_instructor_filled_in(monkeypatch, tmp_path, release):
    if not shutil.which("git"):
        pytest.skip("cloning needs git")
    repository = tmp_path / "course-handout"
    shutil.copytree(release, repository, ignore=shutil.ignore_patterns(HANDOUT_ZIP))
    for argv in (["init", "-q"], ["add", "."], ["-c", "user.name=I", "-c", "user.email=i@example.org",
                                                "commit", "-q", "-m", "handout"]):
        subprocess.run(["git", *argv], cwd=repository, check=True, capture_output=True)
    filled_in = INSTALL_CELL.replace('HANDOUT_REPOSITORY = ""', f'HANDOUT_REPOSITORY = "{repository}"')
    assert filled_in != INSTALL_CELL
    content = tmp_path / "content"
    content.mkdir()
    printed, ran = run_cell(monkeypatch, content, in_colab=True, source=filled_in)
    assert (printed, ran, Path.cwd()) == ("", CELL_INSTALLS, content / HANDOUT_FOLDER)
    assert (content / HANDOUT_FOLDER / "attention.ipynb").is_file()


def test_the_cell_installs_the_handout_from_the_zip_into_a_fresh_environment(release, tmp_path):
    """For real, in the Python of a new virtual environment that has torch, numpy, pytest and rich already (as
    Colab has), reached by a .pth file, and pip: the cell's pip commands, then the grader from the handout."""
    python = python_without_the_project(tmp_path / "venv", pip=True)
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(release / HANDOUT_ZIP, content)
    as_colab = ("import sys, types\n"
                "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                f"exec({INSTALL_CELL!r})\n"
                "from grader.in_notebook import check\n"
                "import os; print(os.getcwd())\n")
    env = clean_env(tmp_path, **{k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    result = subprocess.run([str(python), "-c", as_colab], cwd=content, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert Path(result.stdout.splitlines()[-1]) == content / HANDOUT_FOLDER
    # Installed: found from any folder (in handout/ itself its own grader/ comes first, the same files).
    found = subprocess.run([str(python), "-c", "import grader; print(grader.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert Path(found.stdout.strip()).is_relative_to(tmp_path / "venv"), found.stderr
    graded = subprocess.run([str(python), "-m", "grader"], cwd=content / HANDOUT_FOLDER, env=env,
                            capture_output=True, text=True, timeout=300)
    assert "Total: 0/100 (public checks only)" in graded.stdout, graded.stderr[-3000:]
    notebook = json.loads((content / HANDOUT_FOLDER / "attention.ipynb").read_text())
    assert [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"][0] == INSTALL_CELL
