"""Nothing is wrong: a correct solution with reshape/permute in multi-head attention and a ValueError check."""
import torch
from torch import nn


def attention_scores(inputs):
    return torch.matmul(inputs, inputs.transpose(-2, -1))


def attention_weights(scores):
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    return torch.matmul(attention_weights(attention_scores(inputs)), inputs)


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        keys = torch.matmul(x, self.W_key)
        queries = torch.matmul(x, self.W_query)
        values = torch.matmul(x, self.W_value)
        scores = torch.matmul(queries, keys.transpose(0, 1))
        weights = torch.softmax(scores / keys.size(-1) ** 0.5, dim=-1)
        return torch.matmul(weights, values)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)
        scores = torch.matmul(queries, keys.transpose(0, 1))
        weights = torch.softmax(scores / keys.size(-1) ** 0.5, dim=-1)
        return torch.matmul(weights, values)


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.permute(1, 0))
        sa_v1.W_key.copy_(sa_v2.W_key.weight.permute(1, 0))
        sa_v1.W_value.copy_(sa_v2.W_value.weight.permute(1, 0))
    return sa_v1


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        num_tokens = x.size(1)
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)

        scores = torch.matmul(queries, keys.permute(0, 2, 1))
        scores = scores.masked_fill(self.mask[:num_tokens, :num_tokens] == 1, -torch.inf)
        weights = torch.softmax(scores / keys.size(-1) ** 0.5, dim=-1)
        weights = self.dropout(weights)
        return torch.matmul(weights, values)


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=2)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, num_tokens, _ = x.shape

        # (b, T, d_out) -> (b, T, h, hd) -> (b, h, T, hd)
        keys = self.W_key(x).reshape(b, num_tokens, self.num_heads, self.head_dim).permute(0, 2, 1, 3)
        queries = self.W_query(x).reshape(b, num_tokens, self.num_heads, self.head_dim).permute(0, 2, 1, 3)
        values = self.W_value(x).reshape(b, num_tokens, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

        scores = torch.matmul(queries, keys.permute(0, 1, 3, 2))  # (b, h, T, T)
        scores = scores.masked_fill(self.mask[:num_tokens, :num_tokens] == 1, -torch.inf)
        weights = torch.softmax(scores / self.head_dim ** 0.5, dim=-1)
        weights = self.dropout(weights)

        # (b, h, T, hd) -> (b, T, h, hd) -> (b, T, d_out)
        context = torch.matmul(weights, values).permute(0, 2, 1, 3).reshape(b, num_tokens, self.d_out)
        return self.out_proj(context)


def gpt2_attention(size="small", dropout=0.0):
    sizes = {"small": (768, 12), "medium": (1024, 16), "large": (1280, 20), "xl": (1600, 25)}
    if size not in sizes:
        raise ValueError(f"unknown GPT-2 size {size!r}")
    emb_dim, n_heads = sizes[size]
    return MultiHeadAttention(emb_dim, emb_dim, 1024, dropout, n_heads)
