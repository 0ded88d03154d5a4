"""A case of one's own in the report: not assessed, its observed kind still shown."""

from __future__ import annotations

from singdyn.report import case_verdict, write_report

COUNTS = {
    "overlap": 2,
    "cross_elimination": 0,
    "fast_convergence": 0,
    "near_elimination": 0,
    "output_weight_zero": 0,
    "other": 3,
}


def _own_case(**extra) -> dict:
    return {
        "name": "my_case",
        "title": "My case",
        "paper_claim": "Stalls where [a, b] is near the line.",
        "final_excess_loss": 1e-4,
        "observed_pattern": "overlap",
        **extra,
    }


def test_own_case_is_not_assessed_but_names_the_observed_kind_and_counts():
    verdict = case_verdict(_own_case(pattern_counts=COUNTS))
    assert (verdict.verdict, verdict.rule) == ("not assessed", "none")
    assert "no paper claim" in verdict.reason.lower()
    assert "our run shows overlap" in verdict.reason
    assert (
        "over 5 seeds: other 3, overlap 2" in verdict.reason
    )  # kinds seen, most first


def test_own_case_without_a_sweep_names_the_observed_kind():
    verdict = case_verdict(_own_case())
    assert verdict.verdict == "not assessed"
    assert verdict.reason.endswith("our run shows overlap.")


def test_nothing_measured_is_still_nothing_to_judge():
    verdict = case_verdict({"name": "my_case"})
    assert verdict.reason == "The summary holds nothing to judge it by."


def test_page_shows_the_observed_kind_in_the_overview_and_the_section(tmp_path):
    summary = {
        "cases": [_own_case(pattern_counts=COUNTS, pattern_seeds=[0, 1, 2, 3, 4])]
    }
    page = write_report(tmp_path, summary).read_text()
    header, _, sections = page.partition('<section class="case"')
    for part in (header, sections):
        assert "not assessed" in part
        assert "our run shows overlap; over 5 seeds: other 3, overlap 2." in part
    assert "Seed sweep: the kind of dynamics over 5 seeds" in sections
    assert "Stalls where [a, b] is near the line." in page
