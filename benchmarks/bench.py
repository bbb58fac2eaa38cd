"""Grading speed against the cost of importing torch, measured side by side on this machine.

Run by hand (not part of the test suite): `python benchmarks/bench.py [--sizes 10 100] [--repeats 3]
[--jobs N] [--write]`. Every figure is a median of --repeats runs; ratios divide by the median of a bare
`python -c "import torch"` measured in the same run. --write puts the table into benchmarks/README.md.
"""
import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"


def timed(command, cwd=ROOT) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB, of the largest child) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return elapsed, peak


def median_of(command, repeats, cwd=ROOT) -> float:
    return statistics.median(timed(command, cwd)[0] for _ in range(repeats))


def synthetic_class(folder: Path, n: int) -> Path:
    """n single-file submissions cycling through the hand-written correct and mistaken ones."""
    sources = sorted(SUBMISSIONS.glob("*.py"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shutil.copy(sources[i % len(sources)], folder / f"student{i:04d}.py")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    options = parser.parse_args(argv)
    python = sys.executable
    torch_import = median_of([python, "-c", "import torch"], options.repeats)
    self_check = median_of([python, "-m", "grader", "solutions"], options.repeats)
    rows = [("bare `import torch`", f"{torch_import:.2f} s", "1.00"),
            ("self-check, complete submission", f"{self_check:.2f} s", f"{self_check / torch_import:.2f}")]
    with tempfile.TemporaryDirectory() as tmp:
        for n in options.sizes:
            klass = synthetic_class(Path(tmp) / f"class{n}", n)
            runs = []
            for repeat in range(options.repeats):
                out = Path(tmp) / f"out{n}-{repeat}"
                jobs = ["--jobs", str(options.jobs)] if options.jobs else []
                runs.append(timed([python, "-m", "grader", "batch", str(klass), "--out", str(out), *jobs]))
            seconds = statistics.median(r[0] for r in runs) / n
            peak = max(r[1] for r in runs)
            rows.append((f"batch, {n} submissions, per submission", f"{seconds:.2f} s (peak {peak:.0f} MiB)",
                         f"{seconds / torch_import:.2f}"))
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}"
    table = ["| measurement | median | ratio to `import torch` |", "| --- | ---: | ---: |"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print(f"machine: {machine}\n" + "\n".join(table))
    if options.write:
        (ROOT / "benchmarks" / "README.md").write_text(
            "# Grading speed\n\nMeasured with `python benchmarks/bench.py --write` on " + machine
            + f" ({options.repeats} runs each, medians).\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
