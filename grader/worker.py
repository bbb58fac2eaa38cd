"""The worker: the only process that runs student code.

It executes the submission's cells, then answers requests from the trusted grader (call a contract name,
run a module, set or read its weights, describe it) over two pipes, in the frames of `grader.wire`.
It never sees expected values: it only computes and reports what the student's code does.
Run as `python -m grader.worker --requests FD --responses FD --device cpu`.
"""
import argparse
import contextlib
import gc
import json
import linecache
import os
import random
import signal
import socket
import sys
import threading
import traceback
import types

if __name__ == "__main__":  # a worker process of its own, not the zygote's import of this module
    gc.disable()  # no collections while torch imports: its objects live as long as the worker (see serve)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from grader import part_repairs, wire, worker_state  # noqa: E402
from grader.limits import set_limits  # noqa: E402

PLAIN = (bool, int, float, str, type(None))
_meta_kernels_loaded = False  # see wire.META_WHERE_LOADED


def load_meta_kernels():
    """Load torch's Python meta kernels (about a second of imports), which the first masked build on the
    meta device would otherwise load. Only meta tensors are computed: a fork after real CPU work can hang in
    OpenMP."""
    global _meta_kernels_loaded
    torch.triu(torch.ones(2, 2, device="meta"), diagonal=1)
    _meta_kernels_loaded = True


class ProtocolError(Exception):
    """A request the worker cannot carry out for reasons that are not the student's."""


class PipeChannel:
    """The protocol over two pipes the worker was given (the Linux backend and the zygote's workers)."""

    def __init__(self, requests: int, responses: int):
        self.requests, self.responses = requests, responses

    def read(self, n: int) -> bytes:
        return os.read(self.requests, n)

    def write(self, data) -> int:
        return os.write(self.responses, data)

    def keep_from_children(self):
        """Processes the student starts must never speak the protocol: they lose its pipes at birth (fork) or
        on exec (os.system, subprocess)."""
        os.register_at_fork(after_in_child=lambda: close_quietly(self.requests, self.responses))
        for fd in (self.requests, self.responses):
            os.set_inheritable(fd, False)


class SocketChannel:
    """The protocol over a loopback connection to the grader (the portable backend: macOS, Windows)."""

    def __init__(self, connection: socket.socket):
        self.connection = connection

    def read(self, n: int) -> bytes:
        return self.connection.recv(n)

    def write(self, data) -> int:
        return self.connection.send(data)

    def keep_from_children(self):
        self.connection.set_inheritable(False)  # not on exec; where fork exists, not in a forked child either
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.connection.close)


def connect(port: int) -> SocketChannel:
    """Connect to the grader on the loopback port and prove, with the token it gave this process alone, that the
    connection is its worker's."""
    token = os.environ.pop("GRADER_WORKER_TOKEN", "")
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.sendall(token.encode())
    return SocketChannel(connection)


def die_with_grader():
    """The portable backend's worker ends when the grader's end of its stdin closes: the grader ended."""
    def watch():
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(1):
                pass
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def read_exact(channel, n):
    chunks, missing = [], n
    while missing:
        chunk = channel.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(channel):
    prefix = read_exact(channel, wire.HEADER.size)
    if prefix is None:
        return None
    json_len, blob_len = wire.split_lengths(prefix)
    body = read_exact(channel, json_len + blob_len)  # one read where the whole frame has arrived
    if body is None:
        return None
    return wire.decode(body[:json_len], memoryview(body)[json_len:])


def write_frame(channel, frame):
    view = memoryview(frame)
    while view:
        view = view[channel.write(view):]


def student_location(exc, filenames):
    """'file, line N: code' for the deepest frame of the traceback that lies in the student's code."""
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in filenames:
            where = f"{frame.filename}, line {frame.lineno}: {(frame.line or '').strip()}"
    if where is None and isinstance(exc, SyntaxError) and exc.filename in filenames:
        where = f"{exc.filename}, line {exc.lineno}: {(exc.text or '').strip()}"
    return where


def student_definitions(exc, filenames) -> list[str]:
    """The top-level definitions of the student's code the traceback passed through, deepest first: the
    `CausalAttention` of `CausalAttention.forward`, the function's own name for a function."""
    names = []
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename in filenames:
            name = frame.f_code.co_qualname.split(".", 1)[0]
            if name != "<module>":
                names.insert(0, name)
    return list(dict.fromkeys(names))


def describe_error(exc, filenames):
    message = str(exc) if not isinstance(exc, SyntaxError) else exc.msg
    return {
        "type": type(exc).__name__,
        "message": message[:2000],
        "where": student_location(exc, filenames),
        "not_implemented": isinstance(exc, NotImplementedError),
        "definitions": student_definitions(exc, filenames),
    }


def tensor_info(tensor):
    return {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
            "device": tensor.device.type}


def returning(value):
    """A stand-in for a student function that returns a copy of a fixed value, whatever its arguments."""
    def stand_in(*args, **kwargs):
        return value.clone()
    return stand_in


class Worker:
    def __init__(self, device):
        self.device = torch.device(device)
        self.namespace = None
        self.filenames = set()
        self.objects = {}
        self.search_path = None

    # --- loading ---------------------------------------------------------------------------

    def load(self, cells, names, search_path):
        """Run every cell in order in one module namespace; a failing cell does not stop the next."""
        module = types.ModuleType("submission")
        module.__file__ = cells[0]["filename"] if cells else "submission"
        sys.modules["submission"] = module
        if search_path:
            sys.path.insert(0, search_path)
            self.search_path = search_path
        self.namespace = module.__dict__
        outcomes = []
        for cell in cells:
            filename, source = cell["filename"], cell["source"]
            self.filenames.add(filename)
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            try:
                exec(compile(source, filename, "exec"), self.namespace)
                outcomes.append(None)
            except BaseException as exc:  # noqa: B902 - SystemExit and KeyboardInterrupt are the student's too
                outcomes.append(describe_error(exc, self.filenames))
        kinds = {}
        for name in names:
            value = self.namespace.get(name)
            if value is None:
                kinds[name] = None
            elif isinstance(value, type):
                kinds[name] = "module class" if issubclass(value, nn.Module) else "class"
            else:
                kinds[name] = "function" if callable(value) else type(value).__name__
        return {"cells": outcomes, "names": kinds}

    # --- values in and out -----------------------------------------------------------------

    def to_student(self, value):
        """Requests' tensors go to the grading device; handles become the objects they name."""
        if isinstance(value, torch.Tensor):
            return value if value.device.type == "meta" else value.to(self.device)
        if isinstance(value, dict) and set(value) == {"__handle__"}:
            return self.object(value["__handle__"])
        if isinstance(value, dict) and set(value) == {"__dtype__"}:
            return getattr(torch, value["__dtype__"])
        if isinstance(value, list):
            return [self.to_student(v) for v in value]
        return value

    def from_student(self, value):
        """Describe a student's return value as plain data."""
        if isinstance(value, torch.Tensor):
            return {"kind": "tensor", "type": f"{type(value).__module__}.{type(value).__qualname__}",
                    "tensor": value}
        if isinstance(value, nn.Module):
            handle = len(self.objects) + 1
            self.objects[handle] = value
            return {"kind": "module", "handle": handle, "class": type(value).__name__,
                    "contract_classes": self.contract_classes(value)}
        if isinstance(value, PLAIN):
            return {"kind": "value", "value": value}
        return {"kind": "object", "type": type(value).__name__}

    def contract_classes(self, module):
        return sorted(name for name, value in self.namespace.items()
                      if isinstance(value, type) and issubclass(value, nn.Module)
                      and value.__module__ == "submission" and isinstance(module, value))

    def object(self, handle):
        if handle not in self.objects:
            raise ProtocolError(f"unknown handle {handle}")
        return self.objects[handle]

    # --- requests --------------------------------------------------------------------------

    def call(self, name, args, kwargs, construct_on=None, canned=None, then=None, seed=0):
        if name not in self.namespace:
            raise ProtocolError(f"{name} is not defined")
        if construct_on == wire.META_WHERE_LOADED:
            if _meta_kernels_loaded:
                try:
                    return self.call(name, args, kwargs, "meta", canned, then)
                except Exception:  # noqa: BLE001 - code that needs real values is built as it would be on the CPU
                    self.seed(seed)
            construct_on = None
        target = self.namespace[name]
        replaced = {}
        for canned_name, value in (canned or {}).items():
            replaced[canned_name] = self.namespace.get(canned_name)
            self.namespace[canned_name] = returning(value.to(self.device))
        try:
            with torch.device(construct_on) if construct_on else contextlib.nullcontext():
                result = target(*self.to_student(args), **self.to_student(kwargs))
        finally:
            self.namespace.update(replaced)
        if isinstance(result, nn.Module) and construct_on is None and self.device.type != "cpu":
            result = result.to(self.device)
        reply = self.from_student(result)
        if isinstance(result, nn.Module) and then:
            # What the trusted side would ask next (known weights, a mode), without another round trip.
            if "load" in then:
                reply["loaded"] = self.load_weights(reply["handle"], then["load"].get("required", {}),
                                                    then["load"].get("optional", {}))
            if "training" in then:
                self.set_mode(reply["handle"], bool(then["training"]))
            if "runs" in then:
                reply["outputs"] = [self.run(reply["handle"], run) for run in then["runs"]]
            if then.get("describe"):
                self.describe_into(reply, reply["handle"])
        return reply

    def describe_into(self, reply: dict, handle):
        """What a request that also asks for the module's description adds to its reply: the description as a
        describe request would give it now; nothing where that would fail, so that the describe request the
        trusted side then sends meets the failure itself."""
        try:
            reply["description"] = self.describe(handle)
        except BaseException:  # noqa: B902 - the student's code raised (even SystemExit): a describe request's answer
            pass

    def run(self, handle, run):
        """One forward in the given mode from the given random state (a picture's matrix, see grader.feedback)."""
        self.set_mode(handle, bool(run.get("training", False)))
        self.seed(int(run.get("seed", 0)))
        return self.forward(handle, run.get("args", []))

    def seed(self, seed: int):
        # torch.manual_seed does the same but costs a hundred times more: it visits every device type.
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(seed)
        random.seed(seed)

    def forward(self, handle, args):
        return self.from_student(self.object(handle)(*self.to_student(args)))

    def set_mode(self, handle, training):
        self.object(handle).train(training)
        return {}

    def move(self, handle, target, describe=False):
        self.object(handle).to(self.to_student(target))
        reply = {}
        if describe:
            self.describe_into(reply, handle)
        return reply

    def load_weights(self, handle, required, optional):
        """Copy values into existing parameters or buffers; optional ones are skipped when absent."""
        module = self.object(handle)
        missing, absent, mismatched = [], [], {}
        with torch.no_grad():
            for names, values in ((missing, required), (absent, optional)):
                for path, value in values.items():
                    target = self.lookup(module, path)
                    if not isinstance(target, torch.Tensor):
                        names.append(path)
                    elif tuple(target.shape) != tuple(value.shape):
                        mismatched[path] = [list(target.shape), list(value.shape)]
                    else:
                        target.copy_(value)
        return {"missing": missing, "absent": absent, "mismatched": mismatched}

    @staticmethod
    def lookup(module, path):
        value = module
        for part in path.split("."):
            if isinstance(value, nn.Module) and part in value._modules:
                value = value._modules[part]
            else:
                value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def get(self, handle, path):
        value = self.lookup(self.object(handle), path)
        if isinstance(value, nn.Parameter):
            value = value.detach()  # a parameter is read as its plain values
        return {"kind": "missing"} if value is None else self.from_student(value)

    def describe(self, handle):
        module = self.object(handle)
        attributes = {}
        for name, value in vars(module).items():
            if not name.startswith("_") and isinstance(value, PLAIN):
                attributes[name] = value
        tensors = {name: tensor_info(value) for name, value in vars(module).items()
                   if isinstance(value, torch.Tensor) and not name.startswith("_")}
        return {
            "class": type(module).__name__,
            "contract_classes": self.contract_classes(module),
            "attributes": attributes,
            "parameters": {name: tensor_info(p) for name, p in module.named_parameters()},
            "buffers": {name: tensor_info(b) for name, b in module.named_buffers()},
            "tensor_attributes": tensors,
            "modules": {name: {"class": type(m).__name__, "id": id(m), "linear": isinstance(m, nn.Linear),
                               "contract_classes": self.contract_classes(m),
                               "in_features": getattr(m, "in_features", None),
                               "out_features": getattr(m, "out_features", None),
                               "has_bias": getattr(m, "bias", None) is not None}
                        for name, m in module.named_modules(remove_duplicate=False) if name},
        }

    def repair(self, name, part):
        """Replace `part` of the student's class `name` by a correct one until the next repair (see
        grader.part_repairs); None undoes it."""
        target = self.namespace.get(name)
        if not (isinstance(target, type) and issubclass(target, nn.Module)):
            raise ProtocolError(f"{name} is not a module class")
        try:
            part_repairs.repair(target, part)
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        return {}

    def handle(self, request):
        op = request.get("op")
        seed = request.get("seed", 0)
        self.seed(seed)  # every request starts from the same random state, whatever the student's code seeded
        try:
            if op == "load":
                return {"ok": self.load(request["cells"], request["names"], request.get("search_path"))}
            if self.namespace is None:
                raise ProtocolError("no submission loaded")
            ops = {
                "call": lambda: self.call(request["name"], request.get("args", []), request.get("kwargs", {}),
                                          request.get("construct_on"), request.get("canned"), request.get("then"), seed),
                "forward": lambda: self.forward(request["handle"], request.get("args", [])),
                "mode": lambda: self.set_mode(request["handle"], request["training"]),
                "to": lambda: self.move(request["handle"], request["target"], bool(request.get("describe"))),
                "load_weights": lambda: self.load_weights(request["handle"], request.get("required", {}),
                                                          request.get("optional", {})),
                "get": lambda: self.get(request["handle"], request["path"]),
                "get_many": lambda: [self.get(request["handle"], path) for path in request["paths"]],
                "describe": lambda: self.describe(request["handle"]),
                "repair": lambda: self.repair(request["name"], request.get("part")),
            }
            if op not in ops:
                raise ProtocolError(f"unknown request {op!r}")
            return {"ok": ops[op]()}
        except ProtocolError as exc:
            return {"protocol_error": str(exc)}
        except BaseException as exc:  # noqa: B902 - a student's SystemExit is an answer, not our exit
            return {"error": describe_error(exc, self.filenames)}


def close_quietly(*fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass  # already closed, e.g. in a grandchild


_last_pid_file = None  # /proc/sys/kernel/ns_last_pid, opened once


def nothing_ever_started() -> bool:
    """Whether no process has ever been started in this worker's process namespace, where it is pid 1: the
    namespace's last pid is still its own (one small read, where listing /proc costs ten times more)."""
    global _last_pid_file
    if os.getpid() != 1:
        return False
    try:
        if _last_pid_file is None:
            _last_pid_file = os.open("/proc/sys/kernel/ns_last_pid", os.O_RDONLY | os.O_CLOEXEC)
        return int(os.pread(_last_pid_file, 32, 0)) == 1
    except (OSError, ValueError):
        return False


def stray_processes() -> int:
    """How many other live processes share this worker's process namespace (its init and itself excepted)."""
    if nothing_ever_started():
        return 0
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass  # reap the student's finished children so that they are not counted
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, os.getpid()):
            try:
                with open(f"/proc/{name}/stat") as f:
                    count += f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except (OSError, IndexError):
                pass  # it ended meanwhile
    return count


def configure_torch(device):
    # One thread and no TF32: the same submission gets the same numbers every time and under load.
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("the worker found no CUDA device")


def reset(worker: Worker, before_students: worker_state.ProcessState | None, marker: str) -> dict:
    """Forget the submission `worker` served, print `marker` (what the submission printed ends there), and say
    whether this process may serve another as a fresh worker would (grader.worker_state), with what it has used
    of its limits. A worker that took no snapshot before its student (`before_students` None) never may."""
    part_repairs.undo()
    worker.objects.clear()
    worker.namespace = None
    worker_state.forget_submission(worker.filenames, worker.search_path)
    with contextlib.suppress(Exception):  # a stream the student replaced (the process is then not untouched)
        sys.stdout.flush()
        sys.stderr.flush()
    os.write(1, marker.encode())
    untouched = before_students is not None and before_students.untouched()
    return {"ok": {"untouched": untouched, **worker_state.resources_used()}}


def serve(channel, device, isolated, reusable=True):
    """Answer requests read from `channel` on it, until the trusted side closes it.

    A `reusable` worker may serve another submission after a reset (grader.isolation.kept), so it first takes a
    snapshot of its process (grader.worker_state). A zygote's workers never serve twice, and skip it: the snapshot
    reads thousands of torch's objects, and each page it touches is one a forked worker must copy (about 4 ms)."""
    if hasattr(signal, "SIGXFSZ"):  # past the output limit a write fails in the student's code, not the worker
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sys.setrecursionlimit(10_000)
    protocol_pid = os.getpid()
    channel.keep_from_children()
    worker = Worker(device)
    gc.freeze()  # torch's objects live as long as the worker: collections (a reset's) need not visit them
    gc.enable()
    before_students = worker_state.ProcessState() if reusable else None
    # What was printed before this is not the student's (see grader.output); the frame says the worker started.
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, wire.READY_MARKER)
    write_frame(channel, wire.encode({"ready": True}))
    while True:
        request = read_frame(channel)
        if request is None:
            return
        if request.get("op") == "reset":
            reply = reset(worker, before_students, str(request.get("marker", "")))
            worker = Worker(device)
        else:
            reply = worker.handle(request)
        if os.getpid() != protocol_pid:
            os._exit(0)  # a forked child came back out of the student's code (or a finaliser's, at a reset)
        if isolated:
            reply["strays"] = stray_processes()
        try:
            frame = wire.encode(reply)
        except wire.WireError as exc:
            frame = wire.encode({"protocol_error": f"the result cannot be sent back: {exc}"})
        write_frame(channel, frame)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader.worker")
    parser.add_argument("--requests", type=int, help="the pipe requests arrive on (with --responses)")
    parser.add_argument("--responses", type=int)
    parser.add_argument("--connect", type=int, metavar="PORT",
                        help="instead of pipes: the grader's loopback port (the portable backend)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--isolated", action="store_true", help="running in its own process namespace")
    parser.add_argument("--max-processes", type=int, metavar="N",
                        help="in a user namespace of its own: at most N processes and threads (RLIMIT_NPROC)")
    parser.add_argument("--limits", metavar="JSON",
                        help="resource limits by RLIMIT name, each applied where this OS allows it")
    options = parser.parse_args(argv)
    if options.max_processes is not None:
        set_limits({"nproc": options.max_processes})
    if options.limits:
        set_limits(json.loads(options.limits), strict=False)
    if options.connect is not None:
        die_with_grader()
        channel = connect(options.connect)
    else:
        channel = PipeChannel(options.requests, options.responses)
    configure_torch(options.device)
    serve(channel, options.device, options.isolated)


if __name__ == "__main__":
    main()
