"""The trusted side of the worker: how tests talk to a submission without running it themselves.

`StudentProxy` has a worker started (`grader.worker`, by a backend of `grader.isolation`), loads the submission
into it and forwards calls.
Every reply is decoded by `grader.wire` (plain JSON and plain tensors only) before a test sees it.
A call that hangs past its time limit, or a worker that dies, raises `StudentTimeout` or `StudentCrash`
in the test that made the call; the next call starts a fresh worker, so one broken class costs only the
tests that need it. The whole submission has a wall-clock budget, shared among its concepts (`Budget`); a
concept whose share is spent gets `BudgetSpent` for its remaining calls. What the worker prints is drained
from a pipe into `grader.output.PrintedOutput`; a worker that ends before it is ready raises
`WorkerStartFailure`, the grader's fault.
"""
import time
from dataclasses import dataclass

from grader import wire
from grader.isolation import Launcher
from grader.isolation.failures import StudentCrash, StudentProblem, StudentTimeout, WorkerStartFailure
from grader.output import PrintedOutput
from grader.submission import CONTRACT_NAMES, Submission

__all__ = ["StudentProxy", "StudentProblem", "StudentError", "StudentTimeout", "BudgetSpent", "StudentCrash",
           "WorkerStartFailure", "MissingName", "ModuleHandle"]

READING_OPS = ("get", "get_many", "describe")  # requests that only read the student's objects
CALL_TIMEOUT = 10.0  # seconds for one call into student code (honest calls take milliseconds)
PICTURE_TIMEOUT = 3.0  # seconds for a picture's request: the pictures are feedback, never worth a test's time
LOAD_TIMEOUT = 60.0  # seconds to start the worker, import torch and run the submission's top level


class StudentError(StudentProblem):
    """Student code raised an exception."""

    def __init__(self, error_type, message, where=None, not_implemented=False, definitions=()):
        self.error_type, self.message, self.where, self.not_implemented = error_type, message, where, not_implemented
        self.definitions = definitions  # the student's top-level definitions it passed through, deepest first
        super().__init__(self.describe())

    @property
    def chain(self) -> tuple[str, ...]:
        """The definitions of the contract the traceback passed through, deepest first."""
        return tuple(name for name in self.definitions if name in CONTRACT_NAMES)

    @property
    def definition(self) -> str | None:
        """The definition of the contract the error arose in: the deepest one the traceback passed through."""
        return next(iter(self.chain), None)

    def describe(self):
        if self.not_implemented:
            place = self.where.split(": ", 1)[0] if self.where else None
            return f"not implemented yet ({place})" if place else "not implemented yet"
        text = f"{self.error_type}: {self.message}" if self.message else self.error_type
        return f"{text} at {self.where}" if self.where else text


class BudgetSpent(StudentTimeout):
    """The call was cut short, or not started, because its concept's share of the budget ran out: it says
    nothing about later calls of the same code in other concepts."""


class MissingName(StudentProblem):
    def __init__(self, name, problem):
        self.name = name
        self.definition, self.not_implemented = name, True  # a definition that does not exist is not written yet
        super().__init__(f"{name} is not defined: {problem}")


@dataclass
class Budget:
    """The wall-clock budget of one submission, shared fairly among its concepts.

    When a concept's tests start, it gets the share of what is left that its number of tests gives it among
    the concepts still to run: time an earlier concept did not use carries forward, and a concept whose code
    is slow or fails slowly spends only its own share. Starting a worker and running the submission's top
    level draw on the whole budget, never on the concept that happened to need a fresh worker.
    """
    seconds: float
    started: float = 0.0
    concept_deadline: float | None = None
    concept_allowance: float = 0.0

    def __post_init__(self):
        self.started = time.monotonic()

    def total_remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def remaining(self, whole_budget: bool = False) -> float:
        """Seconds left to the current concept, or with whole_budget to the submission."""
        left = self.total_remaining()
        if whole_budget or self.concept_deadline is None:
            return left
        return min(left, self.concept_deadline - time.monotonic())

    def start_concept(self, tests: int, tests_left: int):
        """A concept's tests (`tests` of the `tests_left` still to run, its own included) start now."""
        self.concept_allowance = max(0.0, self.total_remaining()) * tests / max(tests, tests_left)
        self.concept_deadline = time.monotonic() + self.concept_allowance

    def excuse(self, seconds: float):
        """Give the current concept back time it did not cause (a worker's start, the top level)."""
        if self.concept_deadline is not None:
            self.concept_deadline += seconds

    def spent_message(self) -> str:
        if self.concept_deadline is not None and self.total_remaining() > 0:
            return f"this concept's share ({self.concept_allowance:.3g} s) of the submission's time budget is spent"
        return f"the submission's time budget of {self.seconds:g} s is spent"


class StudentProxy:
    """The submission as tests see it: calls go to a worker process and come back as plain data."""

    def __init__(self, submission: Submission, launcher: Launcher, budget_seconds=300.0, call_timeout=CALL_TIMEOUT):
        self.submission = submission
        self.launcher = launcher  # starts its workers, however this machine confines them
        self.budget = Budget(budget_seconds)
        self.call_timeout = call_timeout
        self.printed = PrintedOutput()
        self.worker = None
        self.load_result = None
        self.pending_load = False
        self.load_failure = None  # a top level that hangs or crashes would do so again: fail fast
        self.broken = {}  # target -> the StudentTimeout or StudentCrash it caused
        self.baseline_strays = 0  # processes the submission's top level left running
        self.last_strays = 0
        self.restart_pending = False
        self.layouts = {}  # class name -> how it keeps its weights (grader.layouts), named in the report
        self.changes = 0  # requests so far that may have changed the student's objects (see ModuleHandle.describe)

    # --- the worker's life -----------------------------------------------------------------

    def start(self):
        """Start a worker and send it the submission, without waiting for the answer."""
        self.worker = None
        try:
            self.worker = self.launcher.start(self.printed, self.submission.import_dir)
        except OSError as exc:  # no interpreter at that path, no bubblewrap any more
            self.load_failure = WorkerStartFailure(f"the worker could not start: {exc}")
            return
        request = {"op": "load", "cells": [{"filename": c.filename, "source": c.source}
                                           for c in self.submission.cells],
                   "names": list(CONTRACT_NAMES), "search_path": self.worker.search_path}
        self.worker.send(wire.encode(request), time.monotonic() + LOAD_TIMEOUT)
        self.pending_load = True

    def _ensure_loaded(self):
        if self.load_failure is not None:
            raise type(self.load_failure)(str(self.load_failure))
        if self.worker is None:
            self.start()
        if self.pending_load:
            self.pending_load = False
            waited = time.monotonic()
            try:
                reply = self._receive(LOAD_TIMEOUT, "running the submission's top-level code", whole_budget=True)
            except (StudentProblem, WorkerStartFailure) as exc:
                self.load_failure = exc
                raise
            finally:
                self.budget.excuse(time.monotonic() - waited)
            if self.load_result is None:
                self.load_result = reply["ok"]
            # Processes the top level left running (a daemon) stay until the worker stops; count them once.
            self.baseline_strays = self.last_strays

    def loaded(self) -> dict:
        """The outcome of running the submission's cells: per-cell errors and which names it defines."""
        self._ensure_loaded()
        return self.load_result

    def _deadline(self, limit: float, whole_budget: bool = False) -> float:
        remaining = self.budget.remaining(whole_budget)
        if remaining <= 0:
            raise BudgetSpent(self.budget.spent_message())
        return time.monotonic() + min(limit, remaining)

    def _receive(self, limit: float, what: str, whole_budget: bool = False):
        deadline = self._deadline(limit, whole_budget)
        try:
            reply = self.worker.receive(deadline)
        except StudentTimeout:
            self.close()
            if self.budget.remaining(whole_budget) <= 0:
                raise BudgetSpent(f"{self.budget.spent_message().removesuffix(' is spent')} ran out while "
                                  f"{what}") from None
            raise StudentTimeout(f"no answer within {limit:g} s while {what} "
                                 "(an endless loop or a very slow computation?)") from None
        except (StudentCrash, WorkerStartFailure):
            self.close()
            raise
        if not isinstance(reply, dict):
            self.close()
            raise StudentCrash("the worker sent a malformed reply")
        strays = reply.get("strays", 0)
        self.last_strays = strays if type(strays) is int else 0
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            definitions = error.get("definitions")
            raise StudentError(str(error.get("type", "Error")), str(error.get("message", "")),
                               error.get("where"), bool(error.get("not_implemented")),
                               tuple(str(name) for name in definitions) if isinstance(definitions, list) else ())
        if "protocol_error" in reply:
            raise StudentCrash(str(reply["protocol_error"]))
        if "ok" not in reply:
            self.close()
            raise StudentCrash("the worker sent a malformed reply")
        return reply

    def request(self, message: dict, what: str, target: str | None = None, picture: bool = False):
        """Send one request and return its answer; student failures come back as exceptions.

        `target` names the student code the request runs (a function, or Class.forward). Once a target
        has hung past its own limit or killed its worker, later requests for it fail at once with the same
        reason, so that a broken class costs its tests but not the whole time budget. A call that its
        concept's share of the budget cut short marks nothing: other concepts still run that code. Neither
        does a `picture`'s request (grader.feedback.example), which also waits at most PICTURE_TIMEOUT.
        """
        if target in self.broken:
            problem = self.broken[target]
            raise type(problem)(f"{problem} (earlier; not run again)")
        self._ensure_loaded()
        if message.get("op") not in READING_OPS:
            self.changes += 1
        limit = min(self.call_timeout, PICTURE_TIMEOUT) if picture else self.call_timeout
        deadline = self._deadline(limit)  # a share already spent leaves the worker as it is
        try:
            self.worker.send(wire.encode(message), deadline)
            reply = self._receive(limit, what)
        except (StudentTimeout, StudentCrash) as problem:
            self.close()
            if target is not None and not picture and not isinstance(problem, BudgetSpent):
                self.broken[target] = problem
            raise
        finally:
            # A call that left processes behind (a fork bomb) gets a fresh worker before the next test.
            self.restart_pending |= self.last_strays > self.baseline_strays
        return reply["ok"]

    def next_test(self):
        """Called between tests: replace a worker that student code left processes running in."""
        if self.restart_pending:
            self.restart_pending = False
            self.close()

    def done(self):
        """The grading is over: a worker that answered every request and left nothing running goes back to the
        launcher, which may keep it for the next grading (grader.isolation.kept); any other is stopped."""
        if self.worker is None or self.pending_load or self.restart_pending or self.last_strays:
            self.close()
            return
        worker, self.worker = self.worker, None
        self.changes += 1
        self.launcher.finished(worker)

    def close(self):
        self.changes += 1  # a new worker knows none of the old one's objects
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
            self.pending_load = False

    def printed_output(self) -> str:
        """What the student's code printed: the first part, and a line saying how much was cut."""
        return self.printed.text()

    # --- what tests use --------------------------------------------------------------------

    def check_defined(self, name):
        kind = self.loaded()["names"].get(name)
        if kind is None:
            raise MissingName(name, f"{self.submission.display_path} does not define it")
        return kind

    def call(self, name, *args, seed=0, construct_on=None, canned=None, then=None, picture=False, **kwargs):
        """Call a contract name with tensors or plain values; returns a tensor, a ModuleHandle or a value.

        `then` ({"load": {"required": ..., "optional": ...}, "training": bool, "runs": [...]}) is applied by
        the worker to a module the call returns, in the same round trip; the load's result is the handle's
        `loaded`, the runs' outputs its `outputs`. `picture` marks a picture's request (see request).
        """
        self.check_defined(name)
        message = {"op": "call", "name": name, "args": encode_args(args), "kwargs": encode_args(kwargs),
                   "seed": seed, "construct_on": construct_on, "canned": canned or {}, "then": then or {}}
        # A call that also runs forward is that forward's: a hang there must not block building the class.
        target = f"{name}.forward" if then and "runs" in then else name
        reply = self.request(message, f"calling {name}", target=target, picture=picture)
        result = self.unwrap(reply, name)
        if isinstance(result, ModuleHandle) and then and "load" in then:
            if not isinstance(reply.get("loaded"), dict):
                raise StudentCrash("the worker sent a malformed reply")
            result.loaded = reply["loaded"]
        if isinstance(result, ModuleHandle) and then and "runs" in then:
            if not isinstance(reply.get("outputs"), list):
                raise StudentCrash("the worker sent a malformed reply")
            result.outputs = [self.unwrap(output, f"{name}.forward") for output in reply["outputs"]]
        if isinstance(result, ModuleHandle):
            result.described(reply)
        return result

    def build(self, name, *args, construct_on=None, weights=None, training=None, runs=(), picture=False,
              describe=False, **kwargs):
        """Construct one of the student's classes (or call a factory function) and return its handle.

        weights (required, optional) are loaded into it, training sets its mode, and each run (inputs,
        training, seed) is a forward pass, without another round trip; the load's result is the handle's
        `loaded` (see ModuleHandle.load), the forwards' outputs its `outputs`. With `describe`, the same round
        trip brings what the handle's describe() will answer, for a caller that asks for it next.
        """
        then = {"describe": True} if describe else {}
        if weights is not None:
            then["load"] = {"required": weights[0], "optional": weights[1]}
        if training is not None:
            then["training"] = training
        if runs:
            then["runs"] = [{"args": encode_args(inputs), "training": mode, "seed": seed} for inputs, mode, seed in runs]
        result = self.call(name, *args, construct_on=construct_on, then=then, picture=picture, **kwargs)
        if not isinstance(result, ModuleHandle):
            raise AssertionError(f"{name}(...) returned {describe_value(result)}, expected a torch.nn.Module")
        return result

    def repair(self, class_name: str, part: str | None):
        """Have the worker replace `part` of the student's class by a correct one (grader.part_repairs) until the
        next call; None undoes it. A worker started afresh has no repair."""
        self.request({"op": "repair", "name": class_name, "part": part}, f"repairing {class_name}")

    def unwrap(self, reply, what):
        kind = reply.get("kind")
        if kind == "tensor":
            tensor = reply["tensor"]
            if reply.get("type") != "torch.Tensor":
                raise AssertionError(f"{what} returned a {reply.get('type')}, expected a plain torch.Tensor")
            return tensor
        if kind == "module":
            return ModuleHandle(self, reply["handle"], reply["class"], tuple(reply.get("contract_classes", ())))
        if kind == "value":
            return reply["value"]
        if kind == "missing":
            return None
        return StudentObject(str(reply.get("type")))


@dataclass(frozen=True)
class StudentObject:
    """A value of the student's that cannot cross as data; only its type name is known."""
    type_name: str


def describe_value(value):
    if isinstance(value, StudentObject):
        return f"an object of type {value.type_name}"
    return "None" if value is None else f"a {type(value).__name__}"


def encode_args(value):
    import torch

    if isinstance(value, ModuleHandle):
        return {"__handle__": value.handle}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, dict):
        return {k: encode_args(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_args(v) for v in value]
    return value


class ModuleHandle:
    """A student's nn.Module living in the worker."""

    def __init__(self, proxy, handle, class_name, contract_classes):
        self.proxy, self.handle, self.class_name, self.contract_classes = proxy, handle, class_name, contract_classes
        self.loaded = None  # what loading weights at construction gave (see StudentProxy.build)
        self.outputs = None  # the forwards run at construction (see StudentProxy.build)
        self.description = None  # (proxy.changes when described, the description)

    def __repr__(self):
        return f"<student {self.class_name}>"

    def is_a(self, contract_class: str) -> bool:
        return contract_class in self.contract_classes

    def __call__(self, *inputs, seed=0):
        """Run forward on the inputs; returns the output tensor."""
        reply = self.proxy.request({"op": "forward", "handle": self.handle, "args": encode_args(inputs),
                                    "seed": seed}, f"running {self.class_name}.forward",
                                   target=f"{self.class_name}.forward")
        return self.proxy.unwrap(reply, f"{self.class_name}.forward")

    def train(self, training=True):
        self.proxy.request({"op": "mode", "handle": self.handle, "training": training},
                           f"setting {self.class_name}.train({training})")
        return self

    def eval(self):
        return self.train(False)

    def to(self, target, describe=False):
        """Move or cast the module: target is a device name or a torch.dtype. With `describe`, the same round
        trip brings what describe() will answer next."""
        reply = self.proxy.request({"op": "to", "handle": self.handle, "target": encode_args(target),
                                    **({"describe": True} if describe else {})},
                                   f"calling {self.class_name}.to({target})")
        self.described(reply)
        return self

    def load(self, required: dict, optional: dict | None = None) -> dict:
        """Copy tensors into named parameters; `optional` ones are set only where the module has them.

        Returns {"missing": [required names not found], "absent": [optional names not found]}.
        """
        return self.proxy.request({"op": "load_weights", "handle": self.handle, "required": required,
                                   "optional": optional or {}}, f"setting the weights of {self.class_name}")

    def get(self, path: str):
        """A parameter, buffer, attribute or submodule by dotted path (None when absent)."""
        reply = self.proxy.request({"op": "get", "handle": self.handle, "path": path},
                                   f"reading {self.class_name}.{path}")
        return self.proxy.unwrap(reply, f"{self.class_name}.{path}")

    def get_many(self, paths) -> list:
        """get() of each path, in one round trip."""
        paths = list(paths)
        replies = self.proxy.request({"op": "get_many", "handle": self.handle, "paths": paths},
                                     f"reading {', '.join(f'{self.class_name}.{path}' for path in paths)}")
        if not isinstance(replies, list) or len(replies) != len(paths):
            raise StudentCrash("the worker sent a malformed reply")
        return [self.proxy.unwrap(reply, f"{self.class_name}.{path}") for reply, path in zip(replies, paths)]

    def described(self, reply):
        """Keep the description a reply brought (see StudentProxy.build's `describe`): it holds until the next
        request that could change the student's objects."""
        if isinstance(reply, dict) and isinstance(reply.get("description"), dict):
            self.description = (self.proxy.changes, reply["description"])

    def describe(self) -> dict:
        """Parameters, buffers, plain attributes and submodules, as plain data (read it, don't change it).

        Asked again before any request that could change the student's objects, it answers from memory, as
        it does after a build or a move that brought the description along.
        """
        if self.description is None or self.description[0] != self.proxy.changes:
            info = self.proxy.request({"op": "describe", "handle": self.handle}, f"inspecting {self.class_name}")
            self.description = (self.proxy.changes, info)
        return self.description[1]
