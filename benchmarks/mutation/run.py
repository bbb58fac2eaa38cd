"""One run of the harness: generate the mutants, grade them (all, or a seeded sample) with the unmutated
reference as the control, probe the undetected ones for equivalence, and judge each."""
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.mutation import annotations, equivalence, grading, known_exceptions, reference
from benchmarks.mutation.mutants import Generated, Mutant, generate, unmutated
from benchmarks.mutation.outcomes import Outcome, from_report

CONTROL = "reference"  # the control's file name: the reference as the mutants are written


class HarnessError(Exception):
    """The harness cannot give figures: its data does not fit, or the control lost points."""


@dataclass(frozen=True)
class Run:
    generated: Generated
    outcomes: tuple[Outcome, ...]
    seed: int | None  # the sample's seed; None when every mutant ran
    grading_seconds: float
    probing_seconds: float


def sample(mutants: tuple[Mutant, ...], size: int, seed: int) -> tuple[Mutant, ...]:
    """`size` mutants drawn with `seed`, in generation order."""
    chosen = set(random.Random(seed).sample(range(len(mutants)), min(size, len(mutants))))
    return tuple(m for i, m in enumerate(mutants) if i in chosen)


def prepare():
    """The reference, its annotations, its mutants and the known exceptions; raises HarnessError where the
    data does not fit the reference."""
    ref = reference.load()
    try:
        table = annotations.load(ref)
    except annotations.AnnotationError as exc:
        raise HarnessError(str(exc)) from None
    generated = generate(ref)
    exceptions = known_exceptions.load()
    stale = sorted(set(exceptions) - set(generated.by_id))
    if stale:
        raise HarnessError(f"exceptions.toml lists mutants that do not exist: {', '.join(stale)}")
    return ref, table, generated, exceptions


def run(*, size: int | None = None, seed: int | None = None, jobs: int | None = None, work_dir: Path | None = None,
        on_progress=None) -> Run:
    """Grade every mutant (size None) or a sample of `size` drawn with `seed`."""
    ref, table, generated, exceptions = prepare()
    chosen = generated.mutants if size is None else sample(generated.mutants, size, seed)
    with tempfile.TemporaryDirectory(prefix="mutants-") as temporary:
        work = Path(work_dir or temporary)
        sources = {CONTROL: unmutated(ref), **{m.file_stem: m.source for m in chosen}}
        started = time.monotonic()
        reports = grading.grade(sources, work, jobs=jobs, on_progress=on_progress)
        grading_seconds = time.monotonic() - started
        control = reports[CONTROL]
        if control.status != "graded" or control.score != control.max_score:
            raise HarnessError(f"the unmutated reference got {control.score}/{control.max_score} "
                               f"({control.error or 'lost points'}): no mutant's figures would mean anything")
        outcomes = [from_report(m, table.allowed(m.statements), reports[m.file_stem]) for m in chosen]
        undetected = [o for o in outcomes if o.runs and not o.detected]
        started = time.monotonic()
        files = {work / "class" / f"{o.mutant.file_stem}.py": o for o in undetected}
        probed = equivalence.check(ref_file(work), list(files))
        probing_seconds = time.monotonic() - started
    by_id = {o.mutant.id: o for o in outcomes}
    for path, answer in probed.items():
        by_id[files[path].mutant.id] = replace(files[path], equivalent=answer.equivalent, difference=answer.difference)
    final = tuple(replace(o, exception=exceptions.get(o.mutant.id)) for o in by_id.values())
    return Run(generated, final, None if size is None else seed, grading_seconds, probing_seconds)


def ref_file(work: Path) -> Path:
    """The control's file, which probe.py compares the mutants against (the reference, as they are written)."""
    return work / "class" / f"{CONTROL}.py"
