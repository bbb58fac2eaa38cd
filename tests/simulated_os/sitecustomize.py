"""Make the grader's own code, in this interpreter and in every Python process it starts, see what CPython on
Windows or macOS offers, so that its portable paths run on Linux as they would there.

Put this folder first on PYTHONPATH, with GRADER_ISOLATION=portable and SIMULATED_OS=windows or macos.

macos: lowering RLIMIT_AS raises ValueError, as it does there below the address space a process already has.

windows: for modules named grader.* (their
imports, at the top or inside functions), these are missing: `resource`; `os.fork`, `os.killpg`, `os.getuid`,
`os.geteuid`, `os.setsid`, `os.register_at_fork`, `os.pread` and `os.set_blocking` (Windows has it only from
Python 3.12); `signal.SIGKILL`, `SIGHUP` and `SIGXFSZ`; `preexec_fn` and `pass_fds`; `select` on anything but
sockets; `/proc`; `ctypes.CDLL(None)`. Other libraries (torch, pytest, the standard library itself) keep the
real modules, as their Windows builds have their own. Every Python process started from here gets this folder
on PYTHONPATH whatever environment it is given, so the block reaches the grader's workers too.
"""
import builtins
import ctypes
import os
import select
import signal
import stat
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
SIMULATED = os.environ.get("SIMULATED_OS")
MISSING = {
    "os": {"fork", "forkpty", "killpg", "getuid", "geteuid", "getgid", "setsid", "register_at_fork", "pread",
           "getpgid", "setpgid", "WNOHANG", "waitpid", *(("set_blocking",) if sys.version_info < (3, 12) else ())},
    "signal": {"SIGKILL", "SIGHUP", "SIGXFSZ"},
}
UNAVAILABLE = {"resource", "fcntl", "pwd", "grp", "termios"}


def _refusing_an_address_space_limit():
    import resource

    real = resource.setrlimit

    def setrlimit(kind, limits):
        if kind == resource.RLIMIT_AS:
            raise ValueError("current limit exceeds maximum limit")
        return real(kind, limits)
    resource.setrlimit = setrlimit


def _is_proc(path) -> bool:
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
    return text == "/proc" or text.startswith("/proc/")


def _no_proc(function):
    def guarded(path, *args, **kwargs):
        if _is_proc(path):
            raise FileNotFoundError(2, "No such file or directory (no /proc on Windows)", os.fsdecode(path))
        return function(path, *args, **kwargs)
    return guarded


class _Restricted(types.ModuleType):
    """A module as the grader sees it here: the real one, less what Windows lacks, with some calls replaced."""

    def __init__(self, real, missing=(), replaced=None):
        super().__init__(real.__name__)
        self._real, self._missing, self._replaced = real, set(missing), replaced or {}

    def __getattr__(self, name):
        if name in self._missing:
            raise AttributeError(f"module {self._real.__name__!r} has no attribute {name!r} (not on Windows)")
        if name in self._replaced:
            return self._replaced[name]
        return getattr(self._real, name)


def _sockets_only(*arguments):
    for watched in arguments[:3]:
        for item in watched:
            fd = item if isinstance(item, int) else item.fileno()
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise OSError(10038, "select() on Windows takes sockets only")  # WSAENOTSOCK
    return select.select(*arguments)


class _WindowsPopen(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        if kwargs.get("preexec_fn") is not None:
            raise ValueError("preexec_fn is not supported on Windows platforms")
        if kwargs.get("pass_fds"):
            raise ValueError("pass_fds is not supported on Windows")
        kwargs.pop("start_new_session", None)  # ignored on Windows, which has no sessions
        super().__init__(args, *rest, **kwargs)

    def kill(self):  # TerminateProcess: no signal module needed
        super().kill()


class _WindowsCDLL(ctypes.CDLL):
    def __init__(self, name, *args, **kwargs):
        if name is None:
            raise TypeError("LoadLibrary() argument 1 must be str, not None")
        super().__init__(name, *args, **kwargs)


RESTRICTED = {
    "os": _Restricted(os, MISSING["os"], {"listdir": _no_proc(os.listdir), "open": _no_proc(os.open),
                                          "scandir": _no_proc(os.scandir)}),
    "signal": _Restricted(signal, MISSING["signal"]),
    "select": _Restricted(select, replaced={"select": _sockets_only}),
    "subprocess": _Restricted(subprocess, replaced={"Popen": _WindowsPopen}),
    "ctypes": _Restricted(ctypes, replaced={"CDLL": _WindowsCDLL}),
}
_import, _open = builtins.__import__, builtins.open


def _importer_is_grader(globals_) -> bool:
    spec = (globals_ or {}).get("__spec__")
    name = spec.name if spec is not None else (globals_ or {}).get("__name__", "")  # python -m grader: __main__
    return name == "grader" or name.startswith("grader.")


def _windows_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = _import(name, globals, locals, fromlist, level)
    if level or not _importer_is_grader(globals):
        return module
    top = name.split(".")[0]
    if top in UNAVAILABLE:
        raise ImportError(f"No module named {top!r} (not on Windows)")
    if name in RESTRICTED and (fromlist or "." not in name):
        if fromlist:
            for wanted in fromlist:
                if wanted in MISSING.get(name, ()):
                    raise ImportError(f"cannot import name {wanted!r} from {name!r} (not on Windows)")
        return RESTRICTED[name]
    return module


def _windows_open(file, *args, **kwargs):
    if _is_proc(file) and _importer_is_grader(sys._getframe(1).f_globals):
        raise FileNotFoundError(2, "No such file or directory (no /proc on Windows)", os.fsdecode(file))
    return _open(file, *args, **kwargs)


if SIMULATED == "windows":
    builtins.__import__, builtins.open = _windows_import, _windows_open
elif SIMULATED == "macos":
    _refusing_an_address_space_limit()

_Popen_init = subprocess.Popen.__init__


def _carrying_the_block(self, args, *rest, **kwargs):
    env = kwargs.get("env")
    if env is not None:  # the block reaches every Python process started with an environment of its own
        kwargs["env"] = {**env, "SIMULATED_OS": SIMULATED or "",
                         "PYTHONPATH": os.pathsep.join(filter(None, (HERE, env.get("PYTHONPATH"))))}
    _Popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _carrying_the_block
