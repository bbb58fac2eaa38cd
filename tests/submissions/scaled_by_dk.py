"""The scores are divided by d_k itself instead of by its square root."""
import torch
from torch import nn


def attention_scores(inputs):
    return inputs @ inputs.mT


def attention_weights(scores):
    return scores.softmax(dim=-1)


def context_vectors(inputs):
    return attention_weights(attention_scores(inputs)) @ inputs


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        q, k, v = x @ self.W_query, x @ self.W_key, x @ self.W_value
        att = (q @ k.T / k.shape[-1]).softmax(dim=-1)
        return att @ v


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        att = (q @ k.T / k.shape[-1]).softmax(dim=-1)
        return att @ v


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    with torch.no_grad():
        for name in ["W_query", "W_key", "W_value"]:
            getattr(sa_v1, name).copy_(getattr(sa_v2, name).weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.ones(context_length, context_length).triu(diagonal=1))

    def forward(self, x):
        T = x.size(1)
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        att = (q @ k.mT).masked_fill(self.mask[:T, :T] == 1, float("-inf"))
        att = self.dropout((att / k.shape[-1]).softmax(dim=-1))
        return att @ v


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList([CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
                                    for _ in range(num_heads)])

    def forward(self, x):
        return torch.cat([h(x) for h in self.heads], -1)


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out % num_heads != 0"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.ones(context_length, context_length).triu(diagonal=1))

    def forward(self, x):
        b, T, _ = x.shape
        heads = lambda t: t.view(b, T, self.num_heads, self.head_dim).transpose(1, 2)
        q, k, v = heads(self.W_query(x)), heads(self.W_key(x)), heads(self.W_value(x))
        att = (q @ k.mT).masked_fill(self.mask[:T, :T] == 1, float("-inf"))
        att = self.dropout((att / self.head_dim).softmax(dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(b, T, self.d_out)
        return self.out_proj(y)


def gpt2_attention(size="small", dropout=0.0):
    cfg = {"small": (768, 12), "medium": (1024, 16), "large": (1280, 20), "xl": (1600, 25)}
    if size not in cfg:
        raise ValueError(f"bad size {size!r}")
    emb, n_head = cfg[size]
    return MultiHeadAttention(emb, emb, 1024, dropout, n_head)
