"""Test submissions written as edits of solutions/attention.py: a layout (how the weights are stored), then a mistake.

Each edit is a (find, replace) pair whose find must occur exactly once, so that every case reads as its point.
A case is named LAYOUT or LAYOUT__MISTAKE; its expected outcome is in submissions/expected.toml.
"""
from dataclasses import dataclass

from conftest import solution_source


@dataclass(frozen=True)
class Span:
    """A find that runs from `start` (which must occur once) to the end of the first `end` after it."""
    start: str
    end: str

# --- layouts: correct code that stores its weights otherwise than the attribute contract ---------------

CAUSAL_LINEARS = """        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)"""
CAUSAL_PROJECTIONS = """        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        attn_scores = queries @ keys.transpose(1, 2)"""
MHA_LINEARS = """        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj"""
MHA_PROJECTIONS = """        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        # Split d_out"""

LAYOUTS = {
    # SelfAttention_v1's style: nn.Parameter matrices, x @ W in CausalAttention and x @ W.T in MultiHeadAttention.
    "parameter": [
        (CAUSAL_LINEARS, """        self.d_out = d_out
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))
        self.b_query = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.b_key = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.b_value = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.dropout = nn.Dropout(dropout)"""),
        (CAUSAL_PROJECTIONS, """        keys = x @ self.W_key + (0 if self.b_key is None else self.b_key)  # (b, T, d_out)
        queries = x @ self.W_query + (0 if self.b_query is None else self.b_query)  # (b, T, d_out)
        values = x @ self.W_value + (0 if self.b_value is None else self.b_value)  # (b, T, d_out)

        attn_scores = queries @ keys.transpose(1, 2)"""),
        (MHA_LINEARS, """        self.W_query = nn.Parameter(torch.rand(d_out, d_in))
        self.W_key = nn.Parameter(torch.rand(d_out, d_in))
        self.W_value = nn.Parameter(torch.rand(d_out, d_in))
        self.query_bias = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.key_bias = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.value_bias = nn.Parameter(torch.zeros(d_out)) if qkv_bias else None
        self.out_proj"""),
        (MHA_PROJECTIONS, """        keys = nn.functional.linear(x, self.W_key, self.key_bias)  # x @ W_key.T: (b, T, d_out)
        queries = nn.functional.linear(x, self.W_query, self.query_bias)  # (b, T, d_out)
        values = nn.functional.linear(x, self.W_value, self.value_bias)  # (b, T, d_out)

        # Split d_out"""),
    ],
    # The book's bonus combined-QKV attention: one nn.Linear(d_in, 3 * d_out), split into its parts
    # (in CausalAttention in the order k, v, q, to show that the order is probed).
    "fused": [
        (CAUSAL_LINEARS, """        self.d_out = d_out
        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)"""),
        (CAUSAL_PROJECTIONS, """        keys, values, queries = self.qkv(x).split(self.d_out, dim=-1)  # each (b, T, d_out)

        attn_scores = queries @ keys.transpose(1, 2)"""),
        (MHA_LINEARS, """        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.out_proj"""),
        (MHA_PROJECTIONS, """        queries, keys, values = self.qkv(x).split(self.d_out, dim=-1)  # each (b, T, d_out)

        # Split d_out"""),
    ],
    # GPT-2's names: c_attn, c_proj, and a (1, 1, L, L) lower-triangular buffer named bias.
    "gpt": [
        (MHA_LINEARS, """        self.c_attn = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.c_proj"""),
        ("return self.out_proj(context)", "return self.c_proj(context)"),
        ("""        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)""", """        self.dropout = nn.Dropout(dropout)
        tril = torch.tril(torch.ones(context_length, context_length))
        self.register_buffer("bias", tril.view(1, 1, context_length, context_length))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)"""),
        (MHA_PROJECTIONS, """        queries, keys, values = self.c_attn(x).split(self.d_out, dim=-1)  # each (b, T, d_out)

        # Split d_out"""),
        ("""        attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / self.head_dim""",
         """        attn_scores.masked_fill_(self.bias[:, :, :num_tokens, :num_tokens] == 0, -torch.inf)
        attn_weights = torch.softmax(attn_scores / self.head_dim"""),
    ],
    # One fused layer whose output is grouped by head: (b, T, h, 3 * hd), each head's q, k, v side by side.
    "interleaved": [
        (MHA_LINEARS, """        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.out_proj"""),
        (MHA_PROJECTIONS + """ into heads, then move the head axis before the token axis.
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)""",
         """        qkv = self.qkv(x).view(b, num_tokens, self.num_heads, 3 * self.head_dim)  # (b, T, h, 3 * hd)
        queries, keys, values = qkv.transpose(1, 2).split(self.head_dim, dim=-1)  # each (b, h, T, hd)"""),
    ],
    # MultiHeadAttention as a ModuleList of CausalAttention heads of head_dim each, then out_proj.
    "head_list": [
        ("""        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))""",
         """        self.heads = nn.ModuleList([CausalAttention(d_in, self.head_dim, context_length, dropout, qkv_bias)
                                    for _ in range(num_heads)])
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs"""),
        (Span(MHA_PROJECTIONS, "return self.out_proj(context)  # (b, T, d_out)"),
         """        return self.out_proj(torch.cat([head(x) for head in self.heads], dim=-1))  # (b, T, d_out)"""),
    ],
    # SelfAttention_v1 and v2 under names readers use (w_query; W_q), exercise 3.1 copying between them.
    "renamed_self_attention": [
        (Span("class SelfAttention_v1(nn.Module):", "return sa_v1"), """class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.w_query = nn.Parameter(torch.rand(d_in, d_out))
        self.w_key = nn.Parameter(torch.rand(d_in, d_out))
        self.w_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        queries, keys, values = x @ self.w_query, x @ self.w_key, x @ self.w_value  # each (T, d_out)
        attn_weights = torch.softmax(queries @ keys.T / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_q = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_k = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_v = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        queries, keys, values = self.W_q(x), self.W_k(x), self.W_v(x)  # each (T, d_out)
        attn_weights = torch.softmax(queries @ keys.T / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    with torch.no_grad():
        sa_v1.w_query.copy_(sa_v2.W_q.weight.T)
        sa_v1.w_key.copy_(sa_v2.W_k.weight.T)
        sa_v1.w_value.copy_(sa_v2.W_v.weight.T)
    return sa_v1"""),
    ],
}

# --- mistakes, each an edit that applies in the parameter and fused layouts ---------------------------

CAUSAL_MASK_LINE = """and .to(dtype) but is not trained.
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))"""
CAUSAL_SOFTMAX = "attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (b, T, T)"
CAUSAL_MASKING = "attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)\n        " \
                 + CAUSAL_SOFTMAX
CAUSAL_DROPOUT = "attn_weights = self.dropout(attn_weights)\n        return attn_weights @ values  # (b, T, d_out)"
MHA_SOFTMAX = "attn_weights = torch.softmax(attn_scores / self.head_dim ** 0.5, dim=-1)  # (b, h, T, T)"
MHA_OUT_PROJ = "out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs"
MHA_SPLITS = [(f"{name} = {name}.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)",
               f"{name} = {name}.reshape(b, self.num_heads, num_tokens, self.head_dim)")
              for name in ("keys", "queries", "values")]

MISTAKES = {
    "unscaled_scores": [("torch.softmax(attn_scores / self.head_dim ** 0.5", "torch.softmax(attn_scores")],
    "scaled_by_dk": [(CAUSAL_SOFTMAX, CAUSAL_SOFTMAX.replace("keys.shape[-1] ** 0.5", "keys.shape[-1]"))],
    "scaled_by_model_dim": [("attn_scores / self.head_dim ** 0.5", "attn_scores / self.d_out ** 0.5")],
    "mask_includes_diagonal": [(CAUSAL_MASK_LINE, CAUSAL_MASK_LINE.replace("diagonal=1", "diagonal=0"))],
    "mask_wrong_triangle": [(CAUSAL_MASK_LINE, CAUSAL_MASK_LINE.replace("triu(", "tril(").replace("=1", "=-1"))],
    "mask_filled_with_zero": [(CAUSAL_MASKING, CAUSAL_MASKING.replace("-torch.inf", "0.0"))],
    "mask_after_softmax": [(CAUSAL_MASKING, CAUSAL_SOFTMAX + "\n        attn_weights = attn_weights.masked_fill("
                            "self.mask.bool()[:num_tokens, :num_tokens], 0.0)")],
    "mask_not_sliced": [(CAUSAL_MASKING, CAUSAL_MASKING.replace("[:num_tokens, :num_tokens]", ""))],
    "dropout_in_eval": [(CAUSAL_DROPOUT, CAUSAL_DROPOUT.replace(
        "self.dropout(attn_weights)", "torch.nn.functional.dropout(attn_weights, self.dropout.p, training=True)"))],
    "dropout_on_context": [(CAUSAL_DROPOUT, "return self.dropout(attn_weights @ values)")],
    "dropout_on_scores": [(CAUSAL_SOFTMAX + "\n        " + CAUSAL_DROPOUT.split("\n")[0],
                           CAUSAL_SOFTMAX.replace("(attn_scores /", "(self.dropout(attn_scores) /"))],
    "mask_not_buffer": [(CAUSAL_MASK_LINE, CAUSAL_MASK_LINE.replace('self.register_buffer("mask", ', "self.mask = ")
                         .removesuffix(")"))],
    "split_without_transpose": MHA_SPLITS,
    "merge_without_transpose": [("context = (attn_weights @ values).transpose(1, 2)", "context = attn_weights @ values")],
    "missing_out_proj": [("        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs\n", ""),
                         ("return self.out_proj(context)", "return context")],
    "no_head_divisibility_check": [('        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"\n', "")],
    "heads_share_weights": [("[CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]",
                             "[CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)] * num_heads")],
    "wrong_gpt2_config": [('"large": (1280, 20)', '"large": (1280, 16)')],
    # Mistakes seen in readers' code.
    "mask_not_applied": [(CAUSAL_MASKING, CAUSAL_MASKING.replace("masked_fill_(", "masked_fill("))],
    "causal_softmax_wrong_dim": [(CAUSAL_SOFTMAX, CAUSAL_SOFTMAX.replace("dim=-1", "dim=1"))],
    "multihead_softmax_wrong_dim": [(MHA_SOFTMAX, MHA_SOFTMAX.replace("dim=-1", "dim=1"))],
    "transpose_of_a_batch": [("attn_scores = queries @ keys.transpose(1, 2)", "attn_scores = queries @ keys.T")],
    "out_proj_without_bias": [(MHA_OUT_PROJ, MHA_OUT_PROJ.replace("(d_out, d_out)", "(d_out, d_out, bias=False)"))],
    "out_proj_bias_follows_qkv_bias": [(MHA_OUT_PROJ, MHA_OUT_PROJ.replace("(d_out, d_out)", "(d_out, d_out, bias=qkv_bias)"))],
    "dropout_scaled_by_p": [(CAUSAL_DROPOUT, """if self.training and self.dropout.p > 0:  # a hand-written dropout
            keep = torch.rand_like(attn_weights) >= self.dropout.p
            attn_weights = attn_weights * keep / self.dropout.p
        return attn_weights @ values  # (b, T, d_out)""")],
}

CASES = {name: (name, []) for name in LAYOUTS}
CASES.update({f"{layout}__{mistake}": (layout, edits) for layout in ("parameter", "fused")
              for mistake, edits in MISTAKES.items()})
CASES.update({
    "gpt__unscaled_scores": ("gpt", MISTAKES["unscaled_scores"]),
    "gpt__merge_without_transpose": ("gpt", MISTAKES["merge_without_transpose"]),
    "head_list__mask_includes_diagonal": ("head_list", MISTAKES["mask_includes_diagonal"]),
    "head_list__unscaled_scores": ("head_list", [(CAUSAL_SOFTMAX, CAUSAL_SOFTMAX.replace(
        "attn_scores / keys.shape[-1] ** 0.5", "attn_scores"))]),
})


def apply_edits(source: str, edits) -> str:
    for find, replacement in edits:
        if isinstance(find, Span):
            assert source.count(find.start) == 1, f"expected one match of {find.start!r}"
            begin = source.index(find.start)
            find = source[begin:source.index(find.end, begin) + len(find.end)]
        count = source.count(find)
        assert count == 1, f"expected one match, found {count}: {find!r}"
        source = source.replace(find, replacement)
    return source


def case_source(name: str) -> str:
    layout, mistake = CASES[name]
    return apply_edits(apply_edits(solution_source(), LAYOUTS[layout]), mistake)
