"""Grading speed against the cost of importing torch, measured side by side on this machine.

Run by hand (not part of the test suite):

    python benchmarks/bench.py [--sizes 10 100 1000] [--repeats 3] [--nbgrader-sizes 10] [--cluster-sizes 100 1000]
                               [--jobs N] [--user UID --user-python PATH] [--write]
    python benchmarks/bench.py --instant [--repeats 5] [--write]

--instant times the instant checks instead (benchmarks/instant.py): check() in Jupyter after the first, a
--watch re-grade, and the completed handout notebook, on each isolation backend; --write puts them into their
own table of benchmarks/README.md.

Every time is a median of --repeats runs (nbgrader's autograde runs once per size: it is slow). Each run
follows a bare `python -c "import torch"` run, and its ratio divides by that one: the ratios in the table are
medians of these paired ratios, which stay honest on a machine whose speed drifts. Peak memory is the
largest proportional set size (PSS, shared pages counted once) of the whole process tree, sampled every
50 ms in one more run (sampling costs CPU, so the timed runs do not sample). --write puts the table into benchmarks/README.md and the plot into benchmarks/speed.svg.
"""
import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from notebook_submissions import filled, nbgrader_env  # noqa: E402 - found through the line above
# Notebook students for the nbgrader comparison: a correct one, and mistakes the course's concepts catch.
NOTEBOOK_STUDENTS = ({}, {"CausalAttention": "mask_includes_diagonal", "MultiHeadAttention": "mask_includes_diagonal"},
                     {"attention_scores": "scores_transposed"}, {"MultiHeadAttention": "missing_out_proj"})


def process_tree_pss(root_pid: int) -> int:
    """Bytes of PSS of root_pid and all its descendants (0 for processes that ended meanwhile)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(name))
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def run(command, cwd=ROOT, env=None, sample_memory=False) -> tuple[float, float]:
    """Wall seconds of one command, which must succeed, and (when asked) the peak PSS of its tree in MiB.

    Sampling memory costs CPU, so timed runs do not sample: memory comes from a run of its own.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0

    def sample():
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, process_tree_pss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    if sample_memory:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{stderr.decode()[-2000:]}")
    return elapsed, peak / 2**20


TORCH_IMPORT = [sys.executable, "-c", "import torch"]
IMPORT_TIMES: list[float] = []  # every baseline run of the benchmark


@dataclass(frozen=True)
class Measurement:
    seconds: float  # median, per submission where `per` was given
    ratio: float  # median over runs of seconds / the bare torch import run just before
    peak_mib: float | None  # peak PSS of the process tree, from a run of its own

    def row(self, what: str, digits: int = 2) -> tuple[str, str, str, str]:
        memory = "" if self.peak_mib is None else f"{self.peak_mib:.0f} MiB"
        return what, f"{self.seconds:.{digits}f} s", memory, f"{self.ratio:.{digits}f}"


def measure(command, repeats, cwd=ROOT, env=None, prepare=None, per=1, memory=True) -> Measurement:
    """Time `repeats` runs of a command, each paired with a bare torch import run just before it.

    Pairing keeps the ratios honest on a machine whose speed drifts; prepare() runs before each run.
    """
    seconds, ratios = [], []
    for _ in range(repeats):
        baseline = run(TORCH_IMPORT)[0]
        IMPORT_TIMES.append(baseline)
        if prepare:
            prepare()
        elapsed = run(command, cwd, env)[0] / per
        seconds.append(elapsed)
        ratios.append(elapsed / baseline)
    peak = None
    if memory:
        if prepare:
            prepare()
        peak = run(command, cwd, env, sample_memory=True)[1]
    return Measurement(statistics.median(seconds), statistics.median(ratios), peak)


def synthetic_class(folder: Path, n: int) -> Path:
    """n single-file submissions cycling through the hand-written correct and mistaken ones."""
    sources = sorted(SUBMISSIONS.glob("*.py"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shutil.copy(sources[i % len(sources)], folder / f"student{i:04d}.py")
    return folder


def student_release(folder: Path) -> Path:
    """The student release with the exercises solved, as a student who finished runs the self-check."""
    subprocess.run([sys.executable, "-m", "grader", "release", str(folder)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    shutil.copy(ROOT / "solutions" / "attention.py", folder / "exercises" / "attention.py")
    return folder


def nbgrader_course(folder: Path, n: int) -> Path:
    """The project's nbgrader course with n submitted notebooks, cycling through NOTEBOOK_STUDENTS."""

    course = folder / "course"
    subprocess.run([sys.executable, "-m", "grader", "nbgrader", str(course)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "attention", "--force"], cwd=course,
                   env=nbgrader_env(), check=True, capture_output=True)
    release = json.loads((course / "release" / "attention" / "attention.ipynb").read_text())
    for i in range(n):
        submitted = course / "submitted" / f"student{i:04d}" / "attention"
        submitted.mkdir(parents=True)
        notebook = filled(release, NOTEBOOK_STUDENTS[i % len(NOTEBOOK_STUDENTS)])
        (submitted / "attention.ipynb").write_text(json.dumps(notebook))
    return course


def nbgrader_totals(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course.name) as gradebook:
        return {s.student.id: round(s.score, 2) for s in gradebook.assignment_submissions("attention")}


def batch_totals(out: Path) -> dict[str, float]:
    with open(out / "grades.csv", newline="") as f:
        return {row["student"]: round(float(row["total"]), 2) for row in csv.DictReader(f)}


def plot_svg(series: dict[str, list[tuple[int, float]]]) -> str:
    """Seconds per submission against N (both axes logarithmic), one polyline per series."""
    import math

    width, height, left, bottom, top, right = 680, 320, 70, 40, 20, 240
    points = [p for values in series.values() for p in values]
    xs = [math.log10(n) for n, _ in points]
    ys = [math.log10(s) for _, s in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def at(n, s):
        x = left + (math.log10(n) - x0) / (x1 - x0) * (width - left - right)
        y = top + (y1 - math.log10(s)) / (y1 - y0) * (height - top - bottom)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for e in range(x0, x1 + 1):
        x = at(10 ** e, 10 ** y0).split(",")[0]
        parts.append(f'<line x1="{x}" x2="{x}" y1="{top}" y2="{height - bottom}" stroke="#ddd"/>'
                     f'<text x="{x}" y="{height - bottom + 16}" text-anchor="middle">{10 ** e:g}</text>')
    for e in range(y0, y1 + 1):
        y = at(10 ** x0, 10 ** e).split(",")[1]
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{float(y) + 4}" text-anchor="end">{10 ** e:g} s</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">submissions (N)</text>')
    parts.append(f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(top + height - bottom) / 2})">seconds per submission</text>')
    colours = ("#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd")
    for i, (name, values) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        line = " ".join(at(n, s) for n, s in sorted(values))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{at(n, s).split(",")[0]}" cy="{at(n, s).split(",")[1]}" r="3" fill="{colour}"/>'
                  for n, s in values]
        parts.append(f'<text x="{width - right + 10}" y="{top + 16 + 18 * i}" fill="{colour}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


class Rows(list):
    """The table's rows, each also printed as soon as it is measured."""

    def append(self, row):
        print(" | ".join(row), flush=True)
        super().append(row)


def as_ordinary_user(uid: int, python: str, n: int, repeats: int, jobs: list[str]) -> Measurement | None:
    """As root: the same class graded by an ordinary uid (setpriv), in a folder of its own; None, saying why,
    where that cannot run (not root, no setpriv, an interpreter or project that uid cannot use)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    from grader.sandbox import unprivileged_command

    folder = Path(tempfile.mkdtemp(prefix="bench-user-"))
    try:
        klass = synthetic_class(folder / "class", n)
        out = folder / "out"
        for path in (folder, *folder.rglob("*")):
            os.chown(path, uid, uid)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(ROOT)}
        batch = [python, "-m", "grader", "batch", str(klass), "--out", str(out)]
        command = unprivileged_command([*batch, *jobs], uid)
        # The probe is a batch of one student: it needs the interpreter, torch, the project and a pool.
        probe = subprocess.run(unprivileged_command([*batch, "--student", "student0000"], uid), cwd=ROOT,
                               capture_output=True, text=True, env=env)
        if probe.returncode != 0:
            said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"skipped the ordinary-user row: uid {uid} cannot grade with {python} ({said}); give "
                  "--user-python, an interpreter with torch in a folder that uid can enter", file=sys.stderr)
            return None
        return measure(command, repeats, env=env, prepare=lambda: shutil.rmtree(out, ignore_errors=True), per=n,
                       memory=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cluster_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        print("skipped the cluster rows: install the cluster extra (pip install '.[cluster]')", file=sys.stderr)
        return False
    return True


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or platform.machine())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    return (f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()}, Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 60, 100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nbgrader-sizes", type=int, nargs="*", default=[10],
                        help="class sizes for the comparison with nbgrader autograde (none to skip)")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--instant", action="store_true",
                        help="time only the instant checks: check() after the first, --watch, the completed notebook")
    parser.add_argument("--user", type=int, default=1000,
                        help="as root: also time the batch as this ordinary uid, through setpriv")
    parser.add_argument("--user-python", default=sys.executable,
                        help="the interpreter for --user, one that uid can run (default: this one)")
    parser.add_argument("--cluster-sizes", type=int, nargs="*", default=[100, 1000],
                        help="class sizes also graded on a Dask LocalCluster, --scheduler local:N (none to skip)")
    parser.add_argument("--cluster-workers", type=int, default=os.cpu_count() or 1,
                        help="N of --scheduler local:N (default: one worker per core)")
    options = parser.parse_args(argv)
    if options.instant:
        return instant_table(options, argv)
    python = sys.executable
    jobs = ["--jobs", str(options.jobs)] if options.jobs else []
    series = {"batch (.py files)": [], "batch as an ordinary user": [], "batch on a Dask LocalCluster": [],
              "batch (nbgrader notebooks)": [], "nbgrader autograde": []}
    cluster_sizes = set(options.cluster_sizes) if options.cluster_sizes and cluster_available() else set()
    rows = Rows()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        release = student_release(tmp / "release")
        rows.append(measure([python, "-m", "grader"], options.repeats, cwd=release).row(
            "student self-check (release, public checks), complete submission"))
        rows.append(measure([python, "-m", "grader", "solutions/attention.py"], options.repeats).row(
            "instructor, one submission, all checks"))
        for n in options.sizes:
            klass = synthetic_class(tmp / f"class{n}", n)
            out = tmp / f"out{n}"
            batch = measure([python, "-m", "grader", "batch", str(klass), "--out", str(out), *jobs], options.repeats,
                            prepare=lambda out=out: shutil.rmtree(out, ignore_errors=True), per=n)
            series["batch (.py files)"].append((n, batch.seconds))
            rows.append(batch.row(f"batch, {n} .py submissions, per submission", 3))
            ordinary = as_ordinary_user(options.user, options.user_python, n, options.repeats, jobs)
            if ordinary is not None:
                series["batch as an ordinary user"].append((n, ordinary.seconds))
                rows.append(ordinary.row(f"batch, {n} .py submissions, per submission, as uid {options.user} "
                                         f"(ratio to root: {ordinary.seconds / batch.seconds:.2f})", 3))
            if n in cluster_sizes:
                local = f"local:{options.cluster_workers}"
                cluster = measure([python, "-m", "grader", "batch", str(klass), "--out", str(out), "--scheduler", local],
                                  options.repeats, prepare=lambda out=out: shutil.rmtree(out, ignore_errors=True),
                                  per=n, memory=False)
                series["batch on a Dask LocalCluster"].append((n, cluster.seconds))
                rows.append(cluster.row(f"batch, {n} .py submissions, per submission, `--scheduler {local}` "
                                        f"(ratio to the local batch: {cluster.seconds / batch.seconds:.2f})", 3))
        for n in options.nbgrader_sizes:
            course = nbgrader_course(tmp / f"nbgrader{n}", n)
            out = tmp / f"nbout{n}"
            config = course / "source" / "attention" / "assignment.toml"
            batch = measure([python, "-m", "grader", "batch", str(course / "submitted"), "--out", str(out),
                             "--config", str(config), *jobs], options.repeats,
                            prepare=lambda out=out: shutil.rmtree(out, ignore_errors=True), per=n)
            autograde = measure([python, "-m", "nbgrader", "autograde", "attention", "--force"], 1, cwd=course,
                                env=nbgrader_env(), per=n, memory=False)
            ours, theirs = batch_totals(out), nbgrader_totals(course)
            agree = sum(abs(ours.get(s, -1) - t) < 0.01 for s, t in theirs.items())
            series["batch (nbgrader notebooks)"].append((n, batch.seconds))
            series["nbgrader autograde"].append((n, autograde.seconds))
            rows.append(batch.row(f"batch, {n} nbgrader notebooks, per submission", 3))
            what, seconds, memory, ratio = autograde.row(f"`nbgrader autograde`, same {n} notebooks, per submission "
                                                         "(1 run)")
            rows.append((what, seconds, memory, f"{ratio} ({autograde.seconds / batch.seconds:.0f}x batch's time; "
                         f"same total for {agree}/{len(theirs)} students)"))
    table = results_table(rows, memory=True)
    if options.write:
        (ROOT / "benchmarks" / "speed.svg").write_text(plot_svg({k: v for k, v in series.items() if v}))
        write_results("results", table + "\n\n![seconds per submission against N](speed.svg)", options, argv)


def results_table(rows: list, memory: bool) -> str:
    """The rows as a Markdown table after the bare import's, printed with the machine; `memory`: with the PSS
    column."""
    rows = [("bare `python -c \"import torch\"` (median of every baseline run)",
             f"{statistics.median(IMPORT_TIMES):.2f} s", "", "1.00"), *rows]
    if memory:
        table = ["| measurement | median | peak memory (PSS) | ratio to `import torch` |", "| --- | ---: | ---: | ---: |"]
        table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    else:
        table = ["| measurement | median | ratio to `import torch` |", "| --- | ---: | ---: |"]
        table += [f"| {a} | {b} | {d} |" for a, b, _, d in rows]
    print(f"machine: {machine()}\n" + "\n".join(table))
    return "\n".join(table)


def write_results(name: str, body: str, options, argv):
    """Put `body` between benchmarks/README.md's `<!-- NAME -->` and `<!-- end of NAME -->` (added at the end
    where they are missing), after a line saying how it was measured; what follows the end is other sections."""
    readme = ROOT / "benchmarks" / "README.md"
    text = readme.read_text() if readme.exists() else ""
    marker, end = f"<!-- {name} -->", f"<!-- end of {name} -->"
    head = text.split(marker)[0] if marker in text else (text.rstrip() + "\n\n" if text else "# Grading speed\n\n")
    rest = text.split(end, 1)[1] if end in text else "\n"
    command = "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    readme.write_text(head + marker + f"\nMeasured with `{command.strip()}` on {machine()}; {options.repeats} runs "
                      "each, medians.\n\n" + body + "\n" + end + rest)


def instant_table(options, argv):
    from instant import instant_rows

    with tempfile.TemporaryDirectory() as tmp:
        rows = instant_rows(student_release(Path(tmp) / "release"), options.repeats)
    table = results_table(rows, memory=False)
    if options.write:
        write_results("instant results", table, options, argv)


if __name__ == "__main__":
    sys.modules.setdefault("bench", sys.modules["__main__"])  # benchmarks/instant.py shares this run's baselines
    main()
