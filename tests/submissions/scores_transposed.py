"""attention_scores multiplies in the wrong order (inputs.T @ inputs), giving feature-by-feature scores."""
import math

import torch
from torch import nn


def attention_scores(inputs):
    """Return the matrix of dot products between the token embeddings."""
    scores = inputs.transpose(-2, -1) @ inputs
    return scores


def attention_weights(scores):
    """Softmax along each row."""
    weights = torch.softmax(scores, dim=-1)
    return weights


def context_vectors(inputs):
    """Weighted sum of the inputs using the attention weights."""
    weights = attention_weights(attention_scores(inputs))
    context = weights @ inputs
    return context


class SelfAttention_v1(nn.Module):
    """Self-attention with plain parameter matrices."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        # x is (num_tokens, d_in)
        queries = x @ self.W_query  # (num_tokens, d_out)
        keys = x @ self.W_key  # (num_tokens, d_out)
        values = x @ self.W_value  # (num_tokens, d_out)

        d_k = keys.shape[-1]
        scores = queries @ keys.T  # (num_tokens, num_tokens)
        weights = torch.softmax(scores / math.sqrt(d_k), dim=-1)
        return weights @ values


class SelfAttention_v2(nn.Module):
    """Same as v1 but the projections are nn.Linear layers."""

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        d_k = keys.shape[-1]
        scores = queries @ keys.T
        weights = torch.softmax(scores / math.sqrt(d_k), dim=-1)
        return weights @ values


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Load the Linear weights of sa_v2 into sa_v1 (transposed, since Linear stores (d_out, d_in))."""
    with torch.no_grad():
        for name in ("W_query", "W_key", "W_value"):
            getattr(sa_v1, name).copy_(getattr(sa_v2, name).weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    """Self-attention where token i only sees tokens 0..i."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask",
            torch.triu(torch.ones(context_length, context_length), diagonal=1),
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape

        queries = self.W_query(x)  # (b, T, d_out)
        keys = self.W_key(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        future = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(future, -torch.inf)

        d_k = keys.shape[-1]
        weights = torch.softmax(scores / math.sqrt(d_k), dim=-1)
        weights = self.dropout(weights)
        return weights @ values  # (b, T, d_out)


class MultiHeadAttentionWrapper(nn.Module):
    """Several CausalAttention heads whose outputs are concatenated."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
            for _ in range(num_heads)
        )

    def forward(self, x):
        head_outputs = [head(x) for head in self.heads]
        return torch.cat(head_outputs, dim=-1)  # (b, T, num_heads * d_out)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Exercise 3.2: output dimension 2 with two heads -> each head has d_out = 1."""
    return MultiHeadAttentionWrapper(d_in, d_out=1, context_length=context_length,
                                     dropout=dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    """Efficient multi-head attention: one projection, split into heads."""

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
            "mask",
            torch.triu(torch.ones(context_length, context_length), diagonal=1),
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape

        queries = self.W_query(x)  # (b, T, d_out)
        keys = self.W_key(x)
        values = self.W_value(x)

        # (b, T, d_out) -> (b, T, h, hd) -> (b, h, T, hd)
        shape = (batch_size, num_tokens, self.num_heads, self.head_dim)
        queries = queries.view(shape).transpose(1, 2)
        keys = keys.view(shape).transpose(1, 2)
        values = values.view(shape).transpose(1, 2)

        scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        future = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(future, -torch.inf)

        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        weights = self.dropout(weights)

        context = weights @ values  # (b, h, T, hd)
        context = context.transpose(1, 2).contiguous()  # (b, T, h, hd)
        context = context.view(batch_size, num_tokens, self.d_out)
        return self.out_proj(context)


GPT2_CONFIGS = {
    "small": {"emb_dim": 768, "n_heads": 12},
    "medium": {"emb_dim": 1024, "n_heads": 16},
    "large": {"emb_dim": 1280, "n_heads": 20},
    "xl": {"emb_dim": 1600, "n_heads": 25},
}


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: a MultiHeadAttention with the GPT-2 sizes (context length 1024)."""
    if size not in GPT2_CONFIGS:
        raise ValueError(f"size should be one of {list(GPT2_CONFIGS)}, got {size!r}")
    cfg = GPT2_CONFIGS[size]
    return MultiHeadAttention(
        d_in=cfg["emb_dim"],
        d_out=cfg["emb_dim"],
        context_length=1024,
        dropout=dropout,
        num_heads=cfg["n_heads"],
    )
