"""The zygote: one process that imports torch once and forks a fresh worker for every student.

Batch grading starts it inside the sandbox (`python -m grader.zygote --listen FD --device cpu`). Only the
trusted grading processes can reach its listening socket: the socket's path lies in a folder the sandbox
does not show, and the zygote's children close it before they run anything. A connection sends one JSON
message per request on a SOCK_SEQPACKET socket:

- `{"op": "spawn", "own_uid": bool, "limits": {...}}` with three file descriptors attached (the worker's
  request pipe, its reply pipe and its output file) forks a worker and answers `{"ok": pid}`;
- `{"op": "kill", "pid": pid, "wait": bool}` kills that worker and everything it started, and answers
  `{"ok": {"status": exit status (None when not waited for), "was_alive": bool}}`;
- `{"op": "status"}` answers `{"ok": {"forks": bool}}`: whether it forks workers at all (see --isolated).

Each worker is pid 1 of a new process namespace, with new mount, network, IPC and host-name namespaces: its
own /proc, an empty /tmp and /dev/shm, no network, and every process it starts dies with it. Run as root,
each live worker also gets its own unprivileged uid, so that the process-count limit binds per student;
without root, each gets a user namespace of its own, where Linux 5.14 and newer count it per student too.
Started with --isolated (in a sandbox), a zygote that cannot create these namespaces refuses to fork, and
the grading processes start workers of their own instead.
"""
import argparse
import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import socket
import sys
import time

if __name__ == "__main__":
    # Python's advice for a process that forks without exec: no collections until the freeze (see main). Torch's
    # imports leave little garbage, and collecting it as they go costs a fifth of their time.
    gc.disable()

from grader.limits import FORKED_UIDS, die_with_parent, set_limits  # noqa: E402
from grader.worker import PipeChannel, configure_torch, load_meta_kernels, serve  # noqa: E402

SETUP_FAILED = 71  # a worker that could not confine itself: the grader's problem, not the student's
MAX_MESSAGE = 64 * 1024

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
MADV_COLLAPSE, HUGE_PAGE = 25, 2 * 2**20
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)  # addresses above 2**31


def _check(result: int, what: str):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str, target: str, kind: str | None, flags: int, data: str = ""):
    _check(_libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, flags,
                       data.encode() or None), f"mount {target}")


def heap_on_huge_pages() -> int:
    """Move the zygote's private memory (torch's and Python's heap) onto 2 MiB pages where the kernel can
    (MADV_COLLAPSE, Linux 6.1 and newer; elsewhere each request fails and nothing changes); returns the bytes
    moved. A fork then copies one page-table entry per 2 MiB instead of 512, and a worker's exit unmaps as
    few; a worker that writes to such a page still copies only 4 KiB of it."""
    moved = 0
    try:
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
    except OSError:
        return 0  # no /proc: the pages stay as they are
    for fields in regions:
        start, end = (int(address, 16) for address in fields[0].split("-"))
        name = fields[5] if len(fields) > 5 else ""
        if fields[1] != "rw-p" or name not in ("", "[heap]"):
            continue  # only private, writable memory that no file backs
        start, end = -(-start // HUGE_PAGE) * HUGE_PAGE, end // HUGE_PAGE * HUGE_PAGE
        if end > start and _libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            moved += end - start
    return moved


def exit_code(status: int) -> int:
    """A wait status as subprocess reports it: the exit status, or -N for a process killed by signal N."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def root_of_the_system() -> bool:
    """Whether this process is root in the system's own user namespace, not uid 0 of one that bubblewrap made
    (where root's workers keep its uid) and that gives it capabilities over that namespace only."""
    with open("/proc/self/uid_map") as mapping:
        return os.getuid() == 0 and mapping.read().split() == ["0", "0", "4294967295"]


class PidNamespaces:
    """Forks each child of the zygote into a new process namespace, as its pid 1, where the zygote may.

    As root, unshare(CLONE_NEWPID) puts the zygote's next child into a new namespace, and going back (setns
    to the zygote's own) lets the following child get a new one again: one fork per worker. In the user
    namespace bubblewrap gives the zygote (without root, or as root where workers keep its uid), it does not
    go back; each worker then comes from a small intermediate child that makes the namespace, forks the
    worker into it and passes on how it ended, and gets a user namespace of its own with no capabilities.
    A fork and an exit of a process that imported torch cost milliseconds each.
    """

    def __init__(self, keep: list[str]):
        self.keep = keep
        self.own = os.open("/proc/self/ns/pid", os.O_RDONLY)
        self.nested = not root_of_the_system()
        self.available = self._probe()

    def confine(self, tmp_bytes: int):
        """In a child's new process namespace: the rest of a worker's confinement (see run_worker)."""
        private_namespaces(tmp_bytes, self.keep)
        if self.nested:
            own_user_namespace()

    def _probe(self) -> bool:
        """Whether a child in a new namespace may also set up the rest of its confinement."""
        def confined():
            self.confine(2**20)
            os._exit(0)

        try:
            pid = self.fork(lambda: None, confined, close=())
        except OSError:
            return False
        return os.waitpid(pid, 0)[1] == 0

    def fork(self, prepare, become, close) -> int:
        """Fork a child that runs prepare() and then become() (which never returns) as pid 1 of a new process
        namespace; the intermediate child, without root, closes the file descriptors `close`."""
        if not self.nested:
            _check(_libc.unshare(CLONE_NEWPID), "unshare")
            pid = None
            try:
                pid = os.fork()
                if pid == 0:
                    try:
                        prepare()
                        os.close(self.own)
                    finally:
                        become()
            finally:
                if pid != 0:
                    _check(_libc.setns(self.own, CLONE_NEWPID), "setns")
            return pid
        pid = os.fork()
        if pid == 0:
            code = SETUP_FAILED
            try:
                prepare()
                os.close(self.own)
                die_with_parent()
                _check(_libc.unshare(CLONE_NEWPID), "unshare")
                worker = os.fork()
                if worker == 0:
                    try:
                        die_with_parent()
                    finally:
                        become()
                for fd in close:
                    os.close(fd)
                status = os.waitpid(worker, 0)[1]
                if os.WIFSIGNALED(status):  # end as the worker ended, so that the zygote reports it
                    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
                    os.kill(os.getpid(), os.WTERMSIG(status))
                code = os.WEXITSTATUS(status)
            finally:
                os._exit(code)
        return pid


PRIVATE_FOLDERS = ("/tmp", "/dev/shm")  # each worker gets these empty


def installation_paths() -> list[str]:
    """The folders this Python imports from (prefixes, site-packages, every sys.path entry, .pth targets
    included), each with and without its symlinks resolved; a folder inside another is left out.

    In the sandbox the zygote sees only what bubblewrap binds, so nothing here is more than the sandbox shows.
    """
    import site

    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), *sys.path]
    paths = {os.path.abspath(p) for p in candidates if p and os.path.isdir(p)}
    paths |= {os.path.realpath(p) for p in paths}
    return sorted(p for p in paths if not any(q != p and p.startswith(q.rstrip("/") + "/") for q in paths))


def hidden_by_private_folders(paths: list[str]) -> list[str]:
    """The paths that an empty /tmp or /dev/shm would hide (a virtual environment under /tmp)."""
    return [p for p in paths for folder in PRIVATE_FOLDERS if p.startswith(folder + "/")]


def private_namespaces(tmp_bytes: int, keep: list[str]):
    """In a new process namespace's pid 1: namespaces of its own for everything else a worker could share
    with the workers beside it (mounts, network, IPC, host name), a /proc that shows only its own processes,
    and an empty /tmp and /dev/shm in which the folders `keep` (the Python installation's) stay visible,
    read-only."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    # Opened in the new mount namespace: a bind mount's source must lie in the caller's own.
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in keep]
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for folder in PRIVATE_FOLDERS:
        if os.path.isdir(folder):
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")
    for path, fd in kept:  # the fd still reaches the folder the new tmpfs hides
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def own_user_namespace():
    """In bubblewrap's user namespace: one of the worker's own, nested in the zygote's, with no capabilities.

    Its namespaces (mount, network, ...) stay owned by the zygote's user namespace, so the worker cannot
    change them; another worker's processes, under the same real uid, lie in another pid namespace it
    cannot see, and in another user namespace over which it has no capability (no signal, no ptrace).
    """
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user namespace")
    for name, line in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as mapping:
            mapping.write(line)
    for capability in range(64):  # the bounding set first, while CAP_SETPCAP is still held
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL
            break
    none = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), none), "capset")


def run_worker(fds: list[int], device: str, uid: int | None, limits: dict, confine=None):
    """In a fresh child of the zygote: become the student's worker (never returns).

    With `confine` (PidNamespaces.confine), the worker is pid 1 of its own namespace, which confine gives
    the rest of its namespaces: when it ends, every process it started ends too, and signals its own
    processes send it (SIGKILL included) are ignored, as they are for any init.
    """
    requests, responses, output = fds
    code = SETUP_FAILED
    try:
        if confine is not None:
            confine(limits.get("fsize", 16 * 2**20))
        os.chdir("/tmp")
        set_limits(limits)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        die_with_parent()  # after the uid change, which clears it
        os.setsid()
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.environ["HOME"] = "/tmp"
        code = 70
        serve(PipeChannel(requests, responses), device, isolated=confine is not None, reusable=False)
        code = 0
    finally:
        os._exit(code)


class Zygote:
    def __init__(self, listener: socket.socket, device: str, require_isolation: bool):
        self.listener = listener
        self.device = device
        self.require_isolation = require_isolation  # refuse to fork workers that would share namespaces
        self.namespaces = PidNamespaces(hidden_by_private_folders(installation_paths()))
        self.connections: list[socket.socket] = []
        self.children: dict[int, int | None] = {}  # pid -> uid, for live workers
        self.finished: dict[int, int] = {}  # pid -> exit code, for workers no one has asked about yet
        self.next_uid = 0

    def free_uid(self) -> int:
        in_use = set(self.children.values())
        for _ in range(len(FORKED_UIDS)):
            uid = FORKED_UIDS[self.next_uid]
            self.next_uid = (self.next_uid + 1) % len(FORKED_UIDS)
            if uid not in in_use:
                return uid
        raise RuntimeError("no free uid for another worker")

    def spawn(self, fds: list[int], request: dict) -> int:
        if len(fds) != 3:
            raise ValueError("a spawn request carries three file descriptors")
        if self.require_isolation and not self.namespaces.available:
            raise RuntimeError("this zygote cannot give workers namespaces of their own")
        uid = self.free_uid() if request.get("own_uid") else None
        limits = {str(k): int(v) for k, v in request.get("limits", {}).items()}
        def prepare():  # in the child: nothing of the zygote's connections
            for connection in (self.listener, *self.connections):
                connection.close()

        def become():
            run_worker(fds, self.device, uid, limits, self.namespaces.confine if self.namespaces.available else None)

        if self.namespaces.available:
            pid = self.namespaces.fork(prepare, become, close=fds)
        else:
            pid = os.fork()
            if pid == 0:
                try:
                    prepare()
                finally:
                    become()
        self.finished.pop(pid, None)  # a reused pid's old status
        self.children[pid] = uid
        return pid

    def kill(self, pid: int, wait: bool) -> dict:
        """Kill a worker; with wait, also wait for it to end (it frees its memory meanwhile)."""
        self.reap()
        if pid in self.finished:
            return {"status": self.finished.pop(pid), "was_alive": False}
        if pid not in self.children:
            raise ValueError(f"no worker {pid}")
        if wait:  # asked why the worker's pipe closed: it may be ending by itself
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    del self.children[pid]
                    return {"status": exit_code(status), "was_alive": False}
                time.sleep(0.01)
        for kill in (os.kill, os.killpg):  # the process group: what a worker without namespaces started
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)
        if not wait:
            return {"status": None, "was_alive": True}  # reaped later; its status is forgotten in time
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
                reply = {"ok": self.kill(int(request["pid"]), bool(request.get("wait", True)))}
            elif request.get("op") == "status":
                reply = {"ok": {"forks": self.namespaces.available or not self.require_isolation}}
            else:
                reply = {"error": f"unknown request {request.get('op')!r}"}
        except (ValueError, KeyError, TypeError, OSError, RuntimeError) as exc:
            reply = {"error": str(exc)}
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            connection.sendall(json.dumps(reply).encode())
        except OSError:  # the grading process went away
            self.connections.remove(connection)
            connection.close()

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
    parser.add_argument("--isolated", action="store_true",
                        help="in a sandbox: refuse to fork workers without namespaces of their own")
    parser.add_argument("--no-meta-kernels", dest="meta_kernels", action="store_false",
                        help="leave torch's meta kernels unloaded (about a second): a self-check's workers build "
                             "on the CPU, as fresh ones do")
    parser.add_argument("--huge-pages", action="store_true",
                        help="move the heap onto 2 MiB pages before the first fork (pays off over many workers)")
    options = parser.parse_args(argv)
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]  # never import from the shared /tmp
    configure_torch(options.device)
    if options.meta_kernels:
        load_meta_kernels()  # once here, not in every worker
    gc.freeze()  # workers share the zygote's memory until they write to it; a collection would touch it all
    gc.enable()  # for the requests, and the workers' students: frozen objects are never visited
    if options.huge_pages:
        heap_on_huge_pages()
    listener = socket.socket(fileno=options.listen)
    os.set_inheritable(listener.fileno(), False)
    Zygote(listener, options.device, options.isolated).run()


if __name__ == "__main__":
    main()
