"""The comparison behind ``raymix validate``: errors, gaps beyond seed noise, the ranking."""

import pytest

from raymix.report.markdown import validation_markdown
from raymix.workflows.validation import compare


def _predictions(predicted: dict[str, float]) -> dict:
    return {"predicted_at": "the validation scale", "scale": {"params": 5e5, "tokens": 4e5},
            "regressor": {"name": "mixing_law"},
            "mixtures": {name: {"mixture": {"a": 0.5, "b": 0.5}, "predicted": value,
                                "predicted_std": 0.01} for name, value in predicted.items()}}


def test_a_proposal_that_wins_by_more_than_the_noise():
    predictions = _predictions({"proposal": 3.00, "uniform": 3.10, "best_observed": 3.05})
    measured = {"proposal": [3.02, 3.04], "uniform": [3.20, 3.22], "best_observed": [3.10, 3.12]}
    checked = compare(predictions, measured)
    result = checked.to_dict()
    assert result["proposal_best"] and result["ranking"]["held"]
    assert result["ranking"]["measured"] == ["proposal", "best_observed", "uniform"]
    assert result["ranking"]["spearman"] == pytest.approx(1.0)
    gap = result["proposal_vs"]["uniform"]
    assert gap["measured_gap"] == pytest.approx(0.18)
    assert gap["predicted_gap"] == pytest.approx(0.10)
    assert gap["significant"] and gap["proposal_better"]
    # measured - predicted: +0.03, +0.11, +0.06
    assert result["prediction_error"]["mae"] == pytest.approx(0.2 / 3)
    assert result["prediction_error"]["mean"] == pytest.approx(0.2 / 3)
    text = validation_markdown(checked)
    assert "Ranking held: yes" in text
    assert "the proposal beats it (beyond the noise: seeds)" in text


def test_a_gap_within_seed_noise_and_a_broken_ranking_are_reported():
    predictions = _predictions({"proposal": 3.00, "uniform": 3.10, "mine": 3.20})
    measured = {"proposal": [3.10, 3.30], "uniform": [3.05, 3.25], "mine": [3.00, 3.02]}
    checked = compare(predictions, measured)
    result = checked.to_dict()
    assert not result["proposal_best"] and not result["ranking"]["held"]
    assert result["ranking"]["measured"][0] == "mine"
    assert result["proposal_vs"]["uniform"]["significant"] is False  # 0.05 apart, std 0.14
    assert result["proposal_vs"]["mine"]["proposal_better"] is False
    text = validation_markdown(checked)
    assert "Ranking held: no" in text
    assert "- uniform: measured gap -0.0500, predicted +0.1000: neither wins" in text


def test_one_seed_is_judged_against_the_sweeps_noise_floor_or_not_at_all():
    """With one seed a mixture has no noise of its own: a gap of +0.0004 once read "the
    proposal beats it". The sweep's noise floor (its repeated mixtures) judges it, or no
    one does."""
    measured = {"proposal": [3.0000], "uniform": [3.0004], "token_proportional": [3.20]}
    predictions = _predictions({"proposal": 3.00, "uniform": 3.10, "token_proportional": 3.15})
    judged_result = compare({**predictions, "noise_floor": 0.01}, measured)
    judged = judged_result.to_dict()
    small, large = judged["proposal_vs"]["uniform"], judged["proposal_vs"]["token_proportional"]
    assert small["noise_from"] == "sweep noise floor"
    assert small["noise_se"] == pytest.approx(0.01 * 2 ** 0.5)
    assert small["significant"] is False and large["significant"] is True
    text = validation_markdown(judged_result)
    assert "uniform: measured gap +0.0004" in text and "neither wins" in text
    assert "the proposal beats it (beyond the noise: sweep noise floor)" in text
    unjudged_result = compare(predictions, measured)  # no noise floor: no verdict
    unjudged = unjudged_result.to_dict()
    assert {g["significant"] for g in unjudged["proposal_vs"].values()} == {None}
    text = validation_markdown(unjudged_result)
    assert "beats it" not in text and text.count("cannot tell: one seed each") == 2


def test_a_mixture_without_finished_runs_is_shown_as_not_run():
    predictions = _predictions({"proposal": 3.0, "uniform": 3.1})
    checked = compare(predictions, {"proposal": [3.0]})
    result = checked.to_dict()
    assert result["mixtures"]["uniform"]["measured"] is None
    assert result["proposal_vs"] == {} or "uniform" not in result["proposal_vs"]
    assert "not run" in validation_markdown(checked)
