"""A progress bar with ETA for batch grading, shown only on a terminal."""
import contextlib
import sys


@contextlib.contextmanager
def progress_bar(stream=sys.stderr):
    """Yield an on_progress(done, total, student) callback; a no-op when stream is not a terminal."""
    if not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), TextColumn("{task.description}"),
                  console=Console(file=stream), transient=True) as progress:
        task = progress.add_task("", total=None)

        def on_progress(done, total, student):
            progress.update(task, completed=done, total=total, description=student or "")

        yield on_progress
