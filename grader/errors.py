"""The grader's own errors: each one is a message for the user, shown without a traceback."""


class GraderError(Exception):
    """Base class of every error the grader reports to its user."""


class UsageError(GraderError):
    """Bad arguments or input paths: the command cannot start. Exit status 2."""
