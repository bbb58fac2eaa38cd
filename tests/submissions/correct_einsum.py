"""Nothing is wrong: a correct solution that writes the matrix products with torch.einsum."""
import torch
import torch.nn as nn


def attention_scores(inputs):
    return torch.einsum("...id,...jd->...ij", inputs, inputs)


def attention_weights(scores):
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    weights = attention_weights(attention_scores(inputs))
    return torch.einsum("...ij,...jd->...id", weights, inputs)


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        q = torch.einsum("ti,io->to", x, self.W_query)
        k = torch.einsum("ti,io->to", x, self.W_key)
        v = torch.einsum("ti,io->to", x, self.W_value)
        scores = torch.einsum("id,jd->ij", q, k)
        weights = torch.softmax(scores / k.shape[-1] ** 0.5, dim=-1)
        return torch.einsum("ij,jd->id", weights, v)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        q = self.W_query(x)
        k = self.W_key(x)
        v = self.W_value(x)
        scores = torch.einsum("id,jd->ij", q, k)
        weights = torch.softmax(scores / k.shape[-1] ** 0.5, dim=-1)
        return torch.einsum("ij,jd->id", weights, v)


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    with torch.no_grad():
        sa_v1.W_query.copy_(torch.einsum("oi->io", sa_v2.W_query.weight))
        sa_v1.W_key.copy_(torch.einsum("oi->io", sa_v2.W_key.weight))
        sa_v1.W_value.copy_(torch.einsum("oi->io", sa_v2.W_value.weight))
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
        T = x.shape[1]
        q = self.W_query(x)
        k = self.W_key(x)
        v = self.W_value(x)
        scores = torch.einsum("bid,bjd->bij", q, k)
        scores = scores.masked_fill(self.mask.bool()[:T, :T], float("-inf"))
        weights = torch.softmax(scores / k.shape[-1] ** 0.5, dim=-1)
        weights = self.dropout(weights)
        return torch.einsum("bij,bjd->bid", weights, v)


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
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
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, T, _ = x.shape
        # keep the heads as their own axis: (b, T, h, hd)
        q = self.W_query(x).view(b, T, self.num_heads, self.head_dim)
        k = self.W_key(x).view(b, T, self.num_heads, self.head_dim)
        v = self.W_value(x).view(b, T, self.num_heads, self.head_dim)

        scores = torch.einsum("bihd,bjhd->bhij", q, k)  # (b, h, T, T)
        scores = scores.masked_fill(self.mask.bool()[:T, :T], float("-inf"))
        weights = torch.softmax(scores / self.head_dim ** 0.5, dim=-1)
        weights = self.dropout(weights)

        context = torch.einsum("bhij,bjhd->bihd", weights, v)  # (b, T, h, hd)
        context = context.reshape(b, T, self.d_out)
        return self.out_proj(context)


def gpt2_attention(size="small", dropout=0.0):
    sizes = {"small": (768, 12), "medium": (1024, 16), "large": (1280, 20), "xl": (1600, 25)}
    if size not in sizes:
        raise ValueError(f"unknown GPT-2 size {size!r}")
    emb_dim, n_heads = sizes[size]
    return MultiHeadAttention(emb_dim, emb_dim, 1024, dropout, n_heads)
