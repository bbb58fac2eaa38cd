"""The attention scores are never divided by sqrt(d_k) before the softmax."""
import torch
from torch import nn


def attention_scores(inputs):
    """Dot products between all pairs of tokens."""
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(scores):
    """Turn scores into weights that sum to one per row."""
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    """Compute the context vector of every token."""
    scores = attention_scores(inputs)
    weights = attention_weights(scores)
    return weights @ inputs


class SelfAttention_v1(nn.Module):
    """Self-attention with trainable weight matrices (nn.Parameter)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        queries = x @ self.W_query  # (num_tokens, d_out)
        keys = x @ self.W_key
        values = x @ self.W_value

        scores = queries @ keys.T  # (num_tokens, num_tokens)
        weights = torch.softmax(scores, dim=-1)
        return weights @ values  # (num_tokens, d_out)


class SelfAttention_v2(nn.Module):
    """Self-attention using nn.Linear for the projections."""

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
        weights = torch.softmax(scores, dim=-1)
        return weights @ values


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Copy sa_v2's weights into sa_v1. nn.Linear keeps (d_out, d_in), so transpose."""
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    """Masked self-attention: no looking at future tokens."""

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
        queries = self.W_query(x)  # (b, T, d_out)
        keys = self.W_key(x)
        values = self.W_value(x)

        scores = queries @ keys.transpose(1, 2)  # (b, T, T)
        is_future = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(is_future, -torch.inf)

        weights = torch.softmax(scores, dim=-1)
        weights = self.dropout(weights)
        return weights @ values


class MultiHeadAttentionWrapper(nn.Module):
    """Stack of independent causal attention heads."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        outputs = [head(x) for head in self.heads]
        return torch.cat(outputs, dim=-1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Exercise 3.2: 2 heads of size 1 -> 2-dimensional output."""
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with weight splits."""

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

        # split the last dim into heads and put the head dim second
        queries = queries.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = keys.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(batch_size, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        scores = queries @ keys.transpose(2, 3)  # (b, h, T, T)
        is_future = self.mask.bool()[:num_tokens, :num_tokens]
        scores = scores.masked_fill(is_future, -torch.inf)

        weights = torch.softmax(scores, dim=-1)
        weights = self.dropout(weights)

        context = (weights @ values).transpose(1, 2)  # (b, T, h, hd)
        context = context.contiguous().view(batch_size, num_tokens, self.d_out)
        return self.out_proj(context)


GPT2_SETTINGS = {
    "small": (768, 12),
    "medium": (1024, 16),
    "large": (1280, 20),
    "xl": (1600, 25),
}


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: MultiHeadAttention configured like a GPT-2 model of the given size."""
    try:
        d_model, num_heads = GPT2_SETTINGS[size]
    except KeyError:
        raise ValueError(f"unknown GPT-2 size: {size}")
    return MultiHeadAttention(d_model, d_model, 1024, dropout, num_heads)
