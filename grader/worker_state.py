"""Whether a worker that has graded one submission may grade the next as a fresh worker would.

A kernel's check() and --watch keep a started worker (grader.isolation.kept) where no zygote forks fresh
ones: the portable backend, CUDA. Before it serves again, the worker forgets the last submission (its module,
its own modules, its objects) and compares what student code could have changed in the process with what
it was before any student code ran: torch's functions, classes and settings, the builtins, the interpreter's
hooks, the threads, the folder. Any difference, and the grader replaces the worker instead. This is not a
sandbox (the worker is one already): it catches the changes a student makes by accident or on purpose in a
notebook (`torch.set_default_dtype`, a patched `F.softmax`, a thread left running), which would change the
next grade.
"""
import builtins
import gc
import linecache
import math
import os
import random
import sys
import threading
import time
import types

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as module_hooks

# Namespaces whose every name counts, new ones included (a student's `builtins.x = ...`).
CLOSED_SPACES = (builtins, math, random)
# torch's namespaces, and torch.nn's classes (see _torch_spaces): a new name counts too, unless it is one of
# torch's modules, which torch imports lazily as a grading needs them.
TORCH_SPACES = (torch, torch.Tensor, nn, F, nn.init, torch.linalg, torch.autograd, module_hooks)
_MISSING = object()


def _torch_spaces() -> list:
    """TORCH_SPACES, and torch.nn's classes (nn.Module, nn.Linear, ...), whose methods a student could replace."""
    return [*TORCH_SPACES, *(value for value in vars(nn).values() if isinstance(value, type))]


def _settings() -> tuple:
    """torch's and the interpreter's global settings that change what the next submission computes."""
    modes = getattr(torch.overrides, "_get_current_function_mode_stack", lambda: ())()
    return (torch.get_default_dtype(), torch.is_grad_enabled(), torch.is_inference_mode_enabled(),
            torch.are_deterministic_algorithms_enabled(), torch.get_num_threads(), str(torch.get_default_device()),
            torch.get_float32_matmul_precision(), torch.is_anomaly_enabled(),
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, len(modes),
            tuple(len(getattr(module_hooks, name)) for name in dir(module_hooks) if name.startswith("_global_")
                  and isinstance(getattr(module_hooks, name), dict)),
            sys.getrecursionlimit(), sys.gettrace(), sys.getprofile(), id(sys.stdout), id(sys.stderr),
            id(sys.stdin), tuple(sys.path), os.getcwd(), threading.active_count())


class ProcessState:
    """What a worker's process looked like before any student code ran."""

    def __init__(self):
        self.closed = [dict(vars(space)) for space in CLOSED_SPACES]
        self.torch = [dict(vars(space)) for space in _torch_spaces()]
        self.settings = _settings()

    def untouched(self) -> bool:
        """Whether the process is as it was: the same names bound to the same objects, the same settings."""
        torch_now = [vars(space) for space in _torch_spaces()]
        if len(torch_now) != len(self.torch):
            return False
        for before, now in zip(self.closed, (vars(space) for space in CLOSED_SPACES)):
            if now.keys() != before.keys() or any(now[name] is not value for name, value in before.items()):
                return False
        for before, now in zip(self.torch, torch_now):
            if any(now.get(name, _MISSING) is not value for name, value in before.items()):
                return False
            if any(not isinstance(now[name], types.ModuleType) for name in now.keys() - before.keys()):
                return False
        return _settings() == self.settings


def forget_submission(filenames, search_path: str | None):
    """Drop what the last submission left in the interpreter: its module, the modules it imported from its own
    folder (`search_path`), that folder on sys.path, and its cells' source lines."""
    sys.modules.pop("submission", None)
    if search_path:
        folder = os.path.join(os.path.abspath(search_path), "")
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and os.path.abspath(file).startswith(folder):
                del sys.modules[name]
        while search_path in sys.path:
            sys.path.remove(search_path)
    for filename in filenames:
        linecache.cache.pop(filename, None)
    gc.collect()


def resources_used() -> dict:
    """What the process has used of the limits it was started with (grader.limits): its CPU seconds, and its
    address space in bytes where this OS says (None elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            address_space = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        address_space = None
    return {"cpu_seconds": time.process_time(), "address_space": address_space}
