"""A run's figures and its two forms: the text the command prints, and the JSON of every mutant."""
from collections import Counter
from dataclasses import dataclass

from benchmarks.mutation.outcomes import Outcome


@dataclass(frozen=True)
class Figures:
    generated: int  # compiled, distinct mutants
    proposed: int  # edits the operators made
    not_compiling: int
    unchanged: int
    graded: int  # in this run (all, or the sample)
    not_running: int  # the whole file did not run
    grader_faults: int  # the grader failed on the mutant: no grade
    detected: int
    undetected: int
    equivalent: int  # of the undetected
    localised: int  # of the detected
    excused: int  # of the detected but not localised: listed in exceptions.toml

    @property
    def localised_share(self) -> float:
        return self.localised / self.detected if self.detected else 1.0


def figures(run) -> Figures:
    outcomes = run.outcomes
    detected = [o for o in outcomes if o.detected]
    undetected = [o for o in outcomes if o.runs and not o.detected]
    return Figures(len(run.generated.mutants), run.generated.proposed, run.generated.not_compiling,
                   run.generated.unchanged, len(outcomes), sum(o.import_error is not None for o in outcomes),
                   sum(o.grader_fault is not None for o in outcomes), len(detected),
                   len(undetected), sum(bool(o.equivalent) for o in undetected), sum(o.localised for o in detected),
                   sum(not o.localised and o.exception is not None for o in detected))


def not_localised(outcomes) -> list[Outcome]:
    return [o for o in outcomes if o.detected and not o.localised]


def render(run) -> str:
    f = figures(run)
    lines = [
        f"mutants: {f.generated} compiled and distinct ({f.proposed} edits proposed, {f.not_compiling} did not "
        f"compile, {f.unchanged} changed nothing or repeated another)",
        f"graded: {f.graded}" + ("" if run.seed is None else f" (a sample drawn with MUTANT_SEED={run.seed})")
        + f" in {run.grading_seconds:.0f} s; equivalence probes {run.probing_seconds:.0f} s",
        f"the whole file did not run: {f.not_running}; the grader failed (no grade): {f.grader_faults}",
        f"detected: {f.detected}",
        f"undetected: {f.undetected}, of which equivalent: {f.equivalent}, not equivalent: {f.undetected - f.equivalent}",
        f"localised: {f.localised} of {f.detected} detected ({100 * f.localised_share:.1f}%); not localised: "
        f"{f.detected - f.localised}, of which listed in exceptions.toml: {f.excused}",
    ]
    missed = not_localised(run.outcomes)
    if missed:
        lines += ["", "tests that charged a concept outside a mutant's allowed ones (mutants | test | concept | changed):"]
        lines += [f"  {count:4d} | {nodeid} | {concept} | {', '.join(changed)}"
                  for nodeid, concept, count, changed in by_test(run.outcomes)]
        lines.append("")
        lines.append("not localised (id: change | allowed | lost outside them):")
        lines += [describe(o) for o in missed]
    survivors = [o for o in run.outcomes if o.runs and not o.detected and not o.equivalent]
    if survivors:
        lines.append("")
        lines.append("undetected and not equivalent (id: change | first probe that differs):")
        lines += [f"  {o.mutant.id}: {o.mutant.description} | {o.difference}" for o in survivors]
    for title, field in (("the whole file did not run", "import_error"), ("the grader failed", "grader_fault")):
        broken = [o for o in run.outcomes if getattr(o, field) is not None]
        if broken:
            lines += ["", f"{title}:"] + [f"  {o.mutant.id}: {o.mutant.description} | {getattr(o, field)}"
                                          for o in broken]
    return "\n".join(lines)


def describe(o: Outcome) -> str:
    """One non-localised mutant: what changed, what it may cost, what it did cost outside that, and the tests."""
    tests = ", ".join(sorted({c.nodeid.split("::")[-1] for c in o.charges if c.concept in o.outside}))
    excused = f" [exception: {o.exception}]" if o.exception else ""
    return (f"  {o.mutant.id}: {o.mutant.description} | allowed {', '.join(sorted(o.allowed))} | "
            f"lost {', '.join(sorted(o.outside))} (via {tests}){excused}")


def by_test(outcomes) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """(test, concept it charged, how many non-localised mutants it charged outside their allowed concepts,
    the definitions those mutants changed), most first: which tests charge the wrong concept."""
    mutants, definitions = Counter(), {}
    for o in not_localised(outcomes):
        for test in {(c.nodeid, c.concept) for c in o.charges if c.concept in o.outside}:
            mutants[test] += 1
            definitions.setdefault(test, set()).add(o.mutant.statements[0].definition)
    return [(nodeid, concept, count, tuple(sorted(definitions[(nodeid, concept)])))
            for (nodeid, concept), count in mutants.most_common()]


def to_json(run) -> dict:
    f = figures(run)
    return {
        "figures": {**f.__dict__, "localised_share": round(f.localised_share, 4)},
        "seed": run.seed,
        "grading_seconds": round(run.grading_seconds, 1),
        "probing_seconds": round(run.probing_seconds, 1),
        "mutants": [{
            "id": o.mutant.id,
            "description": o.mutant.description,
            "statements": [s.text for s in o.mutant.statements],
            "verdict": o.verdict,
            "allowed": sorted(o.allowed),
            "lost": dict(o.lost),
            "outside": sorted(o.outside),
            "equivalent": o.equivalent,
            "difference": o.difference,
            "import_error": o.import_error,
            "grader_fault": o.grader_fault,
            "exception": o.exception,
            "charges": [c.__dict__ for c in o.charges],
        } for o in run.outcomes],
    }
