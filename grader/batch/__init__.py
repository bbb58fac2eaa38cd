"""Batch grading of a whole class: find the entries, grade them in parallel, write the class's outputs."""
from grader.batch.options import BatchOptions
from grader.batch.run import BatchSummary, grade_class

__all__ = ["BatchOptions", "BatchSummary", "grade_class"]
