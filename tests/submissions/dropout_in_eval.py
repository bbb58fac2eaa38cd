"""Dropout calls torch.nn.functional.dropout without the training flag, so it stays on in eval mode."""
import math

import torch
from torch import nn


def attention_scores(inputs):
    """Similarity of every token with every other token (dot product)."""
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(scores):
    """Normalise the scores row by row with softmax."""
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    """Combine the inputs with the attention weights."""
    scores = attention_scores(inputs)
    weights = attention_weights(scores)
    return weights @ inputs


class SelfAttention_v1(nn.Module):
    """Self-attention, weights as raw parameters."""

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
    """Self-attention, weights in nn.Linear layers."""

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
    """Copy the (transposed) Linear weights of sa_v2 into the parameters of sa_v1."""
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    """Causal self-attention with dropout on the attention weights."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout_p = dropout
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape
        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        scores = queries @ keys.transpose(1, 2)
        scores = scores.masked_fill(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        weights = torch.nn.functional.dropout(weights, self.dropout_p)
        return weights @ values


class MultiHeadAttentionWrapper(nn.Module):
    """num_heads single-head CausalAttention modules, outputs concatenated."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Two heads with d_out=1 each, so the output has 2 dimensions."""
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with the heads folded into the batch computation."""

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
        self.dropout_p = dropout
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x):
        batch_size, num_tokens, _ = x.shape

        queries = self.W_query(x)
        keys = self.W_key(x)
        values = self.W_value(x)

        # (b, T, d_out) -> (b, h, T, hd)
        queries = queries.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = keys.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        scores = queries @ keys.transpose(2, 3)
        scores = scores.masked_fill(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
        weights = torch.nn.functional.dropout(weights, self.dropout_p)

        context = (weights @ values).transpose(1, 2)  # (b, T, h, hd)
        context = context.contiguous().view(batch_size, num_tokens, self.d_out)
        return self.out_proj(context)


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: GPT-2 sized multi-head attention."""
    settings = {
        "small": (768, 12),
        "medium": (1024, 16),
        "large": (1280, 20),
        "xl": (1600, 25),
    }
    if size not in settings:
        raise ValueError(f"unsupported size: {size}")
    emb_dim, num_heads = settings[size]
    return MultiHeadAttention(emb_dim, emb_dim, context_length=1024, dropout=dropout, num_heads=num_heads)
