"""The claims table's verdicts, from tests with known outcomes."""

from sgm_mlc.metrics.significance import SeedAwareTest
from sgm_mlc.report.claims import (
    FAILS,
    HOLDS,
    NOT_MEASURED,
    NOT_SIGNIFICANT,
    beats_baseline,
    claimed_ablation_rows,
    claims_section,
    component_helps,
    order_matters,
)
from sgm_mlc.report.document import ADJUSTED_P, Comparison, ComparisonCell, Row, Section, Table

ALPHA = 0.05


def compared_row(label, mean_row, mean_reference, p_adjusted, interval, group=None):
    test = SeedAwareTest("micro_f1", mean_row, mean_reference, 3, 3, 4e-4, 4e-4, 1e-5, 4.2, p_adjusted, interval)
    comparison = Comparison(test, p_adjusted, "holm", ALPHA, "family", 2, [])
    return Row(label, {f"{ADJUSTED_P}_micro_f1": ComparisonCell(comparison, ADJUSTED_P)}, group)


def test_a_baseline_significantly_below_sgm_makes_the_claim_hold_with_the_effect_in_its_direction():
    main = Table("main", "d", "Main results on d", {}, [
        Row("sgm", {}), compared_row("br", 0.80, 0.85, 0.01, (-0.09, -0.01)),
        compared_row("lp", 0.90, 0.85, 0.01, (0.01, 0.09)), compared_row("cc", 0.84, 0.85, 0.40, (-0.05, 0.03)),
    ])
    answer = beats_baseline({"main": main}, "br")
    assert (answer.verdict, answer.detail) == (HOLDS, "Δ +0.050 [+0.010, +0.090] against br, p Holm 0.010")
    assert answer.cell().links == (("table", "#main-results-on-d"),)
    assert beats_baseline({"main": main}, "lp").verdict == FAILS
    assert beats_baseline({"main": main}, "cc").verdict == NOT_SIGNIFICANT
    without_lp = Table("main", "d", "Main results on d", {}, [Row("sgm", {}), main.rows[1]])
    assert beats_baseline({"main": without_lp}, "lp") .detail == "lp is not among run.models"
    assert beats_baseline({}, "br").verdict == NOT_MEASURED


def test_a_component_is_answered_from_the_variant_that_removes_it():
    variants = {"no_self_attention": {"self_attention": False}, "wide": {"hidden_size": 512}}
    ablations = Table("ablations", "d", "Ablations of sgm on d", {}, [
        Row("sgm (full)", {}), compared_row("sgm no_self_attention", 0.70, 0.85, 0.001, (-0.2, -0.1)),
    ])
    answer = component_helps({"ablations": ablations}, variants, {"self_attention": False}, "sgm")
    assert answer.verdict == HOLDS and answer.detail.startswith("Δ +0.150 [+0.100, +0.200] against no_self_attention")
    missing = component_helps({"ablations": ablations}, variants, {"bidirectional": False}, "sgm")
    assert missing.verdict == NOT_MEASURED and "bidirectional=false" in missing.detail
    assert claimed_ablation_rows({"model": "sgm", "variants": variants}) == {"sgm no_self_attention"}
    assert claimed_ablation_rows({"model": "seq2seq", "variants": variants}) == set()


def test_the_order_matters_when_one_order_differs_significantly():
    orders = Table("label_orders", "d", "Label orders on d", {}, [
        Row("sgm / frequency", {}, "sgm"),
        compared_row("sgm / random", 0.80, 0.85, 0.20, (-0.1, 0.0), "sgm"),
        compared_row("sgm / rare_first", 0.75, 0.85, 0.004, (-0.15, -0.05), "sgm"),
    ])
    answer = order_matters({"label_orders": orders}, "frequency")
    assert answer.verdict == HOLDS and answer.detail.startswith("rare_first vs frequency: Δ -0.100")
    assert "(the strongest of 2 orders tested)" in answer.detail
    orders.rows.pop()
    assert order_matters({"label_orders": orders}, "frequency").verdict == NOT_SIGNIFICANT
    assert order_matters({}, "frequency").verdict == NOT_MEASURED


def test_without_an_ablation_study_its_claims_are_not_measured():
    """experiments.ablations: null (no study) answers each component's claim "not measured", naming the setting."""
    main = Table("main", "d", "Main results on d", {}, [Row("sgm", {}), compared_row("br", 0.80, 0.85, 0.01, (-0.09, -0.01))])
    params = {"experiments": {"ablations": None, "significance": {"alpha": 0.05}}, "run": {"order": "frequency"}}
    claims = claims_section(params, {"d": Section("d", [main])})
    (table,) = claims.blocks[:1]
    verdicts = {row.label: row.cells["d"].text for row in table.rows}
    assert verdicts["SGM beats BR"].startswith(HOLDS)
    assert verdicts["Self-attention helps SGM"].startswith(NOT_MEASURED) and "self_attention=false" in verdicts["Self-attention helps SGM"]
