"""What the suites share: known inputs, student modules with known weights, and the checks several tests run.

Weights are set by parameter path, in the layout each class was recognised in (grader.layouts), never by
reproducing the random stream, so a correct solution gets full marks whatever order it creates its layers in. Everything here ships in the
student release; checks only the hidden suites use live in those suites.
"""
import math
from dataclasses import replace

import torch

from grader.checks import (Diagnosis, Unexplained, Weights, close, expect_close, expect_explained, randn,
                           expect_module_output, expect_tensor, judge, misconception_of_error, shape_text,
                           weights_problem)
from grader.layouts import RECOGNITION_SIZES, ROLES, layout_of, square_tensors
from grader.proxy import StudentError, StudentProblem, describe_value
from grader.reference import CAUSAL_AXES, MULTIHEAD_AXES, SELF_ATTENTION_AXES  # the suites import them from here

# The book's six-token, three-dimensional example ("Your journey starts with one step").
BOOK_INPUTS = torch.tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64],
                            [0.22, 0.58, 0.33], [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]])



def judge_self_attention(module, weights, x, device, axis, what):
    """Judge one axis of SelfAttention_v1/v2's output on x, adopting the student's choices on the others."""
    judge(module(x), weights.family(x, SELF_ATTENTION_AXES, device=device), axis, what)


def self_attention_v1(student, d_in, d_out, seed):
    """SelfAttention_v1(d_in, d_out) with known weights, in the layout it was recognised in."""
    weights = Weights.random(d_in, d_out, seed)
    return attention_module(student, "SelfAttention_v1", d_in, d_out, weights=weights), weights


def linear_module(student, name, *args, seed, d_in, d_out, biases=False, **kwargs):
    """SelfAttention_v2 with known weights (query/key/value biases too where `biases`), in the layout it was
    recognised in, in eval mode."""
    weights = Weights.random(d_in, d_out, seed, biases=biases)
    return attention_module(student, name, *args, weights=weights, **kwargs), weights


def attention_module(student, name, *args, weights: Weights, num_heads=None, **kwargs):
    """Build one of the attention classes (MultiHeadAttention with num_heads), give it `weights` in its own
    layout, switch to eval mode."""
    layout = layout_of(student, name)
    heads = {} if num_heads is None else {"num_heads": num_heads}
    module = student.build(name, *args, weights=layout.values(weights, num_heads or 1), training=False, **heads,
                           **kwargs)
    if module.loaded["missing"] or module.loaded["mismatched"]:  # the class's own structure, graded there
        raise Unexplained(f"{name}{shape_text(args[:2])}: {weights_problem(module.loaded)}, although the "
                          f"recognition build had them ({layout.describe()})", name)
    return module


def without_absent_out_proj_bias(module, layout, weights: Weights) -> Weights:
    """The weights as the module holds them: an output projection without a bias adds none (that is judged
    once, by multihead_attention's structure check)."""
    if layout.out_proj is None or weights.out_proj is None:
        return weights
    if layout.out_proj.bias is None or layout.out_proj.bias in module.loaded["absent"]:
        return replace(weights, out_proj=(weights.out_proj[0], torch.zeros_like(weights.out_proj[1])))
    return weights


def causal_attention(student, d_in, d_out, context_length, dropout=0.0, seed=0, biases=False):
    weights = Weights.random(d_in, d_out, seed, biases=biases)
    return attention_module(student, "CausalAttention", d_in, d_out, context_length, dropout, weights=weights,
                            qkv_bias=biases), weights


def multihead_attention(student, d_in, d_out, context_length, num_heads, dropout=0.0, seed=0, biases=False):
    weights = Weights.random(d_in, d_out, seed, biases=biases, out_proj=True)
    module = attention_module(student, "MultiHeadAttention", d_in, d_out, context_length, dropout, weights=weights,
                              num_heads=num_heads, qkv_bias=biases)
    return module, without_absent_out_proj_bias(module, layout_of(student, "MultiHeadAttention"), weights)


def masks_of(module, context_length=None) -> dict:
    """Where the module keeps its mask, in any submodule: path -> tensor info with its kind (buffer or not).

    Plain tensor attributes are seen on the module itself only. A module that builds its mask in forward (or
    passes is_causal=True) has none.
    """
    found = square_tensors(module.describe())
    return {path: t for path, t in found.items() if context_length is None or t["shape"][-1] == context_length}


def explained_as_a_whole(student, definition: str, device) -> bool:
    """Whether the class `definition` (CausalAttention or MultiHeadAttention), built with known weights in eval
    mode, gives an output some combination of catalogued choices explains: what grader.plugin asks of a class
    whose check passed once one part of it was repaired (grader.part_repairs), before charging that part.

    Its inputs are those of the class's public output check, whose family a student release stores."""
    try:
        if definition == "CausalAttention":
            module, weights = causal_attention(student, d_in=3, d_out=4, context_length=5, seed=41)
            x = randn(2, 5, 3, seed=42)  # (b, T, d_in)
            axes, options = CAUSAL_AXES, {"causal": True}
        elif definition == "MultiHeadAttention":
            module, weights = multihead_attention(student, d_in=3, d_out=4, context_length=5, num_heads=2, seed=71)
            x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(72))  # (b, T, d_in)
            axes, options = MULTIHEAD_AXES, {"causal": True, "num_heads": 2}
        else:
            return False
        expect_explained(module(x), weights.family(x, axes, device=device, **options), f"{definition}(x)")
    except (StudentProblem, AssertionError, LookupError):  # a Diagnosis is an AssertionError; LookupError: not stored
        return False
    return True


def expect_no_student_error(call, what):
    """Run call(); a student exception becomes a failed check that names it."""
    try:
        return call()
    except StudentError as exc:
        if exc.not_implemented:
            raise  # graded as not written yet (see grader.charging)
        raise Diagnosis(f"{what} raised {exc}", misconception_of_error(exc.error_type, exc.where)) from None


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
    """After copy_weights_v2_to_v1, v1's query, key and value matrices, wherever its layout keeps them, must
    hold v2's weights in v1's orientation: transposed, for the book's (d_in, d_out) nn.Parameter matrices."""
    weights = Weights.random(d_in, d_out, seed)
    sa_v2 = attention_module(student, "SelfAttention_v2", d_in, d_out, weights=weights)
    sa_v1 = student.build("SelfAttention_v1", d_in, d_out)
    student.call("copy_weights_v2_to_v1", sa_v2, sa_v1)
    v1 = layout_of(student, "SelfAttention_v1")
    if v1.fused or v1.heads is not None:
        raise Diagnosis(f"SelfAttention_v1 keeps {v1.describe_projections()}: exercise 3.1 copies into three "
                        "separate query, key and value matrices")
    given = (weights.query, weights.key, weights.value)  # each (d_out, d_in), nn.Linear's layout
    for role, matrix, weight, copied in zip(ROLES, v1.projections, given, sa_v1.get_many(m.path for m in v1.projections)):
        name = matrix.path.removesuffix(".weight")
        if copied is None:
            raise Diagnosis(f"after the copy SelfAttention_v1 has no {name}")
        if close(copied, weight.T if matrix.transposed else weight):
            continue
        if close(copied, weight if matrix.transposed else weight.T):
            raise Diagnosis(f"SelfAttention_v1.{name} holds the v2 {role} weight untransposed", "weights_not_transposed")
        raise Diagnosis(f"SelfAttention_v1.{name} does not hold the v2 {role} weights after the copy")


# --- dropout ----------------------------------------------------------------------------------
# Probes use one-hot tokens and W_value = I, so the output of single-head attention is the attention
# weight matrix itself and dropout's effect on it can be read directly.

DROPOUT_TOKENS = 6


def dropout_pair(student, value_weight=None, seed=51, p=0.5):
    """The same weights in a CausalAttention with dropout p and one with dropout 0.0 (both in eval mode).

    The one without dropout must give an output that some catalogued choices explain: dropout is judged on
    attention weights, and a module that computes something else is graded in its own concept (Unexplained).
    """
    n = DROPOUT_TOKENS
    random = Weights.random(n, n, seed)
    weights = Weights(random.query, random.key, torch.eye(n) if value_weight is None else value_weight)
    pair = [attention_module(student, "CausalAttention", n, n, n, rate, weights=weights) for rate in (p, 0.0)]
    x = one_hot_tokens(n)
    expect_explained(pair[1](x), weights.family(x, CAUSAL_AXES, causal=True), "CausalAttention(x) without dropout")
    return pair


def seeded_pair(student, name):
    """A module with dropout 0.5 and one with 0.0, built from the same random state (so with the same
    weights, whatever the layout), both in eval mode."""
    extra = {"num_heads": 2} if name == "MultiHeadAttention" else {}
    return [student.build(name, DROPOUT_TOKENS, DROPOUT_TOKENS, DROPOUT_TOKENS, p, training=False, **extra)
            for p in (0.5, 0.0)]


def check_dropout_in_eval(student, name):
    with_dropout, without = seeded_pair(student, name)
    x = one_hot_tokens(DROPOUT_TOKENS)
    shape = (1, DROPOUT_TOKENS, DROPOUT_TOKENS)
    expected = expect_module_output(without(x), shape, f"{name}(x) without dropout")
    if not close(expect_module_output(with_dropout(x, seed=1), shape, f"{name}(x)"), expected):
        raise Diagnosis(f"in eval mode {name} with dropout=0.5 gives other outputs than with dropout=0.0",
                        "dropout_in_eval")


def check_dropout_in_training(student, p=0.5, seed=7):
    """In training each attention weight is dropped (0) or scaled by 1 / (1 - p) (2 for p = 0.5)."""
    with_dropout, without = dropout_pair(student, p=p)
    x = one_hot_tokens(DROPOUT_TOKENS)
    shape = (1, DROPOUT_TOKENS, DROPOUT_TOKENS)
    weights = expect_tensor(without(x), shape, "CausalAttention(x)")  # (1, T, T): the student's own attention weights
    dropped = expect_tensor(with_dropout.train()(x, seed=seed), shape, "CausalAttention(x) in training mode")
    finite = weights.isfinite() & (weights.abs() > 1e-6)
    zeroed = dropped.abs() <= 1e-6

    def each_dropped_or_scaled_by(factor):
        kept = (dropped - factor * weights).abs() <= 1e-5 + 1e-4 * factor * weights.abs()
        return finite.any() and bool((kept | zeroed)[finite].all()) and bool(zeroed[finite].any()) \
            and bool(kept[finite].any())

    if each_dropped_or_scaled_by(1 / (1 - p)):
        return
    if each_dropped_or_scaled_by(1 / p):
        raise Diagnosis(f"in training mode with dropout={p} the kept attention weights are scaled by 1/p = "
                        f"{1 / p:g} instead of 1/(1-p) = {1 / (1 - p):g}", "dropout_scaled_by_p")
    if close(dropped, weights):
        raise Diagnosis(f"in training mode dropout={p} changes nothing: dropout is not applied")
    if bool(dropped[weights.isfinite()].isnan().any()):
        # Dropping a -inf score gives 0 * -inf = NaN: dropout ran on the masked scores.
        raise Diagnosis("in training mode the output has NaN where eval mode has none, so dropout came before "
                        "the softmax", "dropout_on_scores")
    rows = dropped.sum(dim=-1)
    if torch.allclose(rows, torch.ones_like(rows), atol=1e-5):
        raise Diagnosis("in training mode the attention weights still sum to 1 in every row, so dropout came "
                        "before the softmax", "dropout_on_scores")
    raise Diagnosis(f"in training mode with dropout={p} the attention weights are not each either dropped (0) or "
                    f"scaled by 1/(1-p) = {1 / (1 - p):g}")


# --- the mask buffer --------------------------------------------------------------------------

def check_mask_buffer(student, name, *args, **kwargs):
    """Wherever the mask lives (mask, bias, each head's own), it is a registered buffer."""
    for path, tensor in masks_of(student.build(name, *args, describe=True, **kwargs)).items():
        if tensor["kind"] != "buffers":
            raise Diagnosis(f"{name}.{path} is a plain tensor attribute, not a registered buffer", "mask_not_buffer")


def check_mask_follows_meta(student, name, d_in, d_out, context_length, dropout, run_forward=True, **kwargs):
    """module.to('meta') must move the mask too, and forward must then run on meta tensors.

    The first forward on the meta device loads torch's Python meta kernels (about a second in a fresh
    worker): the public self-check leaves the forward to the hidden suites, whose workers have them loaded.
    """
    module = student.build(name, d_in, d_out, context_length, dropout, **kwargs).to("meta", describe=True)
    for path, tensor in masks_of(module, context_length).items():
        if tensor["device"] != "meta":
            raise Diagnosis(f"after {name}.to('meta') {name}.{path} is still on {tensor['device']}",
                            "mask_not_buffer")
    if not run_forward:
        return

    def forward_on_cpu():
        return student.build(name, d_in, d_out, context_length, dropout, **kwargs)(torch.zeros(2, context_length, d_in))

    try:
        out = module(torch.empty(2, context_length, d_in, device="meta"))
    except StudentError as exc:
        if exc.not_implemented:
            raise
        forward_on_cpu()  # an error there as well is the module's own, graded where it is (see grader.charging)
        raise Diagnosis(f"{name}.forward on the meta device raised {exc}",
                        misconception_of_error(exc.error_type, exc.where)) from None
    if not isinstance(out, torch.Tensor) or out.device.type != "meta" or tuple(out.shape) != (2, context_length, d_out):
        expect_module_output(forward_on_cpu(), (2, context_length, d_out), f"{name}(x)")  # wrong anywhere: the module's
        raise Diagnosis(f"after {name}.to('meta') forward did not return a meta tensor of shape "
                        f"(2, {context_length}, {d_out})")


# --- layers and the attribute contract -----------------------------------------------------------

def check_layout(student, name, attribute_contract: bool):
    """The class's layers: the attribute contract where the assignment keeps it, any recognised layout elsewhere."""
    layout = layout_of(student, name)
    if name == "SelfAttention_v2":
        d_in, d_out, _, _ = RECOGNITION_SIZES[name]
        parameters = student.build(name, d_in, d_out, describe=True).describe()["parameters"]  # qkv_bias=False
        biased = [m.bias for m in layout.projections if m.bias in parameters]
        if biased:
            raise Diagnosis(f"SelfAttention_v2({d_in}, {d_out}) has {', '.join(biased)} although qkv_bias=False",
                            "qkv_bias_ignored")
    if name == "MultiHeadAttention" and layout.out_proj is None:
        raise Diagnosis("MultiHeadAttention has no output projection (out_proj)", "missing_out_proj")
    if name == "MultiHeadAttention":
        d_in, d_out, context_length, num_heads = RECOGNITION_SIZES[name]
        info = student.build(name, d_in, d_out, context_length, 0.0, num_heads=num_heads,
                             describe=True).describe()  # qkv_bias=False
        attributes = info["attributes"]
        if layout.out_proj.bias is None or layout.out_proj.bias not in info["parameters"]:
            raise Diagnosis(f"MultiHeadAttention({d_in}, {d_out}, {context_length}, 0.0, num_heads={num_heads}) has "
                            f"an output projection ({layout.out_proj.describe()}) without a bias",
                            "out_proj_without_bias")
    if not attribute_contract:
        return
    deviations = layout.contract_deviations()
    if deviations:
        raise Diagnosis(f"{name} does not keep the attribute contract, which asks for " + "; ".join(deviations))
    if name == "MultiHeadAttention":
        if attributes.get("num_heads") != num_heads or attributes.get("head_dim") != d_out // num_heads:
            raise Diagnosis(f"MultiHeadAttention({d_in}, {d_out}, {context_length}, 0.0, num_heads={num_heads}) should "
                            f"have the attributes num_heads={num_heads} and head_dim={d_out // num_heads}, has "
                            f"{attributes.get('num_heads')} and {attributes.get('head_dim')}")


# --- multi-head ---------------------------------------------------------------------------------

def check_multihead_structure(student, device, d_in, d_out, num_tokens, num_heads, seed, biases=False):
    """MultiHeadAttention splits and merges its heads correctly and applies out_proj, judged while adopting
    the student's scaling and mask."""
    module, weights = multihead_attention(student, d_in=d_in, d_out=d_out, context_length=num_tokens,
                                          num_heads=num_heads, seed=seed, biases=biases)
    x = torch.randn(2, num_tokens, d_in, generator=torch.Generator().manual_seed(seed + 1))  # (b, T, d_in)
    output = module(x)
    family = weights.family(x, MULTIHEAD_AXES, device=device, causal=True, num_heads=num_heads)
    judge(output, family, "heads", "MultiHeadAttention(x)")
    judge(output, family, "out_proj_choice", "MultiHeadAttention(x)")
    judge(output, family, "softmax", "MultiHeadAttention(x)")


def check_wrapper_structure(student, num_heads):
    wrapper = student.build("MultiHeadAttentionWrapper", 3, 2, 5, 0.0, num_heads=num_heads, describe=True)
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
    wrapper = student.build("MultiHeadAttentionWrapper", d_in, d_out, context_length, 0.0, num_heads=num_heads,
                            training=False)
    heads = wrapper.get_many(f"heads.{i}" for i in range(num_heads))
    if any(head is None for head in heads):
        raise Diagnosis(f"the wrapper should keep its {num_heads} heads in self.heads")
    # Heads built one after the other start from different random weights, whatever their layout.
    x = torch.rand(2, context_length, d_in, generator=torch.Generator().manual_seed(seed))  # (b, T, d_in)
    outputs = [heads_output(head, x, position) for position, head in enumerate(heads)]  # each (b, T, d_out)
    if not all(isinstance(output, torch.Tensor) for output in outputs):
        raise Diagnosis("the wrapper's heads do not each return a tensor")
    expect_close(wrapper(x), torch.cat(outputs, dim=-1), "MultiHeadAttentionWrapper(x)",
                 wrong=[("wrong_concat_dim", torch.cat(outputs, dim=1)),
                        ("wrong_concat_dim", torch.cat(outputs, dim=0))])


def heads_output(head, x, position):
    """A head the wrapper built, run on x: an error there is the wrapper's (it chose the head's sizes), unless
    the head is not written yet, or the error goes away with a part of CausalAttention repaired (see
    grader.charging.repaired_definition)."""
    try:
        return head(x)
    except StudentError as exc:
        if exc.not_implemented:
            raise
        failure = Diagnosis(f"the wrapper's head {position} raised {exc}", misconception_of_error(exc.error_type, exc.where))
        failure.repairable = "CausalAttention"
        raise failure from None


def check_two_dim_wrapper(student, d_in, context_length, dropout=0.0):
    """Exercise 3.2: two heads, each with one output feature."""
    wrapper = student.call("wrapper_with_two_dim_output", d_in, context_length, dropout)
    if not hasattr(wrapper, "is_a") or not wrapper.is_a("MultiHeadAttentionWrapper"):
        raise Diagnosis("wrapper_with_two_dim_output should return a MultiHeadAttentionWrapper")
    heads = wrapper.get_many(f"heads.{i}" for i in range(3))
    if heads[0] is None or heads[1] is None or heads[2] is not None:
        raise Diagnosis("wrapper_with_two_dim_output should build a wrapper with num_heads=2")
    x = torch.rand(1, context_length, d_in, generator=torch.Generator().manual_seed(3))  # (b, T, d_in)
    output = heads_output(heads[0].eval(), x, 0)
    if not isinstance(output, torch.Tensor) or output.dim() != 3:
        raise Diagnosis(f"the wrapper's head returned {describe_value(output)}, expected a (b, T, d_out) tensor")
    features = output.shape[-1]
    if features == 2:
        raise Diagnosis("each head outputs 2 features, so the wrapper outputs 4", "wrapper_d_out_misread")
    if features != 1:
        raise Diagnosis(f"each head outputs {features} features; two heads with 2 features in all need d_out=1")


GPT2_CONTEXT = 1024
HEAD_COUNT_NAMES = ("num_heads", "n_head", "n_heads", "nheads", "n_heads")
HEAD_SIZE_NAMES = ("head_dim", "head_size", "d_head", "hd")


def gpt2_parameter_counts(d_model) -> set[int]:
    """The parameter counts of a d_model-wide attention module under each choice graded elsewhere: with or
    without query/key/value biases, with or without the output projection, and with or without its bias."""
    qkv, out_proj = 3 * d_model * d_model, d_model * d_model
    return {qkv + bias + out for bias in (0, 3 * d_model) for out in (0, out_proj, out_proj + d_model)}


def head_count(info: dict) -> int | None:
    """How many heads the module has: a ModuleList of heads, or its num_heads (n_head, ...) attribute."""
    for name in HEAD_COUNT_NAMES:
        if type(info["attributes"].get(name)) is int:
            return info["attributes"][name]
    lists = [path for path, m in info["modules"].items() if m["class"] == "ModuleList" and "." not in path]
    for path in lists:
        count = sum(1 for child in info["modules"] if child.rpartition(".")[0] == path)
        if count > 1:
            return count
    return None


def check_gpt2_size(student, size, d_model, num_heads, construct_on="meta"):
    """gpt2_attention(size) is a MultiHeadAttention of GPT-2's width, heads and context length, judged by
    what the module is (its parameter count, heads, head size and mask), not by how it names its layers.

    size None calls gpt2_attention() with its default size. Modules are built on the meta device (no memory,
    no initialisation) unless construct_on says otherwise (None: the CPU; wire.META_WHERE_LOADED: whichever
    is cheaper): see check_mask_follows_meta for its first cost.
    """
    args = () if size is None else (size,)
    asked = "gpt2_attention()" if size is None else f"gpt2_attention({size!r})"
    label = f"GPT-2 {size or 'small'}"
    module = student.build("gpt2_attention", *args, construct_on=construct_on, describe=True)
    if not module.is_a("MultiHeadAttention"):
        raise Diagnosis("gpt2_attention should return one of your MultiHeadAttention modules")
    info = module.describe()
    total = sum(math.prod(p["shape"]) for p in info["parameters"].values())
    if total not in gpt2_parameter_counts(d_model):
        correct = 4 * d_model * d_model + d_model
        raise Diagnosis(f"{asked} has {total:,} parameters; {label} attention ({d_model} dimensions) has "
                        f"{correct:,} ({correct + 3 * d_model:,} with query/key/value biases)", "wrong_gpt2_config")
    heads = head_count(info)
    if heads is not None and heads != num_heads:
        raise Diagnosis(f"{asked} has {heads} heads; {label} has {num_heads}", "wrong_gpt2_config")
    head_size = next((info["attributes"][n] for n in HEAD_SIZE_NAMES if type(info["attributes"].get(n)) is int), None)
    if head_size is not None and head_size != d_model // num_heads:
        raise Diagnosis(f"{asked} has heads of {head_size} dimensions; {label} has {num_heads} heads of "
                        f"{d_model // num_heads}", "wrong_gpt2_config")
    for path, mask in masks_of(module).items():
        if mask["shape"][-1] != GPT2_CONTEXT:
            raise Diagnosis(f"{asked} has a {tuple(mask['shape'])} {path}: {label}'s context length is "
                            f"{GPT2_CONTEXT}", "wrong_gpt2_config")
