"""The zygote: one process that imports torch once and forks a fresh worker for every student.

Batch grading starts it inside the sandbox (`python -m grader.zygote --listen FD --device cpu`). Only the
trusted grading processes can reach its listening socket: the socket's path lies in a folder the sandbox
does not show, and the zygote's children close it before they run anything. A connection sends one JSON
message per request on a SOCK_SEQPACKET socket:

- `{"op": "spawn", "own_uid": bool, "limits": {...}}` with three file descriptors attached (the worker's
  request pipe, its reply pipe and its output file) forks a worker and answers `{"ok": pid}`;
- `{"op": "kill", "pid": pid}` kills that worker and everything it started, and answers
  `{"ok": {"status": exit status, "was_alive": bool}}`.

Each worker gets new process and mount namespaces where the zygote may create them (root, or a user
namespace): its own /tmp and /proc, and every process it starts dies with it. Run as root, each live
worker also gets its own unprivileged uid, so that the process-count limit binds per student.
"""
import argparse
import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys

from grader.worker import configure_torch, serve

UID_BASE = 62000  # each live worker's uid when the zygote runs as root
UID_COUNT = 4000
MAX_MESSAGE = 64 * 1024

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str, target: str, kind: str | None, flags: int, data: str = ""):
    _check(_libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, flags,
                       data.encode() or None), f"mount {target}")


def warm_up():
    """Pay once, before any fork, for what every worker would otherwise load on first use.

    torch's Python meta kernels (about a second of imports) serve the checks that build modules on the
    meta device. Only meta tensors are computed here: a fork after real CPU work can hang in OpenMP.
    """
    import torch

    torch.triu(torch.ones(2, 2, device="meta"), diagonal=1)


def exit_code(status: int) -> int:
    """A wait status as a shell exit code: 128 + N for a process killed by signal N."""
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def set_limits(limits: dict):
    for name, value in limits.items():
        kind = getattr(resource, f"RLIMIT_{name.upper()}")
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def private_namespaces() -> bool:
    """Move into new process and mount namespaces; False where this zygote may not create them.

    The calling process stays in the old process namespace; its next child is the new one's init.
    """
    return _libc.unshare(CLONE_NEWPID | CLONE_NEWNS) == 0


def die_with_parent():
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def mount_private_folders(tmp_bytes: int):
    """In a new namespace's init: a /proc that shows only this namespace and an empty /tmp of its own."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")


def reap_until(worker_pid: int) -> int:
    """As a namespace's init: reap every process until the worker ends; returns its exit code."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 70
        if pid == worker_pid:
            return exit_code(status)


def run_worker(fds: list[int], device: str, uid: int | None, limits: dict):
    """In a fresh child of the zygote: become the student's worker (never returns)."""
    requests, responses, output = fds
    code = 70
    try:
        die_with_parent()
        isolated = private_namespaces()
        if isolated:
            init = os.fork()
            if init:  # stays outside as the zygote's handle: dies when killed, taking the namespace along
                for fd in fds:
                    os.close(fd)
                os._exit(exit_code(os.waitpid(init, 0)[1]))
            die_with_parent()
            mount_private_folders(limits.get("fsize", 16 * 2**20))
        os.chdir("/tmp")
        set_limits(limits)
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        if isolated:
            worker = os.fork()
            if worker:
                for fd in fds:
                    os.close(fd)
                os._exit(reap_until(worker))
        os.setsid()
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.environ["HOME"] = "/tmp"
        serve(requests, responses, device, isolated)
        code = 0
    finally:
        os._exit(code)


class Zygote:
    def __init__(self, listener: socket.socket, device: str):
        self.listener = listener
        self.device = device
        self.connections: list[socket.socket] = []
        self.children: dict[int, int | None] = {}  # pid -> uid, for live workers
        self.finished: dict[int, int] = {}  # pid -> exit code, for workers no one has asked about yet
        self.next_uid = 0

    def free_uid(self) -> int:
        in_use = set(self.children.values())
        for _ in range(UID_COUNT):
            uid = UID_BASE + self.next_uid
            self.next_uid = (self.next_uid + 1) % UID_COUNT
            if uid not in in_use:
                return uid
        raise RuntimeError("no free uid for another worker")

    def spawn(self, fds: list[int], request: dict) -> int:
        if len(fds) != 3:
            raise ValueError("a spawn request carries three file descriptors")
        uid = self.free_uid() if request.get("own_uid") else None
        limits = {str(k): int(v) for k, v in request.get("limits", {}).items()}
        pid = os.fork()
        if pid == 0:
            for connection in (self.listener, *self.connections):
                connection.close()
            run_worker(fds, self.device, uid, limits)
        self.children[pid] = uid
        return pid

    def kill(self, pid: int) -> dict:
        self.reap()
        if pid in self.finished:
            return {"status": self.finished.pop(pid), "was_alive": False}
        if pid not in self.children:
            raise ValueError(f"no worker {pid}")
        os.kill(pid, signal.SIGKILL)
        status = exit_code(os.waitpid(pid, 0)[1])
        del self.children[pid]
        return {"status": status, "was_alive": True}

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            if pid in self.children:
                del self.children[pid]
                self.finished[pid] = exit_code(status)

    def answer(self, connection: socket.socket):
        try:
            data, fds, _, _ = socket.recv_fds(connection, MAX_MESSAGE, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            self.connections.remove(connection)
            connection.close()
            return
        try:
            request = json.loads(data)
            if request.get("op") == "spawn":
                reply = {"ok": self.spawn(fds, request)}
            elif request.get("op") == "kill":
                reply = {"ok": self.kill(int(request["pid"]))}
            else:
                reply = {"error": f"unknown request {request.get('op')!r}"}
        except (ValueError, KeyError, TypeError, OSError, RuntimeError) as exc:
            reply = {"error": str(exc)}
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        connection.sendall(json.dumps(reply).encode())

    def run(self):
        while True:
            readable, _, _ = select.select([self.listener, *self.connections], [], [], 1.0)
            for ready in readable:
                if ready is self.listener:
                    self.connections.append(self.listener.accept()[0])
                else:
                    self.answer(ready)
            self.reap()
            # Finished workers no one asked about within a while are forgotten.
            while len(self.finished) > 4096:
                self.finished.pop(next(iter(self.finished)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader.zygote")
    parser.add_argument("--listen", type=int, required=True, help="a listening SOCK_SEQPACKET socket")
    parser.add_argument("--device", default="cpu")
    options = parser.parse_args(argv)
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]  # never import from the shared /tmp
    configure_torch(options.device)
    warm_up()
    listener = socket.socket(fileno=options.listen)
    os.set_inheritable(listener.fileno(), False)
    Zygote(listener, options.device).run()


if __name__ == "__main__":
    main()
