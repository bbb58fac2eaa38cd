"""A worker's resource limits, each rule written once: which limits apply (none on the address space under CUDA,
the process count only where it counts the worker's own), how they are clamped to the hard limits, the uids
workers run under as root, and dying with the parent. Every backend, the zygote and the worker use these.

No torch and no POSIX module at import: the worker imports this, and on Windows `resource` does not exist.
"""
import os
import signal
import sys
from dataclasses import dataclass

SPAWNED_UIDS = range(61000, 65000)  # as root: workers started by a grading process, one uid per process
FORKED_UIDS = range(70000, 74000)  # as root: workers forked by the zygote, one uid per live worker
# A worker's CPU limit is its grading's wall-clock timeout and this much more, so that the timeout, which says
# what happened, ends an endless loop first.
CPU_SECONDS_OVER_TIMEOUT = 30


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker; the defaults fit a course (see the README)."""
    memory_bytes: int = 4 * 2**30  # address space; not applied on CUDA, where it breaks the driver
    processes: int = 128  # threads count too; binds only where the isolation counts them per worker
    output_bytes: int = 16 * 2**20  # largest file (printed output included) the worker may write
    cpu_seconds: int = 600


def rlimits(limits: Limits, device: str, count_processes: bool) -> dict[str, int]:
    """The limits by RLIMIT name ({"as": ..., "nproc": ...}) that a worker on `device` gets; the process
    count only where `count_processes` (where it counts the worker's processes alone)."""
    named = {"core": 0, "fsize": limits.output_bytes, "cpu": limits.cpu_seconds}
    if device != "cuda":
        named["as"] = limits.memory_bytes
    if count_processes:
        named["nproc"] = limits.processes
    return named


def set_limits(named: dict[str, int], strict: bool = True) -> tuple[str, ...]:
    """Set each limit by RLIMIT name, soft and hard, never above the hard limit. Returns the names this OS
    refused: none where `strict` (a refusal raises), and every one where there are no resource limits
    (Windows). macOS refuses an address-space limit below what the process has already mapped."""
    try:
        import resource
    except ImportError:
        return tuple(named)
    refused = []
    for name, value in named.items():
        kind = getattr(resource, f"RLIMIT_{name.upper()}", None)
        try:
            if kind is None:
                raise ValueError(f"no RLIMIT_{name.upper()} here")
            hard = resource.getrlimit(kind)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            if strict:
                raise
            refused.append(name)
    return tuple(refused)


_prctl = None


def _find_prctl():
    """Linux's prctl from the C library this process runs on; None elsewhere (macOS's has none, and Windows
    has no C library to open by None)."""
    global _prctl
    if _prctl is None:
        try:
            import ctypes

            _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else False
        except (OSError, TypeError, AttributeError):
            _prctl = False
    return _prctl or None


def die_with_parent():
    """Have the kernel kill this process when its parent ends, where it can (Linux). Set it again after a uid
    change, which clears it. Elsewhere the portable backend's worker watches its stdin instead."""
    prctl = _find_prctl()
    if prctl is None:
        return
    parent = os.getppid()
    if prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
        import ctypes

        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it ended before the signal was set
        os.kill(os.getpid(), signal.SIGKILL)


def worker_uid() -> int:
    """An unprivileged uid for this grading process's workers (each pool process gets its own)."""
    return SPAWNED_UIDS.start + os.getpid() % len(SPAWNED_UIDS)
