"""How a worker can fail the trusted side, whatever the backend that started it."""


class StudentProblem(Exception):
    """Student code did not give an answer. Tests let it propagate: the grader scores it."""

    status = "error"


class StudentTimeout(StudentProblem):
    status = "timeout"


class StudentCrash(StudentProblem):
    """The worker died (a crash, os._exit, a memory error) or broke the protocol."""


class WorkerStartFailure(Exception):
    """The worker ended before it was ready to run student code: the grader's fault, never the student's."""
