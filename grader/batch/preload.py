"""What the batch's fork server imports first: it dies with the batch's main process, then loads what every
grading process needs (grader.batch.job).

Each grading process, forked from the server, dies with the server in turn (the pool's initializer), so a
batch whose main process is killed, even with SIGKILL, leaves none of them running.
"""
from grader.limits import die_with_parent

die_with_parent()

import grader.batch.job  # noqa: E402,F401 - after the signal is set: torch and pytest take a second to import
