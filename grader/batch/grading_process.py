"""The process a cluster worker grades in: it imports torch, pytest and the grader once, then grades the
chunks its Dask worker sends, one at a time, until the worker closes its stdin or kills it.

Dask cannot stop a task's thread, but a worker can kill this process: a chunk then ends at once, and so does
every student worker it started (they die with it). Both ends are the grader's own code, so the chunks and
the reports cross the pipe pickled.
"""
import os
import pickle
import subprocess
import sys
import threading

from grader.limits import die_with_parent


class GradingProcess:
    """The worker's side: start the process, send it chunks, kill it."""

    def __init__(self):
        # stdin and stdout carry the chunks and the reports; what the grading writes goes to stderr.
        self.process = subprocess.Popen([sys.executable, "-m", "grader.batch.grading_process"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()  # one chunk at a time

    def grade(self, entries: list[tuple[str, str, str]], options, zygote_path: str | None) -> dict:
        """grade_chunk's reports as {"reports": [{"report": JSON report, "pytest_json": ...}]}, or {"failed": why}.
        Raises EOFError where the process was killed or died meanwhile."""
        with self.lock:
            try:
                pickle.dump((entries, options, zygote_path), self.process.stdin)
                self.process.stdin.flush()
                return pickle.load(self.process.stdout)
            except (OSError, ValueError, pickle.UnpicklingError) as exc:  # a pipe closed, or a reply cut short
                raise EOFError(str(exc)) from None

    def exit_status(self) -> int:
        """How it ended (-N for signal N), once it has ended."""
        return self.process.wait()

    def kill(self):
        """End it and every student worker it started; from any thread (a chunk it grades raises EOFError)."""
        self.process.kill()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        with self.lock:  # a chunk's thread still reading sees the end of the pipe first
            self.process.stdin.close()
            self.process.stdout.close()


def main():
    die_with_parent()  # before the imports: torch takes a second
    requests, replies = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing else may write between the replies

    from grader.batch.job import grade_chunk

    while True:
        try:
            entries, options, zygote_path = pickle.load(requests)
        except EOFError:  # the Dask worker closed: it is ending
            return
        try:
            reports = grade_chunk(entries, options, zygote_path)
            reply = {"reports": [{"report": r.to_json(), "pytest_json": r.pytest_json} for r in reports]}
        except Exception as exc:  # noqa: BLE001 - the chunk's failure is each student's error report
            reply = {"failed": f"grader error, not the student's: grading failed on the cluster "
                               f"({type(exc).__name__}: {exc})"}
        pickle.dump(reply, replies)
        replies.flush()


if __name__ == "__main__":
    main()
