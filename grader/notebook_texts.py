"""What the notebook says around the exercises: a short text per section of the chapter and the demo cells
that run the student's definitions on the chapter's example, as the book's own code does.

Demo code uses only the student's definitions and the example: it must hold nothing of the solutions.
"""

# The cell after Colab's install cell: the self-checks' import, which also starts their worker importing torch
# in the background while the cells above the first check run (see grader.in_notebook).
SELF_CHECK_IMPORT = """\
# check() grades the code you have run (each check says how); hint() shows a hint. Importing them now readies
# their worker in the background, so that every check below takes a fraction of a second.
from grader.in_notebook import check, hint"""

# The chapter's six-token example, "Your journey starts with one step", as 3-dimensional embeddings
# (the same values as grader.probes.BOOK_INPUTS).
INPUTS = """\
inputs = torch.tensor(
    [[0.43, 0.15, 0.89],  # Your     (x^1)
     [0.55, 0.87, 0.66],  # journey  (x^2)
     [0.57, 0.85, 0.64],  # starts   (x^3)
     [0.22, 0.58, 0.33],  # with     (x^4)
     [0.77, 0.25, 0.10],  # one      (x^5)
     [0.05, 0.80, 0.55]])  # step    (x^6)
print(inputs.shape)  # 6 tokens, 3 dimensions each"""

# By the section number of solutions/attention.py's section comments.
SECTIONS = {
    "3.3": """\
Every token of the example gets a *context vector*: its own embedding blended with the embeddings of the
other tokens, each in proportion to how related the two are. Here relatedness is plain similarity, the dot
product of two embeddings, so nothing is learned yet. Three steps, one function each: the scores (every
token against every token), the weights (each row of scores turned by a softmax into shares that add up
to 1) and the context vectors (the inputs weighted by those shares). Run the next cell first: it holds the
example the demos use.""",
    "3.4": """\
Now each token is looked at in three roles, through three trainable matrices: as a *query* (what it is
looking for), as a *key* (what it offers to the queries of others) and as a *value* (what it passes on).
The scores are queries against keys, divided by the square root of the keys' dimension so that the
softmax does not saturate as the dimension grows, and the context vectors are the weighted values.
`SelfAttention_v1` holds the matrices as `nn.Parameter`s; `SelfAttention_v2` uses `nn.Linear` layers,
which start from better random values. **Exercise 3.1** shows that the two compute the same thing once
they hold the same weights (mind how `nn.Linear` stores its weight).""",
    "3.5": """\
A language model predicts the next token, so while it reads a token it must not see the ones after it.
A *causal* mask hides every score above the diagonal: set to minus infinity before the softmax, they get a
weight of exactly 0 and the remaining weights of each row still add up to 1. Dropout on the attention
weights then switches off a random share of them during training (and rescales the rest). The mask is
the same for every input, so it is kept as a registered buffer: it travels with the module to another
device without being trained. From here on the inputs come in batches, `(b, num_tokens, d_in)`.""",
    "3.6": """\
Several causal attention modules side by side, each with its own weights, can each attend to a different
kind of relation; their context vectors are concatenated. The wrapper does exactly that, one head after
the other (**exercise 3.2** sizes it so that its output has two dimensions). `MultiHeadAttention` gets
the same result in one pass: one projection per role for all heads, split into heads by reshaping, and a
final linear layer that mixes the heads' outputs. **Exercise 3.3** builds one with the sizes of GPT-2.""",
}

# After the definition of each name: the book's way of trying it on the example.
DEMOS = {
    "attention_scores": """\
attn_scores = attention_scores(inputs)
print(attn_scores.shape)  # one score per pair of tokens
print(attn_scores)""",
    "attention_weights": """\
attn_weights = attention_weights(attn_scores)
print(attn_weights)
print("All row sums:", attn_weights.sum(dim=-1))""",
    "context_vectors": """\
all_context_vecs = context_vectors(inputs)
print(all_context_vecs.shape)  # one context vector per token
print(all_context_vecs)""",
    "SelfAttention_v1": """\
d_in = inputs.shape[1]  # the input embedding size, 3
d_out = 2  # the output embedding size
torch.manual_seed(123)
sa_v1 = SelfAttention_v1(d_in, d_out)
print(sa_v1(inputs).shape)
print(sa_v1(inputs))""",
    "SelfAttention_v2": """\
torch.manual_seed(789)
sa_v2 = SelfAttention_v2(d_in, d_out)
print(sa_v2(inputs).shape)
print(sa_v2(inputs))""",
    "copy_weights_v2_to_v1": """\
copy_weights_v2_to_v1(sa_v2, sa_v1)
print("Same outputs:", torch.allclose(sa_v1(inputs), sa_v2(inputs)))""",
    "CausalAttention": """\
batch = torch.stack((inputs, inputs), dim=0)
print(batch.shape)  # 2 inputs with 6 tokens each, 3 dimensions per token
torch.manual_seed(123)
context_length = batch.shape[1]
ca = CausalAttention(d_in, d_out, context_length, 0.0)
context_vecs = ca(batch)
print("context_vecs.shape:", context_vecs.shape)""",
    "MultiHeadAttentionWrapper": """\
torch.manual_seed(123)
mha = MultiHeadAttentionWrapper(d_in, d_out, context_length, 0.0, num_heads=2)
context_vecs = mha(batch)
print(context_vecs)
print("context_vecs.shape:", context_vecs.shape)  # two heads of d_out = 2 each""",
    "wrapper_with_two_dim_output": """\
torch.manual_seed(123)
two_dim = wrapper_with_two_dim_output(d_in, context_length)
print("context_vecs.shape:", two_dim(batch).shape)""",
    "MultiHeadAttention": """\
torch.manual_seed(123)
mha = MultiHeadAttention(d_in, d_out, context_length, 0.0, num_heads=2)
context_vecs = mha(batch)
print(context_vecs)
print("context_vecs.shape:", context_vecs.shape)""",
    "gpt2_attention": """\
gpt2_small = gpt2_attention("small")
print("parameters:", sum(p.numel() for p in gpt2_small.parameters()))
print(gpt2_small(torch.rand(1, 8, 768)).shape)  # 8 tokens of GPT-2 small's 768 dimensions""",
}

TOTAL = """\
## Your total

The cell below grades the whole notebook on the public checks and shows every concept and your total."""
