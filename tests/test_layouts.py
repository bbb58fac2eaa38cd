"""Layout-independent grading: correct attention in any common layout gets full marks, a mistake inside it is
still named, a deviation from the attribute contract costs one structure test, and an unrecognised layout costs
only the module's own concept."""
import tomllib

import pytest

from conftest import ROOT, grade_forked, solution_source
from edited_submissions import CASES, LAYOUTS, apply_edits, case_source
from grader.catalogue import load
from grader.errors import UsageError
from grader.submission import locate
from test_grade import EXPECTED, HAND_WRITTEN, assert_graded_as_expected, lost_concepts

CONTRACT_OFF = (ROOT / "grader" / "assignment.toml").read_text().replace("attribute_names = true",
                                                                          "attribute_names = false")


def grade_sources(tmp_path, sources: dict, contract: bool):
    """Grade {name: source} in one grading session; returns {name: report}."""
    config = tmp_path / "assignment.toml"
    config.write_text((ROOT / "grader" / "assignment.toml").read_text() if contract else CONTRACT_OFF)
    paths = {}
    for name, source in sources.items():
        paths[name] = tmp_path / f"{name}.py"
        paths[name].write_text(source)
    reports = grade_forked([locate(str(p)) for p in paths.values()], load(config))
    return dict(zip(paths, reports))


@pytest.fixture(scope="module")
def edited_reports(tmp_path_factory):
    return grade_sources(tmp_path_factory.mktemp("edited"), {name: case_source(name) for name in CASES},
                         contract=False)


@pytest.fixture(scope="module")
def contract_reports(tmp_path_factory):
    return grade_sources(tmp_path_factory.mktemp("contract"), {name: case_source(name) for name in LAYOUTS},
                         contract=True)


def test_every_edited_case_has_an_expectation_and_every_expectation_a_case():
    assert set(CASES) | set(HAND_WRITTEN) == set(EXPECTED)
    assert not set(CASES) & set(HAND_WRITTEN)


@pytest.mark.parametrize("name", sorted(CASES))
def test_edited_submission(edited_reports, name):
    assert_graded_as_expected(edited_reports[name], EXPECTED[name])


def test_every_misconception_of_the_attention_modules_is_named_in_both_layouts():
    for layout in ("parameter", "fused"):
        named = {EXPECTED[name]["misconceptions"][0] for name in CASES if name.startswith(layout + "__")}
        concepts = {EXPECTED[name]["lose"][0] for name in CASES if name.startswith(layout + "__")}
        assert {"unscaled_scores", "mask_includes_diagonal", "dropout_in_eval", "mask_not_buffer",
                "split_without_transpose", "missing_out_proj", "wrong_gpt2_config"} <= named
        assert {"scaled_dot_product", "causal_mask", "attention_dropout", "buffers_and_devices",
                "multihead_attention", "multihead_wrapper", "gpt2_sizing"} <= concepts


@pytest.mark.parametrize("name, lines", [
    ("parameter", ["CausalAttention: q/k/v in nn.Parameter W_query used as x @ W_query, nn.Parameter W_key used as "
                   "x @ W_key, nn.Parameter W_value used as x @ W_value, mask in self.mask",
                   "MultiHeadAttention: q/k/v in nn.Parameter W_query used as x @ W_query.T"]),
    ("fused", ["CausalAttention: q/k/v fused in qkv (order k, v, q), mask in self.mask",
               "MultiHeadAttention: q/k/v fused in qkv (order q, k, v), out projection out_proj, mask in self.mask"]),
    ("gpt", ["MultiHeadAttention: q/k/v fused in c_attn (order q, k, v), out projection c_proj, mask in self.bias"]),
    ("interleaved", ["MultiHeadAttention: q/k/v fused in qkv (order q, k, v, interleaved per head)"]),
    ("head_list", ["MultiHeadAttention: a head per module of heads, each with q/k/v in W_query, W_key, W_value, "
                   "out projection out_proj, each head's mask in self.mask"]),
    ("renamed_self_attention", ["SelfAttention_v1: q/k/v in nn.Parameter w_query used as x @ w_query, nn.Parameter "
                                "w_key used as x @ w_key, nn.Parameter w_value used as x @ w_value",
                                "SelfAttention_v2: q/k/v in W_q, W_k, W_v"]),
])
def test_the_report_names_the_layout(edited_reports, name, lines):
    report = edited_reports[name]
    for line in lines:
        assert any(layout.startswith(line) for layout in report.layouts), report.layouts


def test_the_contract_layout_is_named_as_such(edited_reports):
    assert "CausalAttention: q/k/v in W_query, W_key, W_value, mask in self.mask (the attribute contract)" in \
        edited_reports["gpt"].layouts


@pytest.mark.parametrize("name, own", [("parameter", ["causal_mask", "multihead_attention"]),
                                       ("fused", ["causal_mask", "multihead_attention"]),
                                       ("gpt", ["multihead_attention"]), ("interleaved", ["multihead_attention"]),
                                       ("head_list", ["multihead_attention"]),
                                       ("renamed_self_attention", ["self_attention_v1", "self_attention_v2"])])
def test_with_the_contract_a_layout_costs_one_structure_test_in_its_own_concept(contract_reports, name, own):
    report = contract_reports[name]
    assert lost_concepts(report) == own
    for concept in report.concepts:
        failing = [t for t in concept.tests if t.status != "passed"]
        assert len(failing) == (concept.concept.id in own)
        for test in failing:
            assert test.nodeid.endswith(("test_causal_attention_layers", "test_multihead_attention_layers_and_sizes",
                                         "test_v1_keeps_three_parameter_matrices",
                                         "test_v2_uses_linear_layers_without_bias"))
            assert "does not keep the attribute contract, which asks for" in test.message
            assert test.misconception is None


def test_the_contract_message_names_what_it_asks_for_and_what_it_found(contract_reports):
    messages = [t.message for c in contract_reports["gpt"].concepts for t in c.tests if t.status == "failed"]
    assert messages == ["MultiHeadAttention does not keep the attribute contract, which asks for W_query, W_key and "
                        "W_value as nn.Linear(d_in, d_out) layers (found q/k/v fused in c_attn (order q, k, v)); "
                        "out_proj as nn.Linear(d_out, d_out) (found c_proj); a buffer named mask (found bias)"]


# An attention module whose weights sit in one (3, d_out, d_in) tensor: no layout the grader knows.
STACKED = [
    ("""        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj""", """        self.qkv = nn.Parameter(torch.rand(3, d_out, d_in))
        self.out_proj"""),
    ("""        keys = self.W_key(x)  # (b, T, d_out)
        queries = self.W_query(x)  # (b, T, d_out)
        values = self.W_value(x)  # (b, T, d_out)

        # Split d_out""", """        queries, keys, values = (x @ w.T for w in self.qkv)  # each (b, T, d_out)

        # Split d_out"""),
]


@pytest.fixture(scope="module")
def unrecognised_reports(tmp_path_factory):
    stacked = apply_edits(solution_source(), STACKED)
    unscaled = apply_edits(stacked, [("torch.softmax(attn_scores / self.head_dim ** 0.5", "torch.softmax(attn_scores")])
    return grade_sources(tmp_path_factory.mktemp("unrecognised"), {"stacked": stacked, "stacked_unscaled": unscaled},
                         contract=False)


def test_an_unrecognised_layout_costs_only_its_own_concept(unrecognised_reports):
    report = unrecognised_reports["stacked"]
    assert lost_concepts(report) == ["multihead_attention"]
    assert report.layouts[1].startswith("MultiHeadAttention: layout not recognised (looked for W_query, W_key and "
                                        "W_value") and "qkv (3, 4, 3)" in report.layouts[1]
    skipped = [t for c in report.concepts for t in c.tests if t.status == "skipped"]
    assert skipped and {t.concept for t in skipped} <= {"causal_mask", "scaled_dot_product"}
    assert report.not_run and all(r.startswith("could not run: known weights cannot be given to MultiHeadAttention "
                                               "(looked for W_query") for r in report.not_run)
    own = next(c for c in report.concepts if c.concept.id == "multihead_attention")
    assert any(t.status == "failed" and t.message.startswith("could not run") for t in own.tests)


def test_checks_that_need_no_weights_still_judge_an_unrecognised_layout(unrecognised_reports):
    # Unscaled scores cannot be seen without known weights: only the module's own concept pays, and the
    # other concepts keep the checks that need none (future tokens, shapes, dropout in eval, the meta device).
    report = unrecognised_reports["stacked_unscaled"]
    assert lost_concepts(report) == ["multihead_attention"]
    ran = {t.nodeid.rsplit("::", 1)[1] for c in report.concepts for t in c.tests if t.status == "passed"}
    assert {"test_multihead_attention_output_shape", "test_multihead_dropout_is_off_in_eval_mode",
            "test_multihead_mask_follows_the_module_to_another_device", "test_gpt2_small"} <= ran


def test_softmax_over_the_wrong_dimension_in_self_attention_costs_its_module_only(tmp_path):
    source = apply_edits(solution_source(), [
        ("attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)\n"
         "        return attn_weights @ values  # (T, d_out)\n\n\nclass SelfAttention_v2",
         "attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=0)  # (T, T)\n"
         "        return attn_weights @ values  # (T, d_out)\n\n\nclass SelfAttention_v2")])
    report = grade_sources(tmp_path, {"v1_softmax": source}, contract=True)["v1_softmax"]
    assert lost_concepts(report) == ["self_attention_v1"]
    v1 = next(c for c in report.concepts if c.concept.id == "self_attention_v1")
    assert v1.misconceptions == ("softmax_wrong_dim",)


def test_the_contract_setting_is_validated(tmp_path):
    config = tmp_path / "assignment.toml"
    config.write_text(CONTRACT_OFF.replace("attribute_names = false", 'attribute_names = "no"'))
    with pytest.raises(UsageError, match=r"\[contract\] attribute_names must be true or false"):
        load(config)
    assert tomllib.loads(CONTRACT_OFF)["contract"] == {"attribute_names": False}
    assert load(ROOT / "grader" / "assignment.toml").attribute_contract is True
