"""What the batch's fork server imports first: it dies with the batch's main process, then loads what every
grading process needs (grader.batch.job).

Each grading process, forked from the server, dies with the server in turn (the pool's initializer), so a
batch whose main process is killed, even with SIGKILL, leaves none of them running.
"""
import gc

from grader.limits import die_with_parent

die_with_parent()

# Python's advice for a process that forks without exec: no collections until the freeze (grader.batch.job
# freezes what it imported). The imports leave little garbage, and collecting it as they go costs a fifth of them.
gc.disable()
import grader.batch.job  # noqa: E402,F401 - after the signal is set: torch and pytest take a second to import
gc.enable()  # every grading process collects its own garbage, frozen objects aside
