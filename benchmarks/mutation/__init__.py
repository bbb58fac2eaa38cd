"""Mutation testing of the grader's localisation: does a mistake in one concept cost only that concept?

`python -m benchmarks.mutation` grades every mutant of solutions/attention.py; see benchmarks/README.md.
"""
from benchmarks.mutation.annotations import AnnotationError, Annotations
from benchmarks.mutation.mutants import Generated, Mutant, generate
from benchmarks.mutation.outcomes import Outcome
from benchmarks.mutation.run import HarnessError, Run, prepare, run, sample
from benchmarks.mutation.summary import Figures, figures, render, to_json

__all__ = ["AnnotationError", "Annotations", "Figures", "Generated", "HarnessError", "Mutant", "Outcome", "Run",
           "figures", "generate", "prepare", "render", "run", "sample", "to_json"]
