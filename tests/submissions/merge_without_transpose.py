"""MultiHeadAttention merges the heads with view straight from (b, h, T, hd), without transposing back."""
import math

import torch
from torch import nn


def attention_scores(inputs):
    """Dot product between every pair of token vectors."""
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(scores):
    """Row-wise softmax of the scores."""
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    """Weighted sum of all inputs for every token."""
    weights = attention_weights(attention_scores(inputs))
    return weights @ inputs


class SelfAttention_v1(nn.Module):
    """Trainable self-attention with nn.Parameter matrices."""

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
        weights = torch.softmax(scores / math.sqrt(keys.shape[1]), dim=-1)
        return weights @ values


class SelfAttention_v2(nn.Module):
    """Trainable self-attention with nn.Linear layers."""

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
        weights = torch.softmax(scores / math.sqrt(keys.shape[1]), dim=-1)
        return weights @ values


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Copy the weights of the nn.Linear layers (transposed) into the v1 parameters."""
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    """Self-attention with a causal mask and dropout."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape
        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        causal = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(causal, -torch.inf)

        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        weights = self.dropout(weights)
        return weights @ values


class MultiHeadAttentionWrapper(nn.Module):
    """Several CausalAttention heads run in sequence and concatenated."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Exercise 3.2: d_out=1 per head, two heads."""
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    """Multi-head causal attention with weight splits."""

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
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape

        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        # (b, T, d_out) -> (b, T, h, hd) -> (b, h, T, hd)
        queries = queries.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = keys.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        causal = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(causal, -torch.inf)

        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        weights = self.dropout(weights)

        # combine heads: (b, T, d_out)
        context = (weights @ values).contiguous().view(batch_size, num_tokens, self.d_out)
        return self.out_proj(context)


GPT2_SIZES = {
    "small": (768, 12),
    "medium": (1024, 16),
    "large": (1280, 20),
    "xl": (1600, 25),
}


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: multi-head attention sized like GPT-2."""
    if size not in GPT2_SIZES:
        raise ValueError(f"unknown GPT-2 size {size!r}")
    emb_dim, num_heads = GPT2_SIZES[size]
    return MultiHeadAttention(emb_dim, emb_dim, context_length=1024, dropout=dropout, num_heads=num_heads)
