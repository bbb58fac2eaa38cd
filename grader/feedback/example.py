"""The public example every picture is drawn on, and the requests that record a student's matrices on it.

The book's six tokens, "Your journey starts with one step", read back exactly: x is the 6x6 identity (one-hot
tokens), so x @ W.T reads W's columns. Query and key weights are the book's embeddings padded with zeros, so
the scores are the book's (inputs @ inputs.T), and value weights are the identity, so a module's output is its
attention-weight matrix itself. Nothing of a hidden test is used here: the example ships in the release.
"""
import torch

from grader.catalogue import registry
from grader.checks import Weights, weights_problem
from grader.layouts import layout_of
from grader.probes import BOOK_INPUTS
from grader.results import Matrix, Picture

TOKENS = ("Your", "journey", "starts", "with", "one", "step")
T = len(TOKENS)
PADDED = torch.cat([BOOK_INPUTS, torch.zeros(T, T - BOOK_INPUTS.shape[1])], dim=1)  # (T, T): embeddings, zero-padded
ONE_HOT = torch.eye(T).unsqueeze(0)  # (1, T, T): token i is the i-th unit vector
HEAD_SHARPNESS = (1.0, 2.0)  # the second head's queries are doubled, so that two heads attend differently
DROPOUT = 0.5
TRAINING_SEED = 7


def head_weights(head: int = 0) -> Weights:
    """nn.Linear-layout (d_out, d_in) weights: queries = sharpness x embedding, keys = embedding, values = x."""
    return Weights(query=(HEAD_SHARPNESS[head] * PADDED).T, key=PADDED.T, value=torch.eye(T))


def two_head_weights() -> Weights:
    """MultiHeadAttention(6, 12, num_heads=2): head h's rows are head_weights(h)'s, out_proj is the identity."""
    heads = [head_weights(h) for h in range(2)]
    return Weights(*(torch.cat([getattr(w, role) for w in heads]) for role in ("query", "key", "value")),
                   out_proj=(torch.eye(2 * T), torch.zeros(2 * T)))  # each (2T, T); out_proj (2T, 2T)


def matrix(tensor: torch.Tensor) -> Matrix:
    """A (T, T) matrix as plain numbers, rounded (read in one call: a tensor's values one by one cost more)."""
    return tuple(tuple(round(v, 6) for v in row) for row in tensor.detach().cpu().double().tolist())


class NotDrawable(Exception):
    """The student's code ran but gave nothing a picture can show."""


def student_matrix(output, shape: tuple[int, ...], what: str) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise NotDrawable(f"{what} returned no tensor")
    if tuple(output.shape) != shape:
        raise NotDrawable(f"{what} gave shape {tuple(output.shape)}, not {shape}")
    return output.detach().cpu().double()


def drawn(student, name, *args, weights, runs, shape, **kwargs) -> list[torch.Tensor]:
    """Build one of the student's classes with known weights and run it once per (inputs, training, seed), in one
    picture's request; returns each output, checked to have `shape`."""
    handle = student.build(name, *args, weights=weights, runs=runs, picture=True, **kwargs)
    if handle.loaded["missing"] or handle.loaded["mismatched"]:
        raise NotDrawable(f"{name}: {weights_problem(handle.loaded)}")
    return [student_matrix(output, shape, f"{name}(x)") for output in handle.outputs]


# --- one recorder per concept: (label, student matrix, other matrix) triples -------------------------------

def attention_weights(student):
    scores = BOOK_INPUTS @ BOOK_INPUTS.T  # (T, T): the book's scores
    expected = torch.softmax(scores, dim=-1)
    return [("attention_weights(scores)", lambda: student_matrix(student.call("attention_weights", scores, picture=True),
                                                                  (T, T), "attention_weights(scores)"), expected)]


def scaled_dot_product(student):
    """SelfAttention_v1, where the book scales first, and MultiHeadAttention's first head, which scales by head_dim."""
    weights = head_weights()
    expected = weights.reference(ONE_HOT[0])  # (T, T)

    def draw():
        return drawn(student, "SelfAttention_v1", T, T, weights=layout_of(student, "SelfAttention_v1").values(weights),
                     runs=[((ONE_HOT[0],), False, 0)], shape=(T, T))[0]
    return [("SelfAttention_v1", draw, expected), multihead_attention(student)[0]]


def _causal(student, dropout, runs):
    layout = layout_of(student, "CausalAttention")
    outputs = drawn(student, "CausalAttention", T, T, T, dropout, weights=layout.values(head_weights()), runs=runs,
                    shape=(1, T, T))
    return [output[0] for output in outputs]  # each (T, T)


def causal_mask(student):
    expected = head_weights().reference(ONE_HOT, causal=True)[0]  # (T, T)
    return [("CausalAttention", lambda: _causal(student, 0.0, [((ONE_HOT,), False, 0)])[0], expected)]


def attention_dropout(student):
    """No fixed expected matrix: the module's eval-mode weights beside its training-mode ones (one request)."""
    pair = _shared(lambda: _causal(student, DROPOUT, [((ONE_HOT,), False, 0), ((ONE_HOT,), True, TRAINING_SEED)]))
    return [(f"CausalAttention, dropout {DROPOUT:g}", pair(0), pair(1))]


def multihead_wrapper(student):
    expected = [head_weights(h).reference(ONE_HOT, causal=True)[0] for h in range(2)]  # each (T, T)

    def draw():
        layout = layout_of(student, "CausalAttention")
        required, optional = {}, {}
        for h in range(2):
            head_required, head_optional = layout.values(head_weights(h), prefix=f"heads.{h}.")
            required.update(head_required)
            optional.update(head_optional)
        return _two_heads(student, "MultiHeadAttentionWrapper", T, T, weights=(required, optional))
    return _per_head("MultiHeadAttentionWrapper", draw, expected)


def multihead_attention(student):
    weights = two_head_weights()
    expected_both = weights.reference(ONE_HOT, causal=True, num_heads=2)[0]  # (T, 2T): out_proj is the identity
    expected = [expected_both[:, :T], expected_both[:, T:]]

    def draw():
        layout = layout_of(student, "MultiHeadAttention")
        return _two_heads(student, "MultiHeadAttention", T, 2 * T, weights=layout.values(weights, 2))
    return _per_head("MultiHeadAttention", draw, expected)


def _two_heads(student, name, d_in, d_out, weights) -> list[torch.Tensor]:
    """A two-head module's output on the example, split into its heads' (T, T) weights (values and out_proj are
    the identity, so its (T, 2T) output is the heads' weights side by side)."""
    (both,) = drawn(student, name, d_in, d_out, T, 0.0, num_heads=2, weights=weights, runs=[((ONE_HOT,), False, 0)],
                    shape=(1, T, 2 * T))
    return [both[0, :, :T], both[0, :, T:]]


def _shared(draw):
    """Getters for the parts of what draw() returns, calling it once (a failure too) when a part is asked for."""
    drawn = []

    def part(i):
        def get():
            if not drawn:
                try:
                    drawn.append(draw())
                except Exception as exc:  # noqa: BLE001 - each part reports the one failure
                    drawn.append(exc)
            if isinstance(drawn[0], Exception):
                raise drawn[0]
            return drawn[0][i]
        return get
    return part


def _per_head(name, draw, expected):
    heads = _shared(draw)  # one request for both heads
    return [(f"{name}, head {h + 1}", heads(h), expected[h]) for h in range(2)]


# One recorder for each concept whose registry entry has pictures, named as the concept.
RECORDERS = {recorder.__name__: recorder for recorder in (attention_weights, scaled_dot_product, causal_mask,
                                                          attention_dropout, multihead_wrapper, multihead_attention)}


def record(student, concept: str, explain) -> list[Picture]:
    """The concept's pictures for this student (none for a concept without any).

    Each recorder gives (label, draw, other): draw() asks the student's code for its matrix, other is the
    expected matrix or, for dropout, a getter for the student's own training-mode one. `explain(exc)` turns
    what the student's code raised into the problem a picture states instead of a matrix.
    """
    other_is = registry().concept(concept).pictures
    if other_is is None:
        return []
    try:
        panels = RECORDERS[concept](student)
    except Exception as exc:  # noqa: BLE001 - no expected side (a release without this example stored): say why
        return [Picture(concept, concept, TOKENS, None, (), other_is, explain(exc))]
    pictures = []
    for label, draw, other in panels:
        try:
            if callable(other):
                other = other()
            pictures.append(Picture(concept, label, TOKENS, matrix(draw()), matrix(other), other_is))
        except Exception as exc:  # noqa: BLE001 - any failure of the student's code: a picture saying why
            drawn_other = () if callable(other) else matrix(other)
            pictures.append(Picture(concept, label, TOKENS, None, drawn_other, other_is, explain(exc)))
    return pictures
