"""Exercises for the attention chapter: from simplified self-attention to multi-head attention.

Fill in each stub: replace the `raise NotImplementedError(...)` with your code and keep the names and
signatures as they are, since the grader calls them. Keep the book's attribute names too: the grader
recognises other layouts of the weights, but an assignment with `[contract] attribute_names = true` (the
default) asks for these names and takes one structure check off a class that uses others. The sections follow the
order of the chapter, and each one builds on the ones before it.
Check yourself by running `python -m grader` from the folder above exercises/.

Dimension names used in shape comments:
    b: batch size, T: number of tokens, d_in: input embedding size,
    d_out: output size, h: number of heads, hd: head dimension (d_out // h).

The book's example input (6 tokens, d_in = 3), used in the hints below:
    inputs = torch.tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64],
                           [0.22, 0.58, 0.33], [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]])
    batch = torch.stack((inputs, inputs))  # (2, 6, 3)
The seeded hints depend on creating W_query, W_key, W_value in that order (then out_proj), the order
the book uses; the grader does not depend on that order.
"""
import torch
import torch.nn as nn


# --- 3.3 Simplified self-attention (no trainable weights) ---------------------------------

def attention_scores(inputs):
    """Dot product of every token with every token: (..., T, d) -> (..., T, T).

    Entry [i, j] is inputs[i] . inputs[j]. Transpose only the last two dimensions
    (not `.T`), so that a leading batch dimension works too.
    Hint: the scores of the second token of the book's input are
    [0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865].
    """
    raise NotImplementedError("attention_scores: not implemented yet")


def attention_weights(scores):
    """Normalise each row of scores with softmax so that it sums to 1: (..., T, T) -> (..., T, T).

    Use torch.softmax over the last dimension (dim=-1): each query's weights over all keys sum to 1.
    Hint: the weights of the second token of the book's input are
    [0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581].
    """
    raise NotImplementedError("attention_weights: not implemented yet")


def context_vectors(inputs):
    """Every token's context vector: the inputs averaged by the attention weights: (..., T, d) -> (..., T, d).

    Combine the two functions above, then weight the inputs: context[i] = sum_j weights[i, j] * inputs[j],
    one matrix product for all tokens at once.
    Hint: the context vector of the second token of the book's input is [0.4419, 0.6515, 0.5683].
    """
    raise NotImplementedError("context_vectors: not implemented yet")


# --- 3.4 Self-attention with trainable weights ----------------------------------------------

class SelfAttention_v1(nn.Module):
    """Scaled dot-product attention with hand-made weight matrices: (T, d_in) -> (T, d_out).

    Attributes: W_query, W_key, W_value, each an nn.Parameter of shape (d_in, d_out) filled with
    torch.rand, so that queries = x @ W_query. (Other names are graded too; with the default
    attribute contract they cost one structure check in self_attention_v1.)
    Hint: with torch.manual_seed(123), SelfAttention_v1(3, 2) on the book's input gives first row
    [0.2996, 0.8053].
    """

    def __init__(self, d_in, d_out):
        super().__init__()
        raise NotImplementedError("SelfAttention_v1.__init__: not implemented yet")

    def forward(self, x):
        """Project x to queries, keys and values, score queries against keys, divide the scores by
        sqrt(d_out) (the key dimension) before the softmax over dim=-1, and weight the values.
        """
        raise NotImplementedError("SelfAttention_v1.forward: not implemented yet")


class SelfAttention_v2(nn.Module):
    """The same computation as SelfAttention_v1, with nn.Linear layers: (T, d_in) -> (T, d_out).

    Attributes: W_query, W_key, W_value, each nn.Linear(d_in, d_out, bias=qkv_bias). (Other names are
    graded too; with the default attribute contract they cost one structure check in self_attention_v2.)
    nn.Linear initialises its weights better than torch.rand, so the outputs differ from v1's.
    Hint: with torch.manual_seed(789), SelfAttention_v2(3, 2) on the book's input gives first row
    [-0.0739, 0.0713].
    """

    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        raise NotImplementedError("SelfAttention_v2.__init__: not implemented yet")

    def forward(self, x):
        """As in v1: scaled scores, softmax over dim=-1, weighted values."""
        raise NotImplementedError("SelfAttention_v2.forward: not implemented yet")


def copy_weights_v2_to_v1(sa_v2, sa_v1):
    """Exercise 3.1: give sa_v1 the weights of sa_v2 so both compute the same outputs; return sa_v1.

    nn.Linear stores its weight as (d_out, d_in) and computes x @ weight.T, while v1 keeps
    (d_in, d_out) matrices: transpose each weight when copying. Copy in place under torch.no_grad()
    so that W_query, W_key and W_value stay the same nn.Parameter objects.
    """
    raise NotImplementedError("copy_weights_v2_to_v1: not implemented yet")


# --- 3.5 Causal attention -----------------------------------------------------------------

class CausalAttention(nn.Module):
    """Self-attention in which each token attends only to itself and the tokens before it:
    (b, T, d_in) -> (b, T, d_out), for any T <= context_length.

    Attributes: W_query, W_key, W_value, each nn.Linear(d_in, d_out, bias=qkv_bias); a dropout layer;
    and a buffer named `mask`, of shape (context_length, context_length), that marks the positions
    above the diagonal (the future). Register it with register_buffer so that it follows the module
    through .to(device) and .to(dtype) without becoming a trained parameter.
    Hint: with torch.manual_seed(123), CausalAttention(3, 2, 6, 0.0) on the book's input stacked
    twice gives first row [-0.4519, 0.2216].
    """

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        raise NotImplementedError("CausalAttention.__init__: not implemented yet")

    def forward(self, x):
        """Scores as before, now batched: transpose the last two dimensions of the keys, not `.T`.

        Slice the mask to the current number of tokens, fill the masked scores with -inf before the
        softmax (not after: the remaining weights of each row must still sum to 1), scale by
        sqrt(d_out), softmax over dim=-1. Apply dropout to the attention weights; nn.Dropout already
        does nothing in eval mode.
        """
        raise NotImplementedError("CausalAttention.forward: not implemented yet")


# --- 3.6 Multi-head attention ---------------------------------------------------------------

class MultiHeadAttentionWrapper(nn.Module):
    """num_heads independent CausalAttention heads, outputs concatenated:
    (b, T, d_in) -> (b, T, num_heads * d_out).

    Attribute: `heads`, an nn.ModuleList of num_heads CausalAttention(d_in, d_out, context_length,
    dropout, qkv_bias). Each head must be its own module with its own weights: repeating one
    instance in the list would give identical heads. Here d_out is the size of each head.
    """

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        raise NotImplementedError("MultiHeadAttentionWrapper.__init__: not implemented yet")

    def forward(self, x):
        """Run every head on x and concatenate their outputs along the last dimension."""
        raise NotImplementedError("MultiHeadAttentionWrapper.forward: not implemented yet")


def wrapper_with_two_dim_output(d_in, context_length, dropout=0.0):
    """Exercise 3.2: a MultiHeadAttentionWrapper with two heads whose output has 2 features:
    (b, T, d_in) -> (b, T, 2).

    Remember that the wrapper's d_out is per head: the output size is num_heads * d_out.
    """
    raise NotImplementedError("wrapper_with_two_dim_output: not implemented yet")


class MultiHeadAttention(nn.Module):
    """All heads computed at once with batched matrix products: (b, T, d_in) -> (b, T, d_out).

    Here d_out is the total size, split evenly into num_heads heads of size head_dim = d_out // num_heads;
    raise an error (an assert is enough) when d_out is not divisible by num_heads.
    Attributes: num_heads, head_dim; W_query, W_key, W_value, each nn.Linear(d_in, d_out, bias=qkv_bias);
    out_proj = nn.Linear(d_out, d_out) (with bias), which combines the heads' outputs; a dropout layer;
    and the causal buffer `mask` as in CausalAttention.
    Hint: with torch.manual_seed(123), MultiHeadAttention(3, 2, 6, 0.0, num_heads=2) on the book's
    input stacked twice gives first row [0.3190, 0.4858].
    """

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        raise NotImplementedError("MultiHeadAttention.__init__: not implemented yet")

    def forward(self, x):
        """Project once to (b, T, d_out), split the last dimension into (num_heads, head_dim), then
        transpose to (b, num_heads, T, head_dim) so that each head attends over its own tokens.

        Mask, scale by sqrt(head_dim) (not d_out), softmax over dim=-1 and dropout as in CausalAttention.
        Transpose back to (b, T, num_heads, head_dim) before merging the heads into (b, T, d_out)
        (call .contiguous() before .view), then apply out_proj.
        """
        raise NotImplementedError("MultiHeadAttention.forward: not implemented yet")


def gpt2_attention(size="small", dropout=0.0):
    """Exercise 3.3: one MultiHeadAttention module sized like GPT-2, with context length 1024.

    Sizes (embedding dimension = d_in = d_out, number of heads): "small" (768, 12), "medium" (1024, 16),
    "large" (1280, 20), "xl" (1600, 25). Raise a ValueError for any other size.
    Keep qkv_bias=False as in the book, even though the released GPT-2 weights do have query/key/value
    biases.
    Hint: the small one has 2,360,064 parameters.
    """
    raise NotImplementedError("gpt2_attention: not implemented yet")
