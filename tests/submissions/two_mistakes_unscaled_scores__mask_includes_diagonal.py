"""The scores are never scaled by sqrt(d_k), and the causal mask also hides the diagonal."""
import torch
import torch.nn as nn


def attention_scores(inputs):
    # (..., T, d) x (..., d, T) -> (..., T, T)
    return inputs @ inputs.transpose(-2, -1)


def attention_weights(scores):
    return torch.softmax(scores, dim=-1)


def context_vectors(inputs):
    w = attention_weights(attention_scores(inputs))
    return w @ inputs


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        query = x @ self.W_query
        key = x @ self.W_key
        value = x @ self.W_value
        attn = torch.softmax(query @ key.T, dim=-1)
        return attn @ value


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        query = self.W_query(x)
        key = self.W_key(x)
        value = self.W_value(x)
        attn = torch.softmax(query @ key.T, dim=-1)
        return attn @ value


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    with torch.no_grad():
        sa_v1.W_query.copy_(sa_v2.W_query.weight.T)
        sa_v1.W_key.copy_(sa_v2.W_key.weight.T)
        sa_v1.W_value.copy_(sa_v2.W_value.weight.T)
    return sa_v1


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length)))

    def forward(self, x):
        b, t, _ = x.shape
        query = self.W_query(x)
        key = self.W_key(x)
        value = self.W_value(x)

        attn = query @ key.transpose(1, 2)
        attn = attn.masked_fill(self.mask[:t, :t].bool(), -torch.inf)
        attn = torch.softmax(attn, dim=-1)
        attn = self.dropout(attn)
        return attn @ value


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
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length)))

    def forward(self, x):
        b, t, _ = x.shape
        query = self.W_query(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.W_key(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        value = self.W_value(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

        attn = query @ key.transpose(2, 3)
        attn = attn.masked_fill(self.mask[:t, :t].bool(), -torch.inf)
        attn = torch.softmax(attn, dim=-1)
        attn = self.dropout(attn)

        out = (attn @ value).transpose(1, 2).contiguous().view(b, t, self.d_out)
        return self.out_proj(out)


def gpt2_attention(size="small", dropout=0.0):
    sizes = {"small": (768, 12), "medium": (1024, 16), "large": (1280, 20), "xl": (1600, 25)}
    if size not in sizes:
        raise ValueError(f"{size!r} is not one of {list(sizes)}")
    d_model, n_heads = sizes[size]
    return MultiHeadAttention(d_model, d_model, context_length=1024, dropout=dropout, num_heads=n_heads)
