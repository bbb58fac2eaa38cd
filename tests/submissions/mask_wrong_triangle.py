"""The causal mask hides the past (below the diagonal) instead of the future."""
import math

import torch
from torch import nn


def attention_scores(inputs):
    """Pairwise dot products of the token embeddings: (..., T, d) -> (..., T, T)."""
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(scores):
    """Row-wise softmax."""
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    """Attention-weighted average of the inputs for every token."""
    weights = attention_weights(attention_scores(inputs))
    return weights @ inputs


class SelfAttention_v1(nn.Module):
    """Scaled dot-product attention with nn.Parameter weight matrices."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        queries = x @ self.W_query
        keys = x @ self.W_key
        values = x @ self.W_value

        scores = queries @ keys.T
        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        return weights @ values


class SelfAttention_v2(nn.Module):
    """Scaled dot-product attention with nn.Linear projections."""

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        scores = queries @ keys.T
        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        return weights @ values


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Give sa_v1 the same weights as sa_v2 (transposed from the nn.Linear layout)."""
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    """Single-head causal self-attention with dropout on the weights."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.tril(torch.ones(context_length, context_length), diagonal=-1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape
        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        hidden = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(hidden, -torch.inf)

        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        weights = self.dropout(weights)
        return weights @ values  # (b, T, d_out)


class MultiHeadAttentionWrapper(nn.Module):
    """Runs num_heads CausalAttention modules side by side."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Two heads, one output dimension each."""
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    """Multi-head causal attention computed with one set of projections."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads

        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.tril(torch.ones(context_length, context_length), diagonal=-1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape

        def split_heads(t):
            # (b, T, d_out) -> (b, h, T, hd)
            return t.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        queries = split_heads(self.W_query(x))
        keys = split_heads(self.W_key(x))
        values = split_heads(self.W_value(x))

        scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        hidden = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(hidden, -torch.inf)

        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        weights = self.dropout(weights)

        context = (weights @ values).transpose(1, 2).contiguous()  # (b, T, h, hd)
        context = context.view(batch_size, num_tokens, self.d_out)
        return self.out_proj(context)


GPT2_SIZES = {
    "small": (768, 12),
    "medium": (1024, 16),
    "large": (1280, 20),
    "xl": (1600, 25),
}


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: multi-head attention with the dimensions of a GPT-2 model."""
    if size not in GPT2_SIZES:
        raise ValueError(f"unknown size {size!r}, expected one of {sorted(GPT2_SIZES)}")
    emb_dim, n_heads = GPT2_SIZES[size]
    return MultiHeadAttention(emb_dim, emb_dim, context_length=1024, dropout=dropout, num_heads=n_heads)
