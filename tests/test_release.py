"""The student release: stubs, notebook and public checks, and nothing from which solutions or hidden tests
could be rebuilt; graded on a machine whose CPU kernels differ from the one that made it, as the full grader
grades with the public checks."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tokenize
from pathlib import Path

import pytest
import torch

from conftest import ROOT, SUBMISSIONS, grade_json, run_cli
from grader.catalogue import load
from grader.installation import TORCH_REQUIREMENT
from grader.pipeline import grade_submission
from grader.submission import locate

MIN_LINE = 24  # shorter code lines (`return x`, `super().__init__()`) say nothing about a solution
# Lines that are Python plumbing or signatures (the stubs have every signature), not solution code.
TRIVIAL_PREFIXES = ("import ", "from ", "except ", "with ", "def ", "class ", "@")


def code_lines(source: str) -> set[str]:
    """Each line of Python source without comments, whitespace collapsed."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.COMMENT]
        source = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return {" ".join(line.split()) for line in source.splitlines() if line.strip()}


def normalized_text(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def kernels_other_than_this_machines() -> tuple[str, ...]:
    """ATEN_CPU_CAPABILITY values that make torch use other CPU kernels than it picks here: the plain ones, whose
    torch.randn differs from the vectorised ones' in the last bits, and AVX2 where the CPU has AVX-512."""
    native = torch.backends.cpu.get_cpu_capability()
    return (("default",) if native != "DEFAULT" else ()) + (("avx2",) if native == "AVX512" else ())


OTHER_KERNELS = kernels_other_than_this_machines()
needs_other_kernels = pytest.mark.skipif(not OTHER_KERNELS, reason="this CPU has only torch's plain kernels")


def other_kernels(capability: str | None = None) -> dict:
    """The environment that has torch (in the grader and in its worker) use these kernels; none: this CPU's."""
    return {} if capability is None else {"ATEN_CPU_CAPABILITY": capability}


def public_by_design() -> str:
    """What students are meant to have: the stubs and the public checks."""
    paths = [*(ROOT / "exercises").glob("*.py"), *(ROOT / "grader" / "suites" / "public").glob("*.py")]
    return "\n".join("\n".join(sorted(code_lines(path.read_text()))) for path in paths)


def secret_lines() -> set[str]:
    """Non-trivial lines of the solutions and of the hidden suites that the public material does not hold."""
    lines = set()
    for path in [*(ROOT / "solutions").rglob("*.py"), *(ROOT / "grader" / "suites" / "hidden").rglob("*.py")]:
        lines |= code_lines(path.read_text())
    public = public_by_design()
    return {line for line in lines
            if len(line) >= MIN_LINE and not line.startswith(TRIVIAL_PREFIXES) and line not in public}


def release_text(release: Path) -> str:
    """Every text in the release, notebooks parsed into their cells' sources, caches and binaries excluded."""
    chunks = []
    for path in sorted(release.rglob("*")):
        # handout.zip holds the same files (tests/test_colab.py)
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pt", ".pyc", ".zip"):
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":
            cells = json.loads(text)["cells"]
            text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)
        chunks.append(normalized_text(text))
    return "\n".join(chunks)


def leaks(release: Path) -> list[str]:
    text = release_text(release)
    return sorted(line for line in secret_lines() if line in text)


def test_release_contents(release):
    assert (release / "exercises" / "attention.py").read_text() == (ROOT / "exercises" / "attention.py").read_text()
    assert all((release / name).is_file() for name in ("attention.ipynb", "README.md", "pyproject.toml"))
    assert not (release / "grader" / "suites" / "hidden").exists()
    assert not (release / "solutions").exists()
    assert not (release / "grader" / "live_reference.py").exists() and "def _attention" not in release_text(release)
    assert (release / "requirements.txt").read_text().splitlines()[0] == TORCH_REQUIREMENT


def test_release_leaks_no_solution_or_hidden_test(release):
    assert len(secret_lines()) > 50  # the search has something to look for
    assert leaks(release) == []


def test_a_planted_leak_is_found(release, tmp_path):
    planted = tmp_path / "planted"
    shutil.copytree(release, planted)
    notebook = json.loads((planted / "attention.ipynb").read_text())
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": ["attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)\n"]})
    (planted / "attention.ipynb").write_text(json.dumps(notebook))
    assert any("masked_fill_" in line for line in leaks(planted))
    shutil.copy(ROOT / "grader" / "suites" / "hidden" / "test_causal_attention.py", planted / "grader" / "x.py")
    assert any("dropout_in_eval" in line or "mask_not_sliced" in line for line in leaks(planted))


def self_check(release, *args, env=None):
    result = run_cli(*args, cwd=release, env=env)
    assert result.returncode == 0, result.stderr
    assert "sandbox" not in (result.stdout + result.stderr).lower()
    return result.stdout


def test_self_check_of_the_stubs_is_public_only(release):
    out = self_check(release)
    assert "public checks only" in out and "Total: 0/100" in out and "not implemented yet" in out


def test_self_check_scores_full_scale_and_diagnoses(release, tmp_path):
    shutil.copy(ROOT / "solutions" / "attention.py", tmp_path / "mine.py")
    assert "Total: 100/100 (public checks only)" in self_check(release, tmp_path / "mine.py")
    out = self_check(release, SUBMISSIONS / "mask_after_softmax.py", "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["checks"] == "public only"
    assert {t["visibility"] for t in report["tests"]} == {"public"}
    causal = next(c for c in report["concepts"] if c["id"] == "causal_mask")
    # Its layers keep the contract and its softmax normalises the keys (two tests of four); the mask's two
    # public checks fail.
    assert causal["misconceptions"] == ["mask_after_softmax"] and causal["score"] == 6
    assert re.search(r"Total: 94/100", out)


def test_self_check_recognises_other_layouts(release, tmp_path):
    """With other CPU kernels, where it can: the layout is found by probing, on families of its own."""
    from edited_submissions import case_source

    (tmp_path / "fused.py").write_text(case_source("fused__unscaled_scores"))
    self_check(release, tmp_path / "fused.py", "--json", tmp_path / "r.json", env=other_kernels(*OTHER_KERNELS[:1]))
    report = json.loads((tmp_path / "r.json").read_text())
    lost = sorted(c["id"] for c in report["concepts"] if c["score"] < c["max_score"])
    assert lost == ["causal_mask", "multihead_attention"]  # the contract's structure tests only (public checks)
    assert "CausalAttention: q/k/v fused in qkv (order k, v, q), mask in self.mask" in report["layouts"]


def test_release_refuses_to_overwrite_without_force(release):
    result = run_cli("release", release)
    assert result.returncode == 2 and "--force" in result.stderr


def test_the_release_draws_the_same_pictures_from_its_stored_reference_outputs(release, tmp_path):
    """The expected side comes from outputs stored when the release was built: the same as the grader's own."""
    from edited_submissions import case_source

    (tmp_path / "fused.py").write_text(case_source("fused__unscaled_scores"))
    self_check(release, tmp_path / "fused.py", "--json", tmp_path / "release.json")
    result = run_cli(tmp_path / "fused.py", "--json", tmp_path / "instructor.json")
    assert result.returncode == 0, result.stderr
    drawn, reference = (json.loads((tmp_path / f"{name}.json").read_text())["pictures"]
                        for name in ("release", "instructor"))
    assert len(drawn) == 9 and all(p["problem"] is None for p in drawn)
    assert drawn == reference


@needs_other_kernels
@pytest.mark.parametrize("capability", OTHER_KERNELS)
def test_a_release_graded_with_other_cpu_kernels_gives_the_solution_full_marks(release, capability):
    out = self_check(release, ROOT / "solutions", env=other_kernels(capability))
    assert "Total: 100/100 (public checks only)" in out


# Mistakes the public checks find on each axis of the stored families: scale and mask, values, heads, out_proj.
ACROSS_THE_AXES = ("two_mistakes_unscaled_scores__mask_includes_diagonal", "mask_after_softmax",
                   "wrong_value_projection", "merge_without_transpose", "missing_out_proj")


def concept_grades(report_json: dict) -> dict:
    return {c["id"]: (c["score"], c["status"], c["misconceptions"]) for c in report_json["concepts"]}


@needs_other_kernels
@pytest.mark.parametrize("name", ACROSS_THE_AXES)
def test_a_release_graded_with_other_cpu_kernels_grades_as_the_full_grader_on_the_public_checks(release, tmp_path,
                                                                                                name):
    path = SUBMISSIONS / f"{name}.py"
    in_release = grade_json(path, tmp_path=tmp_path, cwd=release, env=other_kernels(OTHER_KERNELS[0]))
    full = grade_submission(locate(str(path)), load(), visibilities=("public",)).to_json()
    assert concept_grades(in_release) == concept_grades(full)
    assert in_release["score"] < in_release["max_score"]


def test_self_check_with_a_python_only_its_owner_may_enter(release, tmp_path):
    """A virtual environment made under umask 077: as root, the workers' unprivileged uid cannot reach it, so
    they keep the student's uid (the release's sandbox asks), and the self-check grades as usual."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = sysconfig.get_path("purelib")  # torch and numpy; the grader is the release's own
    (Path(sysconfig.get_path("purelib", vars={"base": str(venv)})) / "ours.pth").write_text(f"{ours}\n")
    venv.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "grader"], cwd=release, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Total: 0/100 (public checks only)" in result.stdout and "not implemented yet" in result.stdout
    assert "could not start" not in result.stdout


def test_the_handout_notebook_untouched_or_complete_grades_without_a_note(release, tmp_path):
    """Its check cells are the handout's own (marked in their metadata): grading skips them, so neither the
    untouched notebook nor a complete one gets a "cell failed" note, in the terminal, the JSON or the page."""
    from notebook_submissions import filled

    complete = tmp_path / "complete.ipynb"
    complete.write_text(json.dumps(filled(json.loads((release / "attention.ipynb").read_text()), {})))
    for notebook, total in ((release / "attention.ipynb", 0), (complete, 100)):
        out = self_check(release, notebook, "--json", tmp_path / "r.json", "--html", tmp_path / "f.html")
        report = json.loads((tmp_path / "r.json").read_text())
        assert (report["score"], report["notes"]) == (total, []), report["notes"]
        assert "cell failed" not in out and "ModuleNotFoundError" not in out
        assert "Note:" not in (tmp_path / "f.html").read_text()
