"""A per-concept autograder for the attention chapter of "Build a Large Language Model (From Scratch)".

The public API is `grade(path, ...) -> Report`, the reporters `to_json` and `render_table`, and the errors.
Imports are lazy so that `python -m grader.worker` and the CLI start without loading pytest or torch.
"""
__version__ = "0.2.0"
__all__ = ["grade", "Report", "to_json", "render_table", "GraderError", "UsageError", "__version__"]


def __getattr__(name):
    if name == "grade":
        from grader.pipeline import grade
        return grade
    if name == "Report":
        from grader.results import Report
        return Report
    if name in ("to_json", "render_table"):
        from grader import reporters
        return getattr(reporters, name)
    if name in ("GraderError", "UsageError"):
        from grader import errors
        return getattr(errors, name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
