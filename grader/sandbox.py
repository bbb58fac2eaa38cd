"""What this machine can do to confine a worker (`detect`), and the Linux backend's means: bubblewrap
namespaces and an unprivileged uid. The backends that start workers are in grader/isolation/.

On Linux with bubblewrap (`bwrap`), each worker sees only the Python installation (read-only), the worker
module, the student's own folder (read-only) and a private /tmp; it has no network (not even loopback) and
its own process namespace, so every process it starts, daemons included, dies with it. The process-count
limit binds per worker as root, which drops each worker to an unprivileged uid of its own (where that uid can
reach the Python installation; elsewhere workers keep root's uid, as they keep an ordinary user's), and on
Linux 5.14 or newer, which counts it per user namespace and gives each worker one. Resource limits
(memory, CPU time, file size; processes where they bind) apply with or without bubblewrap.
`Sandbox.missing` says which protections this machine lacks. On macOS and Windows (or where
GRADER_ISOLATION=portable asks for it) workers start through the portable backend; on Linux without bubblewrap
or another uid they start unconfined, with resource limits only, through the linux backend.
Nothing here imports a POSIX-only module at import time: this module is imported on every OS.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader.limits import SPAWNED_UIDS, Limits  # noqa: F401 - Limits is part of this module's interface

GRADER_DIR = Path(__file__).resolve().parent
# All the grader code a worker sees.
WORKER_FILES = ("__init__.py", "worker.py", "worker_state.py", "wire.py", "zygote.py", "limits.py",
                "part_repairs.py")
SECRET_FOLDERS = ("solutions", "tests")  # a checkout's folders beside the grader package: never shown to a worker
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
UNCONFINED_MISSING = ("file-system isolation", "network isolation", "a process namespace", "a process-count limit")


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
        missing = unconfined_missing() if enabled else ("a sandbox (--no-sandbox)",)
        return Sandbox(None, False, missing, backend="portable")
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
        return Sandbox(None, False, unconfined_missing())
    if root and not shutil.which("setpriv"):
        return Sandbox(bwrap, False, ("a process-count limit (setpriv not found)",))
    if root and can_run_python_as(SANDBOX_UID_BASE, bwrap):
        return Sandbox(bwrap, True)
    # Without root, or as root where another uid cannot reach this Python (it lies in a folder only root may
    # enter): workers keep the grader's uid, each in a user namespace of its own.
    if processes_counted_per_namespace(bwrap):
        return Sandbox(bwrap, False, processes_counted_per_namespace=True)
    # Here RLIMIT_NPROC counts every process of the user's; each worker's process namespace still ends every
    # process it started.
    return Sandbox(bwrap, False, ("a process-count limit (without root it needs Linux 5.14 or newer, which "
                                  "counts processes per user namespace)",))


def unconfined_missing() -> tuple[str, ...]:
    """What a worker without bubblewrap or a uid of its own lacks here: the namespaces and the process count
    everywhere, and on Windows the resource limits too (there is no setrlimit; a Job Object would give them)."""
    if sys.platform == "win32":
        return (*UNCONFINED_MISSING, "memory, CPU-time and file-size limits")
    if sys.platform == "darwin":
        return (*UNCONFINED_MISSING, "a memory limit wherever macOS refuses one")
    return UNCONFINED_MISSING


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


# Finds torch and numpy and reads their first file, without the cost of importing them.
REACH_PROBE = """
import importlib.util
for name in ("torch", "numpy"):
    open(importlib.util.find_spec(name).origin, "rb").close()
"""


def can_run_python_as(uid: int, bwrap: str | None = None) -> bool:
    """Whether this Python can start under another uid and read torch and numpy, in the worker's view when
    bwrap is given. It cannot where the interpreter or its packages lie in a folder other users cannot enter
    (a private home, a clone in a 0700 folder, a venv made under umask 077)."""
    if not shutil.which("setpriv"):
        return False
    argv = [python_executable(), "-c", REACH_PROBE]
    with tempfile.TemporaryDirectory() as no_worker_modules:
        if bwrap:
            command = bwrap_command(Sandbox(bwrap, True), argv, {}, None, "cpu", uid, Path(no_worker_modules))
        else:
            command = unprivileged_command(argv, uid)
        probe = subprocess.run(command, capture_output=True, cwd="/", timeout=120)
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


def site_folders() -> set[Path]:
    """The folders pip installs packages into for this Python: its site-packages and the user's."""
    import site

    folders = [*site.getsitepackages([sys.prefix, sys.exec_prefix]), site.getusersitepackages()]
    return {Path(folder).resolve() for folder in folders if Path(folder).is_dir()}


def project_dir(grader_dir: Path = GRADER_DIR) -> Path | None:
    """The folder this project runs from, which holds the grader package (a checkout, a student release, a
    platform's copy); None for a package pip installed, whose folder is the installation's site-packages."""
    folder = grader_dir.parent
    return None if folder in site_folders() else folder


@dataclass(frozen=True)
class WorkerView:
    """The folders a sandboxed worker sees besides the system's: `bound`, read-only at their own paths, and
    inside them `hidden`, each covered by an empty folder."""
    bound: tuple[Path, ...]
    hidden: tuple[Path, ...]


def worker_view(grader_dir: Path = GRADER_DIR) -> WorkerView:
    """The Python installation the worker needs: its prefixes, site-packages folders and the folders on
    sys.path (the targets of .pth files among them), nothing else.

    Not the folder grading started in (sys.path[0], the current folder): it may hold the class's
    submissions. Nor /tmp or /dev/shm themselves (a PYTHONPATH of /tmp): the worker's own are private. Nor this project's folder, its parents or its secret folders (a virtual environment inside
    it is fine). The worker gets its own copy of the worker modules, so every grader package the
    installation holds is hidden: a wheel's, or a copy pip installed beside the one that runs (Gradescope's).
    """
    here = Path.cwd().resolve()
    sites = site_folders()
    path_entries = [p for p in sys.path[1:] if p and Path(p).resolve() != here]
    candidates = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *path_entries)
                  if Path(p).is_dir()} | sites
    project = project_dir(grader_dir)
    # Folders never bound whole: the root, and the private /tmp and /dev/shm that a bound host folder would hide
    # (torch's imports need a writable temporary folder).
    closed = [Path("/"), Path("/tmp"), Path("/dev/shm")]
    secrets = [grader_dir]
    if project:
        closed += [project, *project.parents]
        secrets += [project / name for name in SECRET_FOLDERS]
    paths = {p for p in candidates if p not in closed and not any(p.is_relative_to(s) for s in secrets)}
    bound = sorted(p for p in paths if not any(q in p.parents for q in paths))
    packages = {grader_dir, *(site / "grader" for site in sites if (site / "grader" / "suites").is_dir())}
    return WorkerView(tuple(bound), tuple(sorted(p for p in packages if any(b in p.parents for b in bound))))


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
    Where sandbox.drop_uid, argv runs under `uid`; elsewhere it keeps this process's uid, without any
    capability. uid None is the zygote, which keeps only the capabilities it needs to confine the workers it
    forks.
    """
    command = [sandbox.bwrap, *namespace_flags(sandbox.drop_uid), "--die-with-parent", "--new-session",
               "--clearenv", "--ro-bind", "/usr", "/usr"]
    if uid is None:  # the zygote: as root, or in a user namespace of its own without root
        command += ["--cap-drop", "ALL"]
        for capability in ZYGOTE_CAPABILITIES:
            command += ["--cap-add", capability]
    elif not sandbox.drop_uid:  # run by root, bubblewrap would leave it every capability in its user namespace
        command += ["--cap-drop", "ALL"]
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

    view = worker_view()
    for path in view.bound:
        bind(path, path)
    for path in view.hidden:
        command += ["--tmpfs", str(path)]
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
