"""The mutation harness (benchmarks/mutation): its data fits the reference, it makes enough stable mutants, and
a random sample of them, graded for real, loses points only where the concept table allows (or where
exceptions.toml says why not). The sample's seed is printed; MUTANT_SEED=N reproduces a run."""
import ast
import tomllib

import pytest

from benchmarks.mutation import annotations, prepare, reference, run
from benchmarks.mutation.__main__ import seed_from_environment
from benchmarks.mutation.mutants import generate
from benchmarks.mutation.summary import describe
from grader.catalogue import load as load_catalogue

SAMPLE = 30


@pytest.fixture(scope="module")
def prepared():
    return prepare()  # raises where the concept table or exceptions.toml do not fit the reference


def test_the_concept_table_covers_every_statement_of_the_reference(prepared):
    ref, table, _, _ = prepared
    assert set(table.concepts) == set(ref.statements)
    assert all(1 <= len(concepts) <= annotations.MAX_CONCEPTS for concepts in table.concepts.values())


def test_a_missing_annotation_and_an_ambiguous_snippet_fail_loudly(prepared):
    ref, _, _, _ = prepared
    with open(annotations.TABLE_FILE, "rb") as f:
        table = tomllib.load(f)
    ids = set(load_catalogue().concept_ids)
    del table["CausalAttention"]["self.dropout = nn.Dropout(dropout)"]
    table["CausalAttention"]["= nn.Linear("] = ["causal_mask"]
    with pytest.raises(annotations.AnnotationError) as raised:
        annotations.annotate(ref, table, ids)
    assert "has no annotation: self.dropout = nn.Dropout(dropout)" in str(raised.value)
    assert "'= nn.Linear(' matches 3 statements" in str(raised.value)


def test_at_least_300_distinct_compiling_mutants_with_stable_ids(prepared):
    ref, _, generated, _ = prepared
    mutants = generated.mutants
    assert len(mutants) >= 300
    assert len({m.id for m in mutants}) == len(mutants) == len({m.source for m in mutants})
    for mutant in mutants:
        compile(mutant.source, mutant.id, "exec")
    again = generate(reference.load())
    assert [(m.id, m.source) for m in again.mutants] == [(m.id, m.source) for m in mutants]
    operators = {m.id.split(":")[1] for m in mutants}
    assert {"drop", "swap_arguments", "change_dimension", "change_constant", "in_place_twin", "swap_name",
            "swap_attribute", "transpose_form", "function_twin", "unwrap_call"} <= operators


def test_a_mutant_may_cost_the_concepts_of_the_definitions_that_use_what_it_changed(prepared):
    _, table, generated, _ = prepared
    by_id = generated.by_id
    masked = next(m for m in by_id.values() if m.id.startswith("CausalAttention.forward:in_place_twin"))
    assert "masked_fill_" in masked.description and "masked_fill(" in masked.source
    assert table.allowed(masked.statements) == {"causal_mask", "multihead_wrapper"}
    scores = next(m for m in by_id.values() if m.id.startswith("attention_scores:"))
    assert table.allowed(scores.statements) == {"attention_scores", "context_vectors"}
    split = next(m for m in by_id.values() if m.id.startswith("MultiHeadAttention.forward:swap_arguments"))
    assert {"multihead_attention", "gpt2_sizing"} <= table.allowed(split.statements)
    dropped_with = by_id["copy_weights_v2_to_v1:drop:1"]
    assert len(dropped_with.statements) == 4  # the with statement and the three copies inside it
    assert isinstance(ast.parse(dropped_with.source), ast.Module)


def test_a_sample_of_mutants_loses_points_only_where_the_concept_table_allows():
    seed = seed_from_environment()
    print(f"MUTANT_SEED={seed}")
    result = run(size=SAMPLE, seed=seed)  # raises if the unmutated reference loses any point
    assert len(result.outcomes) == SAMPLE
    offenders = [o for o in result.outcomes if o.detected and not o.localised and o.exception is None]
    if offenders:
        pytest.fail(
            f"{len(offenders)} of {SAMPLE} sampled mutants (MUTANT_SEED={seed}) lost points outside their allowed "
            "concepts and are not in benchmarks/mutation/exceptions.toml:\n" + "\n".join(map(describe, offenders)),
            pytrace=False)
