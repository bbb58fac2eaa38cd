"""What this machine can do to confine a worker (`detect`), and the Linux backend's means: bubblewrap
namespaces and an unprivileged uid. The backends that start workers are in grader/isolation/.

On Linux with bubblewrap (`bwrap`), each worker sees only the Python installation (read-only), the worker
module, the student's own folder (read-only) and a private /tmp; it has no network (not even loopback) and
its own process namespace, so every process it starts, daemons included, dies with it. The process-count
limit binds per worker as root, which drops each worker to an unprivileged uid of its own, and without root
on Linux 5.14 or newer, which counts it per user namespace and gives each worker one. Resource limits
(memory, CPU time, file size; processes where they bind) apply with or without bubblewrap.
`Sandbox.missing` says which protections this machine lacks. Where neither bubblewrap nor another uid
works (macOS, Windows, an ordinary user without user namespaces), workers start through the portable backend.
Nothing here imports a POSIX-only module at import time: this module is imported on every OS.
"""
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader.limits import SPAWNED_UIDS, Limits  # noqa: F401 - Limits is part of this module's interface

GRADER_DIR = Path(__file__).resolve().parent
PROJECT_DIR = GRADER_DIR.parent
WORKER_FILES = ("__init__.py", "worker.py", "wire.py", "zygote.py", "limits.py")  # all the grader code a worker sees
SECRET_DIRS = (GRADER_DIR, PROJECT_DIR / "solutions", PROJECT_DIR / "tests")  # never shown to a worker
SANDBOX_GRADER = "/opt/attention-grader"
SANDBOX_SUBMISSION = "/submission"
WORKER_ENV = {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
              "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
              "PYTHONIOENCODING": "utf-8"}  # a worker's environment: its output is UTF-8 on every OS
# Kept from ours in a confined worker's: which CPU kernels torch uses, so that a grader told to use others (a test
# standing in for a machine without AVX) has its student's code use them too.
PASSED_THROUGH = ("ATEN_CPU_CAPABILITY",)
SANDBOX_UID_BASE = SPAWNED_UIDS.start  # unprivileged uids for workers when the grader runs as root
FORCE_BACKEND = "GRADER_ISOLATION"  # =portable starts workers as on macOS and Windows, for tests on Linux
PORTABLE_MISSING = ("file-system isolation", "network isolation", "a process namespace", "a process-count limit")


@dataclass(frozen=True)
class Sandbox:
    """What this machine can do to confine a worker."""
    bwrap: str | None  # path of bubblewrap when it works here
    drop_uid: bool  # running as root: workers get their own unprivileged uid
    missing: tuple[str, ...] = field(default=())  # protections that are not available, for the warning
    # Without root: the kernel counts RLIMIT_NPROC per user namespace, and each worker has one of its own.
    processes_counted_per_namespace: bool = False
    # Which backend starts workers (grader.isolation): linux on Linux, confined or not (its zygote and its
    # parent-death signal work either way); portable on macOS and Windows, or where FORCE_BACKEND asks for it.
    backend: str = "linux"

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None

    @property
    def limits_processes(self) -> bool:
        """Whether a worker's process-count limit counts only its own processes (it is set only then)."""
        return self.drop_uid or self.processes_counted_per_namespace

    def warning(self) -> str | None:
        if not self.missing:
            return None
        return ("warning: student code runs without " + ", ".join(self.missing)
                + " (see the README's 'Grading untrusted code')")


@cache
def detect(enabled: bool = True) -> Sandbox:
    """Probe once per process whether bubblewrap works here (Ubuntu 24.04 may forbid user namespaces)."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if os.environ.get(FORCE_BACKEND) == "portable" or not sys.platform.startswith("linux"):
        return Sandbox(None, False, portable_missing() if enabled else ("a sandbox (--no-sandbox)",), backend="portable")
    if not enabled:
        return Sandbox(None, False, ("a sandbox (--no-sandbox)",))
    bwrap = shutil.which("bwrap")
    if bwrap:
        probe = subprocess.run([bwrap, *namespace_flags(root), "--ro-bind", "/", "/", "true"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            bwrap = None
    if bwrap is None:
        # Without namespaces, root can still run workers as an unprivileged user (as in Gradescope's containers).
        if root and can_run_python_as(SANDBOX_UID_BASE):
            return Sandbox(None, True, ("file-system isolation", "network isolation", "a process namespace"))
        return Sandbox(None, False, portable_missing())
    if root and not shutil.which("setpriv"):
        return Sandbox(bwrap, False, ("a process-count limit (setpriv not found)",))
    if root:
        return Sandbox(bwrap, True)
    if processes_counted_per_namespace(bwrap):
        return Sandbox(bwrap, False, processes_counted_per_namespace=True)
    # Here RLIMIT_NPROC counts every process of the user's; each worker's process namespace still ends every
    # process it started.
    return Sandbox(bwrap, False, ("a process-count limit (without root it needs Linux 5.14 or newer, which "
                                  "counts processes per user namespace)",))


def portable_missing() -> tuple[str, ...]:
    """What a worker of the portable backend lacks here: the namespaces and the process count everywhere, and
    on Windows the resource limits too (there is no setrlimit; a Job Object would give them)."""
    if sys.platform == "win32":
        return (*PORTABLE_MISSING, "memory, CPU-time and file-size limits")
    if sys.platform == "darwin":
        return (*PORTABLE_MISSING, "a memory limit wherever macOS refuses one")
    return PORTABLE_MISSING


# In a new user namespace, a limit of two processes lets one child fork where the kernel counts processes per
# namespace (Linux 5.14 or newer); an older kernel counts all of the user's and refuses.
NPROC_PROBE = """
import os, resource
resource.setrlimit(resource.RLIMIT_NPROC, (2, 2))
try:
    pid = os.fork()
except OSError:
    raise SystemExit(1)
if pid == 0:
    os._exit(0)
raise SystemExit(os.waitpid(pid, 0)[1])
"""


def processes_counted_per_namespace(bwrap: str) -> bool:
    """Whether RLIMIT_NPROC, set inside a user namespace, counts only that namespace's processes."""
    probe = subprocess.run([bwrap, "--unshare-user", "--ro-bind", "/", "/", python_executable(), "-I", "-S",
                            "-c", NPROC_PROBE], capture_output=True, timeout=30)
    return probe.returncode == 0


def can_run_python_as(uid: int) -> bool:
    """Whether this Python can start under another uid (it cannot when installed in a private home)."""
    if not shutil.which("setpriv"):
        return False
    probe = subprocess.run(unprivileged_command([python_executable(), "-c", "import torch"], uid),
                           capture_output=True, cwd="/", timeout=120)
    return probe.returncode == 0


def unprivileged_command(argv: list[str], uid: int) -> list[str]:
    # A uid change clears the parent-death signal; --pdeathsig keep sets it again.
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--pdeathsig", "keep", "--", *argv]


def private_worker_package(folder: Path) -> Path:
    """Copy the worker modules into folder/grader, readable by any uid; returns the folder for PYTHONPATH."""
    package = folder / "grader"
    package.mkdir(parents=True, exist_ok=True)
    for name in WORKER_FILES:
        shutil.copy(GRADER_DIR / name, package / name)
    for path in (folder, package, *package.iterdir()):
        path.chmod(0o755)
    return folder


def namespace_flags(root: bool) -> list[str]:
    # As root, no user namespace: the sandbox keeps the power to switch to an unprivileged uid inside.
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return flags if root else ["--unshare-user", *flags]


def _readonly_paths() -> list[Path]:
    """The Python installation the worker needs: its prefixes, site-packages folders and the folders on
    sys.path (the targets of .pth files among them), nothing else.

    Not the folder grading started in (sys.path[0], the current folder): it may hold the class's
    submissions. Nor this project's sources (a virtual environment inside it is fine): the worker gets its
    own copy of the worker modules.
    """
    import site

    here = Path.cwd().resolve()
    path_entries = [p for p in sys.path[1:] if p and Path(p).resolve() != here]
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages(),
                  *path_entries]
    paths = {Path(p).resolve() for p in candidates if Path(p).is_dir()}
    paths = {p for p in paths if p != Path("/") and p != PROJECT_DIR and p not in PROJECT_DIR.parents
             and not any(p.is_relative_to(secret) for secret in SECRET_DIRS)}
    return sorted(p for p in paths if not any(q in p.parents for q in paths))


def python_executable() -> str:
    """This interpreter by an absolute path that works from any folder and inside the sandbox.

    sys.executable may be relative or lead through `..` (`../venv/bin/python`); its folder is resolved, but
    not its own name, since a virtual environment's python is a symlink that must keep its place.
    """
    executable = Path(sys.executable or "python3")
    return str(executable.absolute().parent.resolve() / executable.name)


ZYGOTE_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL")  # namespaces, uids, kills


def bwrap_command(sandbox: Sandbox, argv: list[str], env: dict, import_dir: str | None, device: str,
                  uid: int | None, worker_dir: Path) -> list[str]:
    """The bubblewrap command line that runs argv (a Python command) confined.

    worker_dir holds the worker package (see private_worker_package); it appears at SANDBOX_GRADER.
    As root, argv runs under `uid`; uid None is the zygote, which stays root with only the capabilities
    it needs to confine the workers it forks.
    """
    command = [sandbox.bwrap, *namespace_flags(sandbox.drop_uid), "--die-with-parent", "--new-session",
               "--clearenv", "--ro-bind", "/usr", "/usr"]
    if uid is None:  # the zygote: as root, or in a user namespace of its own without root
        command += ["--cap-drop", "ALL"]
        for capability in ZYGOTE_CAPABILITIES:
            command += ["--cap-add", capability]
    for name in ("lib", "lib32", "lib64", "bin", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for path in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        if Path(path).exists():
            command += ["--ro-bind", path, path]
    command += ["--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    command += ["--dev-bind", "/dev", "/dev", "--ro-bind", "/sys", "/sys"] if device == "cuda" else ["--dev", "/dev"]
    made = {Path("/"), Path("/tmp"), Path("/usr")}

    def bind(source, target):
        # Parents that bubblewrap creates must be traversable by the worker's unprivileged uid.
        for parent in reversed(Path(target).parents):
            if parent not in made:
                command.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(parent)
        command.extend(["--ro-bind", str(source), str(target)])

    bound = _readonly_paths()
    for path in bound:
        bind(path, path)
    # The grader package and this project may sit inside a bound prefix (a non-editable install): hide them.
    for secret in (GRADER_DIR, PROJECT_DIR):
        if any(b in secret.parents for b in bound):
            command += ["--tmpfs", str(secret)]
    bind(worker_dir, SANDBOX_GRADER)
    if import_dir:
        bind(import_dir, SANDBOX_SUBMISSION)
    passed = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    for key, value in {**passed, **env, "PYTHONPATH": SANDBOX_GRADER, "HOME": "/tmp", "PATH": "/usr/bin:/bin"}.items():
        command += ["--setenv", key, value]
    command += ["--chdir", "/tmp"]
    return command + (unprivileged_command(argv, uid) if sandbox.drop_uid and uid is not None else argv)


def unconfined_env(worker_dir: Path) -> dict:
    """The environment of a worker (or zygote) started without bubblewrap: ours, minus Python's settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "OMP_", "MKL_"))}
    return {**inherited, **WORKER_ENV, "PYTHONPATH": str(worker_dir)}
