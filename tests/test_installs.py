"""A regular install grades as the checkout does: the project's wheel, in a virtual environment outside the
checkout, grades a class folder outside it alone and in a batch, as root and as an ordinary uid; the instructor
commands that build from the checkout's files say in one line that they need one."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli
from grader.package_files import grader_files
from grader.sandbox import detect, unprivileged_command
from ordinary_user import ORDINARY_UID, ordinary_user_view

CLASS = {"reference": ROOT / "solutions" / "attention.py", "diagonal": SUBMISSIONS / "mask_includes_diagonal.py"}
# Added to every submission: whether its worker sees the hidden suites of the grader package installed in the
# Python it runs (the wheel's, in its site-packages).
LOOKS_FOR_HIDDEN_SUITES = """
import os as _os, sysconfig as _sysconfig
print("HIDDEN SUITES SEEN:", _os.path.exists(_os.path.join(_sysconfig.get_path("purelib"), "grader", "suites")))
"""


def class_folder(folder: Path) -> Path:
    """A copy of the class's submissions in folder/submissions, outside the checkout; returns folder."""
    (folder / "submissions").mkdir(parents=True)
    for student, source in CLASS.items():
        (folder / "submissions" / f"{student}.py").write_text(source.read_text() + LOOKS_FOR_HIDDEN_SUITES)
    return folder


def scores(report: dict) -> dict:
    return {concept["id"]: concept["score"] for concept in report["concepts"]}


def batch_reports(out: Path) -> dict:
    return {student: json.loads((out / "reports" / f"{student}.json").read_text()) for student in CLASS}


def outside_env(home: Path) -> dict:
    """An environment that says nothing of the checkout: no PYTHONPATH or other Python settings."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a virtual environment outside the checkout that holds the project's wheel, built from a
    copy of the checkout, and takes torch, numpy, pytest and rich from the tests' own through a .pth file."""
    place = tmp_path_factory.mktemp("install")
    source = place / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(place / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    venv = place / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    *map(str, (place / "dist").glob("*.whl"))], check=True, capture_output=True, timeout=300)
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    (site_packages / "tests-packages.pth").write_text("".join(f"{folder}\n" for folder in ours))
    return python


@pytest.fixture(scope="module")
def checkout_scores(tmp_path_factory) -> dict:
    """Each student's concept scores as the checkout's own grader gives them."""
    folder = class_folder(tmp_path_factory.mktemp("checkout-grades"))
    result = run_cli("batch", folder / "submissions", "--out", folder / "out", timeout=600)
    assert result.returncode == 0, result.stderr
    return {student: scores(report) for student, report in batch_reports(folder / "out").items()}


def test_the_grader_comes_from_the_wheel(installed, tmp_path):
    found = subprocess.run([str(installed), "-c", "import grader; print(grader.__file__)"], cwd=tmp_path,
                           env=outside_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert Path(found.stdout.strip()).is_relative_to(installed.parent.parent), found.stderr


def as_this_user(python: Path, folder: Path):
    """run(argv): the installed grader run by this user in folder."""
    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-m", "grader", *argv], cwd=folder, env=outside_env(folder),
                              capture_output=True, text=True, timeout=300)
    return run


def as_ordinary_uid(python: Path, folder: Path):
    """run(argv) as ORDINARY_UID, which owns folder and sees the installation's folders at their own paths
    (bubblewrap opens the closed folders on the way, as tests/ordinary_user.py does); skips where it cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("the tests run as an ordinary user already: the other case graded as one")
    if not (shutil.which("setpriv") and detect().bwrap):
        pytest.skip("grading as an ordinary uid here needs setpriv and bubblewrap, to reach the installation")
    folder.chmod(0o755)
    for path in (folder, *folder.rglob("*")):
        os.chown(path, ORDINARY_UID, ORDINARY_UID)
    needed = sorted({Path(p).resolve() for p in (python.parent.parent, sys.base_prefix, sys.executable,
                                                 sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))})
    view = [detect().bwrap, *ordinary_user_view(needed, folder), "--die-with-parent", "--chdir", str(folder)]

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        command = [*view, *unprivileged_command([str(python), *argv], ORDINARY_UID)]
        return subprocess.run(command, env=outside_env(folder), capture_output=True, text=True, timeout=300)

    probe = run(["-c", "import torch, grader"])
    if probe.returncode != 0:
        pytest.skip(f"uid {ORDINARY_UID} cannot run the installed grader: {probe.stderr.strip()[-200:]}")
    return lambda argv: run(["-m", "grader", *argv])


@pytest.mark.parametrize("who", ["this user", "an ordinary uid"])
def test_the_installed_grader_grades_as_the_checkout_alone_and_in_a_batch(who, installed, checkout_scores,
                                                                           tmp_path):
    folder = class_folder(tmp_path / "course")
    run = (as_this_user if who == "this user" else as_ordinary_uid)(installed, folder)
    alone = {}
    for student in CLASS:
        result = run([f"submissions/{student}.py", "--json", f"{student}.json"])
        assert result.returncode == 0, result.stderr
        alone[student] = json.loads((folder / f"{student}.json").read_text())
    result = run(["batch", "submissions", "--out", "out"])
    assert result.returncode == 0, result.stderr
    for reports in (alone, batch_reports(folder / "out")):
        assert {student: scores(report) for student, report in reports.items()} == checkout_scores
        assert all("HIDDEN SUITES SEEN: False" in report["output"] for report in reports.values())
    assert sum(checkout_scores["reference"].values()) == 100 > sum(checkout_scores["diagonal"].values())


@pytest.mark.parametrize("command", [["release", "handout"], ["gradescope", "autograder.zip"],
                                     ["nbgrader", "course"]])
def test_commands_that_build_from_the_checkout_say_they_need_one(command, installed, tmp_path):
    result = as_this_user(installed, tmp_path)(command)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "needs a checkout of the project" in result.stderr, result.stderr
    assert not (tmp_path / command[1]).exists()


def test_prairielearn_from_the_wheel_ships_the_checkouts_grader(installed, tmp_path):
    result = as_this_user(installed, tmp_path)(["prairielearn", "course"])
    assert result.returncode == 0, result.stderr
    shipped = tmp_path / "course" / "serverFilesCourse" / "attention_grader"
    assert all((shipped / name).read_bytes() == content for name, content in grader_files())
