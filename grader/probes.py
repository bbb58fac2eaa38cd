"""What the suites share: known inputs, student modules with known weights, and the checks several tests run.

Weights are set through the contract's attribute names, never by reproducing the random stream, so a
correct solution gets full marks whatever order it creates its layers in. Everything here ships in the
student release; checks only the hidden suites use live in those suites.
"""
import math
from functools import partial

import torch

from grader.checks import Diagnosis, Weights, close, expect_close, judge
from grader.proxy import StudentError
from grader.reference import HEADS, MASK, OUT_PROJ, SCALE, VALUES  # noqa: F401 - the suites' axes

# The book's six-token, three-dimensional example ("Your journey starts with one step").
BOOK_INPUTS = torch.tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64],
                            [0.22, 0.58, 0.33], [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]])

# With one head d_k is d_out, so scaling by the model width is the correct choice there.
SINGLE_HEAD_SCALE = tuple(s for s in SCALE if s != "scaled_by_model_dim:d_out")  # d_out is d_k with one head


def self_attention_v1(student, d_in, d_out, seed):
    module = student.build("SelfAttention_v1", d_in, d_out)
    weights = Weights.random(d_in, d_out, seed)
    weights.load_v1(module)
    return module, weights


def linear_module(student, name, *args, seed, d_in, d_out, biases=False, out_proj=False, **kwargs):
    """Build one of the nn.Linear-based classes, load known weights, switch to eval mode."""
    weights = Weights.random(d_in, d_out, seed, biases=biases, out_proj=out_proj)
    module = student.build(name, *args, weights=weights.linear_values(), training=False, **kwargs)
    weights.check_linear(module, module.loaded)
    return module, weights


def causal_attention(student, d_in, d_out, context_length, dropout=0.0, seed=0, biases=False):
    return linear_module(student, "CausalAttention", d_in, d_out, context_length, dropout, seed=seed,
                         d_in=d_in, d_out=d_out, biases=biases, qkv_bias=biases)


def multihead_attention(student, d_in, d_out, context_length, num_heads, dropout=0.0, seed=0, biases=False):
    module, weights = linear_module(student, "MultiHeadAttention", d_in, d_out, context_length, dropout,
                                    seed=seed, d_in=d_in, d_out=d_out, biases=biases, out_proj=True,
                                    num_heads=num_heads, qkv_bias=biases)
    return module, weights


def mask_info(module):
    """(where the module keeps `mask`: 'buffer', 'attribute' or None, its description)."""
    info = module.describe()
    if "mask" in info["buffers"]:
        return "buffer", info["buffers"]["mask"]
    if "mask" in info["tensor_attributes"]:
        return "attribute", info["tensor_attributes"]["mask"]
    return None, None


def expect_no_student_error(call, what):
    """Run call(); a student exception becomes a failed check that names it."""
    try:
        return call()
    except StudentError as exc:
        raise Diagnosis(f"{what} raised {exc}") from None


def one_hot_tokens(num_tokens):
    """x = I: token i is the i-th unit vector, so x @ W.T reads W's columns and values can be chosen freely."""
    return torch.eye(num_tokens).unsqueeze(0)  # (1, T, T)


def check_context_vectors(student, x):
    """Judge context_vectors alone: if it disagrees, retry with correct scores and weights handed to it."""
    scores = x @ x.transpose(-2, -1)  # (..., T, T)
    weights = torch.softmax(scores, dim=-1)
    expected = weights @ x  # (..., T, d)
    try:
        actual = student.call("context_vectors", x)
    except StudentError:
        actual = None  # perhaps only because attention_scores or attention_weights is wrong: retry below
    if isinstance(actual, torch.Tensor) and close(actual, expected):
        return
    # A mistake in attention_scores or attention_weights is graded there, not again here.
    upstream_fixed = student.call("context_vectors", x,
                                  canned={"attention_scores": scores, "attention_weights": weights})
    if isinstance(upstream_fixed, torch.Tensor) and close(upstream_fixed, expected):
        return
    for output in (actual, upstream_fixed):
        if isinstance(output, torch.Tensor) and close(output, scores @ x):
            raise Diagnosis("context_vectors(inputs) does not give the expected values", "context_from_scores")
    expect_close(upstream_fixed, expected, "context_vectors(inputs)")


def check_weight_transfer(student, d_in, d_out, seed):
    """After copy_weights_v2_to_v1, each v1 matrix must be the transposed v2 weight."""
    sa_v2 = student.build("SelfAttention_v2", d_in, d_out)
    weights = Weights.random(d_in, d_out, seed)
    weights.load_linear(sa_v2)
    sa_v1 = student.build("SelfAttention_v1", d_in, d_out)
    student.call("copy_weights_v2_to_v1", sa_v2, sa_v1)
    for name, weight in zip(("W_query", "W_key", "W_value"), (weights.query, weights.key, weights.value)):
        copied = sa_v1.get(name)
        if copied is None:
            raise Diagnosis(f"after the copy SelfAttention_v1 has no {name}")
        if close(copied, weight.T):
            continue
        if close(copied, weight):
            raise Diagnosis(f"SelfAttention_v1.{name} holds the v2 weight untransposed", "weights_not_transposed")
        raise Diagnosis(f"SelfAttention_v1.{name} does not hold the v2 weights after the copy")


# --- dropout ----------------------------------------------------------------------------------
# Probes use one-hot tokens and W_value = I, so the output of single-head attention is the attention
# weight matrix itself and dropout's effect on it can be read directly.

DROPOUT_TOKENS = 6


def dropout_pair(student, name, value_weight=None, seed=51):
    """The same weights in a module with dropout 0.5 and one with dropout 0.0 (both in eval mode)."""
    n = DROPOUT_TOKENS
    extra = {"num_heads": 2} if name == "MultiHeadAttention" else {}
    modules = []
    for p in (0.5, 0.0):
        weights = Weights.random(n, n, seed, out_proj=name == "MultiHeadAttention")
        weights = Weights(weights.query, weights.key, torch.eye(n) if value_weight is None else value_weight,
                          out_proj=(torch.eye(n), torch.zeros(n)) if weights.out_proj else None)
        module = student.build(name, n, n, n, p, weights=weights.linear_values(), training=False, **extra)
        weights.check_linear(module, module.loaded)
        modules.append(module)
    return modules


def check_dropout_in_eval(student, name):
    with_dropout, without = dropout_pair(student, name)
    x = one_hot_tokens(DROPOUT_TOKENS)
    if not close(with_dropout(x, seed=1), without(x)):
        raise Diagnosis(f"in eval mode {name} with dropout=0.5 gives other outputs than with dropout=0.0",
                        "dropout_in_eval")


def check_dropout_in_training(student):
    """In training each attention weight is dropped (0) or scaled by 1 / (1 - p) = 2."""
    with_dropout, without = dropout_pair(student, "CausalAttention")
    x = one_hot_tokens(DROPOUT_TOKENS)
    weights = without(x)  # (1, T, T): the student's own attention weights
    dropped = with_dropout.train()(x, seed=7)
    finite = weights.isfinite() & (weights.abs() > 1e-6)
    kept = (dropped - 2 * weights).abs() <= 1e-5 + 1e-4 * weights.abs()
    zeroed = dropped.abs() <= 1e-6
    if finite.any() and bool((kept | zeroed)[finite].all()) and bool(zeroed[finite].any()) \
            and bool(kept[finite].any()):
        return
    if close(dropped, weights):
        raise Diagnosis("in training mode dropout=0.5 changes nothing: dropout is not applied")
    if bool(dropped[weights.isfinite()].isnan().any()):
        # Dropping a -inf score gives 0 * -inf = NaN: dropout ran on the masked scores.
        raise Diagnosis("in training mode the output has NaN where eval mode has none, so dropout came before "
                        "the softmax", "dropout_on_scores")
    rows = dropped.sum(dim=-1)
    if torch.allclose(rows, torch.ones_like(rows), atol=1e-5):
        raise Diagnosis("in training mode the attention weights still sum to 1 in every row, so dropout came "
                        "before the softmax", "dropout_on_scores")
    raise Diagnosis("in training mode the attention weights are not each either dropped or scaled by 1/(1-p)")


# --- the mask buffer --------------------------------------------------------------------------

def check_mask_buffer(student, name, *args, **kwargs):
    where, _ = mask_info(student.build(name, *args, **kwargs))
    if where == "attribute":
        raise Diagnosis(f"{name}.mask is a plain tensor attribute, not a registered buffer", "mask_not_buffer")
    if where is None:
        raise Diagnosis(f"{name} has no buffer named mask")


def check_mask_follows_meta(student, name, d_in, d_out, context_length, dropout, run_forward=True, **kwargs):
    """module.to('meta') must move the mask too, and forward must then run on meta tensors.

    The first forward on the meta device loads torch's Python meta kernels (about a second in a fresh
    worker): the public self-check leaves the forward to the hidden suites, whose workers have them loaded.
    """
    module = student.build(name, d_in, d_out, context_length, dropout, **kwargs).to("meta")
    where, info = mask_info(module)
    if where is None:
        raise Diagnosis(f"{name} has no mask")
    if info["device"] != "meta":
        raise Diagnosis(f"after {name}.to('meta') the mask is still on {info['device']}", "mask_not_buffer")
    if not run_forward:
        return
    out = expect_no_student_error(lambda: module(torch.empty(2, context_length, d_in, device="meta")),
                                  f"{name}.forward on the meta device")
    if not isinstance(out, torch.Tensor) or out.device.type != "meta" or tuple(out.shape) != (2, context_length, d_out):
        raise Diagnosis(f"after {name}.to('meta') forward did not return a meta tensor of shape "
                        f"(2, {context_length}, {d_out})")


# --- multi-head ---------------------------------------------------------------------------------

def check_multihead_structure(student, device, d_in, d_out, num_tokens, num_heads, seed, biases=False):
    """MultiHeadAttention splits and merges its heads correctly and applies out_proj, judged while adopting
    the student's scaling and mask."""
    module, weights = multihead_attention(student, d_in=d_in, d_out=d_out, context_length=num_tokens,
                                          num_heads=num_heads, seed=seed, biases=biases)
    x = torch.randn(2, num_tokens, d_in, generator=torch.Generator().manual_seed(seed + 1))  # (b, T, d_in)
    output = module(x)
    family = partial(weights.reference, x, device=device, causal=True, num_heads=num_heads)
    axes = {"heads": HEADS, "out_proj_choice": OUT_PROJ, "scale": SCALE, "mask": MASK}
    judge(output, family, "heads", axes, "MultiHeadAttention(x)")
    judge(output, family, "out_proj_choice", axes, "MultiHeadAttention(x)")


def check_wrapper_structure(student, num_heads):
    wrapper = student.build("MultiHeadAttentionWrapper", 3, 2, 5, 0.0, num_heads=num_heads)
    modules = wrapper.describe()["modules"]
    heads = [modules.get(f"heads.{i}") for i in range(num_heads)]
    if modules.get("heads", {}).get("class") != "ModuleList" or None in heads or f"heads.{num_heads}" in modules:
        raise Diagnosis(f"MultiHeadAttentionWrapper(..., num_heads={num_heads}).heads should be an nn.ModuleList "
                        f"of {num_heads} heads")
    if not all("CausalAttention" in head["contract_classes"] for head in heads):
        raise Diagnosis("the wrapper's heads should be CausalAttention modules")
    if len({head["id"] for head in heads}) < num_heads:
        raise Diagnosis("the wrapper's heads are one and the same module", "heads_share_weights")


def check_wrapper_output(student, d_in, d_out, context_length, num_heads, seed):
    """The wrapper's output is its own heads' outputs side by side, whatever those heads compute."""
    wrapper = student.build("MultiHeadAttentionWrapper", d_in, d_out, context_length, 0.0, num_heads=num_heads)
    wrapper.eval()
    heads = [wrapper.get(f"heads.{i}") for i in range(num_heads)]
    if any(head is None for head in heads):
        raise Diagnosis(f"the wrapper should keep its {num_heads} heads in self.heads")
    for i, head in enumerate(heads):
        Weights.random(d_in, d_out, seed + i).load_linear(head)
    x = torch.rand(2, context_length, d_in, generator=torch.Generator().manual_seed(seed))  # (b, T, d_in)
    outputs = [head(x) for head in heads]  # each (b, T, d_out)
    expect_close(wrapper(x), torch.cat(outputs, dim=-1), "MultiHeadAttentionWrapper(x)",
                 wrong=[("wrong_concat_dim", torch.cat(outputs, dim=1)),
                        ("wrong_concat_dim", torch.cat(outputs, dim=0))])


def check_two_dim_wrapper(student, d_in, context_length, dropout=0.0):
    """Exercise 3.2: two heads, each with one output feature."""
    wrapper = student.call("wrapper_with_two_dim_output", d_in, context_length, dropout)
    if not hasattr(wrapper, "is_a") or not wrapper.is_a("MultiHeadAttentionWrapper"):
        raise Diagnosis("wrapper_with_two_dim_output should return a MultiHeadAttentionWrapper")
    heads = [wrapper.get(f"heads.{i}") for i in range(3)]
    if heads[0] is None or heads[1] is None or heads[2] is not None:
        raise Diagnosis("wrapper_with_two_dim_output should build a wrapper with num_heads=2")
    x = torch.rand(1, context_length, d_in, generator=torch.Generator().manual_seed(3))  # (b, T, d_in)
    features = heads[0].eval()(x).shape[-1]
    if features == 2:
        raise Diagnosis("each head outputs 2 features, so the wrapper outputs 4", "wrapper_d_out_misread")
    if features != 1:
        raise Diagnosis(f"each head outputs {features} features; two heads with 2 features in all need d_out=1")


GPT2_CONTEXT = 1024


def check_gpt2_size(student, size, d_model, num_heads, count_parameters=False, construct_on="meta"):
    """gpt2_attention(size) is a MultiHeadAttention of GPT-2's width, heads and context length.

    size None calls gpt2_attention() with its default size. Modules are built on the meta device (no memory,
    no initialisation) unless construct_on says otherwise: see check_mask_follows_meta for its first cost.
    """
    args = () if size is None else (size,)
    module = student.build("gpt2_attention", *args, construct_on=construct_on)
    if not module.is_a("MultiHeadAttention"):
        raise Diagnosis("gpt2_attention should return one of your MultiHeadAttention modules")
    info = module.describe()
    query = info["modules"].get("W_query") or {}
    found = (query.get("in_features"), query.get("out_features"), info["attributes"].get("num_heads"))
    if found != (d_model, d_model, num_heads):
        raise Diagnosis(f"gpt2_attention({size!r}) has d_in, d_out, num_heads = {found}", "wrong_gpt2_config")
    _, mask = mask_info(module)
    if mask is not None and mask["shape"][-2:] != [GPT2_CONTEXT, GPT2_CONTEXT]:
        raise Diagnosis(f"gpt2_attention({size!r}) has a {tuple(mask['shape'])} mask: the context length should "
                        f"be {GPT2_CONTEXT}", "wrong_gpt2_config")
    if count_parameters:
        # Adopt the student's choices graded elsewhere (qkv biases, out_proj) before counting.
        expected = 4 * d_model * d_model + d_model
        expected += sum(d_model for name in ("W_query", "W_key", "W_value")
                        if info["modules"].get(name, {}).get("has_bias"))
        if "out_proj" not in info["modules"]:
            expected -= d_model * d_model + d_model
        total = sum(math.prod(p["shape"]) for p in info["parameters"].values())
        if total != expected:
            raise Diagnosis(f"gpt2_attention({size!r}) has {total:,} parameters, expected {expected:,}",
                            "wrong_gpt2_config")
