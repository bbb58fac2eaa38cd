"""Run in a subprocess of its own (never in the harness): does each mutant give the reference's outputs?

`python -m benchmarks.mutation.probe REFERENCE MUTANT...` prints one JSON line per mutant:
{"file": ..., "equivalent": bool, "difference": the first probe that differs, or null}.

Every definition is probed on 20 seeded random inputs of other shapes than the suites use. A module is built
after the same torch.manual_seed for the reference and the mutant, and compared by its state (names, kinds,
shapes, values), its output in eval mode, its output in training mode with dropout 0.5 after the same seed,
and its output after .double(). An exception is an outcome too (its type is compared). GPT-2 sizes are built
on the meta device and compared by structure and plain attributes.
"""
import importlib.util
import json
import random
import signal
import sys

import torch

SEEDS = range(20)
PER_MUTANT_SECONDS = 60
GPT2_SIZES_PROBED = ("small", "medium", "large", "xl", None, "tiny")


class Raised:
    def __init__(self, exc: BaseException):
        self.kind = type(exc).__name__

    def __eq__(self, other):
        return isinstance(other, Raised) and other.kind == self.kind

    def __repr__(self):
        return f"raises {self.kind}"


def outcome(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an exception is the outcome being compared
        return Raised(exc)


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        return a.is_meta or bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def state(module) -> dict:
    """Names, kinds, shapes and values of a module's parameters and buffers."""
    if isinstance(module, Raised) or not isinstance(module, torch.nn.Module):
        return {"module": module if isinstance(module, Raised) else type(module).__name__}
    found = {f"parameter {n}": p.detach() for n, p in module.named_parameters()}
    found.update({f"buffer {n}": b for n, b in module.named_buffers()})
    return found


def attributes(module) -> dict:
    """Each submodule's plain attributes (numbers, booleans, strings) and dropout probabilities."""
    found = {}
    for path, sub in module.named_modules():
        for name, value in vars(sub).items():
            if not name.startswith("_") and name != "training" and isinstance(value, (int, float, bool, str)):
                found[f"{path}.{name}"] = value
    return found


def forward_outcomes(build, x) -> dict:
    """Build after seed 0 each time; the output in eval mode, in training mode after a fixed seed, in float64."""
    torch.manual_seed(0)
    module = outcome(build)
    found = {"state": state(module)}
    if isinstance(module, torch.nn.Module):
        module.eval()
        found["eval"] = outcome(lambda: module(x))
        module.train()
        torch.manual_seed(1)
        found["train"] = outcome(lambda: module(x))
        module.eval()
        found["float64"] = outcome(lambda: module.double()(x.double()))
    return found


def probes(m, seed: int):
    """(name, outcome) of every definition of module `m` on the inputs that `seed` draws."""
    rng = random.Random(seed)
    torch.manual_seed(1000 + seed)
    batch = rng.choice([(), (rng.randint(1, 3),)])
    T, d = rng.randint(1, 7), rng.randint(1, 6)
    x = torch.randn(*batch, T, d)
    yield "attention_scores", outcome(lambda: m.attention_scores(x))
    yield "attention_weights", outcome(lambda: m.attention_weights(torch.randn(*batch, T, T) * rng.choice([1, 5])))
    yield "context_vectors", outcome(lambda: m.context_vectors(x))

    d_in, d_out, T = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 7)
    bias = rng.random() < 0.5
    x2 = torch.randn(T, d_in)
    yield "SelfAttention_v1", forward_outcomes(lambda: m.SelfAttention_v1(d_in, d_out), x2)
    yield "SelfAttention_v2", forward_outcomes(lambda: m.SelfAttention_v2(d_in, d_out, qkv_bias=bias), x2)

    def transfer():
        torch.manual_seed(2)
        v2, v1 = m.SelfAttention_v2(d_in, d_out, qkv_bias=bias), m.SelfAttention_v1(d_in, d_out)
        returned = m.copy_weights_v2_to_v1(v2, v1)
        return {"returns v1": returned is v1, "v1": state(v1), "v2": state(v2), "v1(x)": v1(x2)}
    yield "copy_weights_v2_to_v1", outcome(transfer)

    b, context_length = rng.randint(1, 3), rng.randint(1, 8)
    T = rng.randint(1, context_length)
    dropout = rng.choice([0.0, 0.5])
    x3 = torch.randn(b, T, d_in)
    yield "CausalAttention", forward_outcomes(
        lambda: m.CausalAttention(d_in, d_out, context_length, dropout, qkv_bias=bias), x3)
    heads = rng.randint(1, 4)
    yield "MultiHeadAttentionWrapper", forward_outcomes(
        lambda: m.MultiHeadAttentionWrapper(d_in, d_out, context_length, dropout, heads, qkv_bias=bias), x3)
    yield "wrapper_with_two_dim_output", forward_outcomes(
        lambda: m.wrapper_with_two_dim_output(d_in, context_length, dropout), x3)
    head_dim = rng.randint(1, 3)
    d_out = heads * head_dim + (1 if heads > 1 and seed % 5 == 0 else 0)  # every fifth seed: indivisible
    yield "MultiHeadAttention", forward_outcomes(
        lambda: m.MultiHeadAttention(d_in, d_out, context_length, dropout, heads, qkv_bias=bias), x3)


def gpt2_probes(m):
    for size in GPT2_SIZES_PROBED:
        def build():
            with torch.device("meta"):
                module = m.gpt2_attention() if size is None else m.gpt2_attention(size)
                return {"structure": {k: (tuple(v.shape), v.dtype) for k, v in state(module).items()},
                        "attributes": attributes(module), "type": type(module).__name__,
                        "output": module(torch.randn(1, 3, module.W_query.in_features)).shape}
        yield f"gpt2_attention({size!r})", outcome(build)


def all_probes(m) -> list:
    found = [(f"{name} (seed {seed})", value) for seed in SEEDS for name, value in probes(m, seed)]
    return found + list(gpt2_probes(m))


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(expected: list, mutant_path: str, index: int) -> dict:
    try:
        mutant = load(mutant_path, f"mutant_{index}")
        found = all_probes(mutant)
    except Exception as exc:  # noqa: BLE001 - a mutant that does not load is not equivalent
        return {"file": mutant_path, "equivalent": False, "difference": f"does not run: {type(exc).__name__}"}
    for (name, want), (_, got) in zip(expected, found):
        if not same(want, got):
            parts = [k for k in want if k not in got or not same(want[k], got[k])] if isinstance(want, dict) \
                and isinstance(got, dict) else []
            where = f"{name}: {', '.join(map(str, parts))}" if parts else name
            return {"file": mutant_path, "equivalent": False, "difference": where}
    return {"file": mutant_path, "equivalent": True, "difference": None}


def _timeout(signum, frame):
    raise TimeoutError("probing took too long")


def main(reference_path: str, mutant_paths: list[str]):
    torch.set_num_threads(1)
    expected = all_probes(load(reference_path, "reference"))
    signal.signal(signal.SIGALRM, _timeout)
    for index, path in enumerate(mutant_paths):
        signal.alarm(PER_MUTANT_SECONDS)
        try:
            result = compare(expected, path, index)
        except TimeoutError:
            result = {"file": path, "equivalent": False, "difference": "probing took too long"}
        finally:
            signal.alarm(0)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
