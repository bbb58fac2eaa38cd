"""Reference solutions for the attention chapter (simplified self-attention to multi-head attention).

Dimension names used in shape comments:
    b: batch size, T: number of tokens, d_in: input embedding size,
    d_out: output size, h: number of heads, hd: head dimension (d_out // h).
"""
import torch
import torch.nn as nn


# --- 3.3 Simplified self-attention (no trainable weights) ---------------------------------

def attention_scores(inputs):
    """Dot product of every token with every token: (..., T, d) -> (..., T, T)."""
    return inputs @ inputs.transpose(-2, -1)  # (..., T, T)


def attention_weights(scores):
    """Normalise each row of scores with softmax so that it sums to 1."""
    return torch.softmax(scores, dim=-1)  # (..., T, T)


def context_vectors(inputs):
    """Every token's context vector: the inputs averaged by the attention weights: (..., T, d) -> (..., T, d)."""
    weights = attention_weights(attention_scores(inputs))  # (..., T, T)
    return weights @ inputs  # (..., T, d)


# --- 3.4 Self-attention with trainable weights ----------------------------------------------

class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        # x: (T, d_in)
        keys = x @ self.W_key  # (T, d_out)
        queries = x @ self.W_query  # (T, d_out)
        values = x @ self.W_value  # (T, d_out)
        attn_scores = queries @ keys.T  # (T, T)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        # x: (T, d_in)
        keys = self.W_key(x)  # (T, d_out)
        queries = self.W_query(x)  # (T, d_out)
        values = self.W_value(x)  # (T, d_out)
        attn_scores = queries @ keys.T  # (T, T)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Exercise 3.1: give sa_v1 the weights of sa_v2 so both compute the same outputs.

    nn.Linear stores its weight as (d_out, d_in) and computes x @ weight.T, so each matrix is transposed.
    """
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


# --- 3.5 Causal attention -----------------------------------------------------------------

class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # A buffer follows the module through .to(device) and .to(dtype) but is not trained.
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        attn_scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        # Slice the mask so that sequences shorter than context_length work too.
        attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (b, T, T)
        attn_weights = self.dropout(attn_weights)
        return attn_weights @ values  # (b, T, d_out)


# --- 3.6 Multi-head attention ---------------------------------------------------------------

class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        # x: (b, T, d_in)
        return torch.cat([head(x) for head in self.heads], dim=-1)  # (b, T, num_heads * d_out)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Exercise 3.2: two heads whose concatenated output has 2 features, so each head has d_out = 1."""
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        # Split d_out into heads, then move the head axis before the token axis.
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, T, hd)

        attn_scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / self.head_dim ** 0.5, dim=-1)  # (b, h, T, T)
        attn_weights = self.dropout(attn_weights)

        context = (attn_weights @ values).transpose(1, 2)  # (b, T, h, hd)
        context = context.contiguous().view(b, num_tokens, self.d_out)  # (b, T, d_out)
        return self.out_proj(context)  # (b, T, d_out)


GPT2_SIZES = {
    # size: (embedding dimension, number of heads)
    "small": (768, 12),
    "medium": (1024, 16),
    "large": (1280, 20),
    "xl": (1600, 25),
}


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: one multi-head attention module sized like GPT-2 (context length 1024).

    As in the book qkv_bias is False; the released GPT-2 weights do have query/key/value biases.
    """
    if size not in GPT2_SIZES:
        raise ValueError(f"unknown GPT-2 size {size!r}; choose one of {sorted(GPT2_SIZES)}")
    d_model, num_heads = GPT2_SIZES[size]
    return MultiHeadAttention(d_model, d_model, context_length=1024, dropout=dropout, num_heads=num_heads)
