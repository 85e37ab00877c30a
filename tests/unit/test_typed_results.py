"""The typed results that cross layers: each reads back what it writes, and writes the JSON
that ``proposal.json``, ``mixmin.json`` and ``validate.json`` held before they were typed."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from raymix.config import FitConfig, SearchConfig
from raymix.proposal import mixmin, mixture_loss, propose_mixture
from raymix.proposal.confirmation import Candidate, confirmation_verdict
from raymix.proposal.mixmin import MixMinProposal
from raymix.proposal.proposer import Baseline
from raymix.proposal.verdict import ConfirmationVerdict, MeasuredCandidate

DOMAINS = ["web", "code", "books"]


def _json(data):
    return json.loads(json.dumps(data))


@pytest.fixture(scope="module")
def proposal():
    """A proposal of 16 runs of a bowl (ridge only: fast)."""
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(3), size=16)
    y = ((X - [0.5, 0.3, 0.2]) ** 2).sum(axis=1) + 3.0
    mixtures = pd.DataFrame(X, columns=DOMAINS, index=[f"run-{i}" for i in range(16)])
    return propose_mixture(mixtures, pd.Series(y, index=mixtures.index),
                           fit_config=FitConfig(regressors=["ridge"], cv_folds=3),
                           search=SearchConfig(method="simulate", draws=2_000, top_k=20))


def _verdict() -> ConfirmationVerdict:
    mixture = dict(zip(DOMAINS, [0.5, 0.3, 0.2]))
    candidates = [Candidate("proposal", "fit", mixture, 3.0, 0.1),
                  Candidate("run-3", "observed", mixture, 3.1, 0.1, observed=3.05),
                  Candidate("fit-0", "fit", mixture, 3.2, 0.1)]
    verdict = confirmation_verdict(candidates, {"proposal": [3.0, 3.02], "run-3": [3.1, 3.3]})
    return dataclasses.replace(verdict, rounds=1, seeds=2, scale={"at": "proxy"})


def test_a_verdict_writes_the_keys_proposal_json_held_and_reads_them_back():
    verdict = _verdict()
    data = verdict.to_dict()
    assert list(data) == ["winner", "winner_source", "mixture", "measured", "order",
                          "noise_std", "runner_up", "margin", "margin_beyond_noise",
                          "candidates", "rounds", "seeds", "scale"]
    measured = ["source", "mixture", "predicted", "predicted_std", "observed_at_proxy_scale",
                "measured", "measured_std", "measured_losses"]
    assert list(data["candidates"]["proposal"]) == measured + [
        "gap_to_winner", "gap_se", "beaten_beyond_noise"]
    assert list(data["candidates"]["fit-0"]) == measured  # no finished run: no gaps
    assert data["winner"] == "proposal" and data["candidates"]["run-3"]["gap_to_winner"] == \
        pytest.approx(0.19)
    assert ConfirmationVerdict.from_dict(data) == verdict
    assert ConfirmationVerdict.from_dict(_json(data)) == verdict  # through a file
    # the round's own verdict (before the sweep adds rounds, seeds, scale) has none of them
    bare = dataclasses.replace(verdict, rounds=None, seeds=None, scale=None).to_dict()
    assert list(bare)[-1] == "candidates"


def test_an_older_verdict_reads_with_what_it_lacks_as_none():
    old = ConfirmationVerdict.from_dict({"winner": "a", "candidates": {
        "a": {"source": "fit", "measured": 3.0}}})
    assert old.scale is None and not old.at_larger_scale and old.order == []
    assert old.candidates["a"] == MeasuredCandidate("fit", None, None, None, measured=3.0)
    assert old.label("a") == "a" and old.label("r2-fit-1") == "fit's candidate 2"


def test_a_baseline_writes_the_keys_proposal_json_held_and_reads_them_back(proposal):
    data = _json(proposal.to_dict())["baselines"]
    keys = ["mixture", "predicted_target_loss", "predicted_std", "predicted_gap_to_proposal",
            "gap_above_noise"]
    assert list(data["uniform"]) == keys
    assert list(data["best_observed"]) == keys + ["observed_target_loss", "run"]
    for name, base in proposal.baselines.items():
        assert Baseline.from_dict(data[name]) == base
        assert base.to_dict() == data[name]
    # at a target scale the best run's loss is the laws' extrapolation, written as such
    best = dataclasses.replace(proposal.baselines["best_observed"], extrapolated=True)
    written = best.to_dict()
    assert list(written) == keys + ["run", "extrapolated_target_loss"]
    assert Baseline.from_dict(_json(written)) == best and best.loss_kind == "extrapolated"


def test_a_proposal_keeps_its_verdict_typed_and_writes_it_as_a_dict(proposal):
    confirmed = dataclasses.replace(proposal, confirmation=_verdict())
    data = _json(confirmed.to_dict())
    assert data["confirmation"] == _json(confirmed.confirmation.to_dict())
    assert ConfirmationVerdict.from_dict(data["confirmation"]) == confirmed.confirmation


def test_mixmin_writes_what_mixmin_json_held_and_reads_it_back():
    rng = np.random.default_rng(1)
    logprobs = np.log(rng.dirichlet(np.ones(3), size=500).T)  # (domains, tokens)
    found = mixmin(logprobs, domains=DOMAINS)
    single = {d: mixture_loss(logprobs, np.eye(3)[i]) for i, d in enumerate(DOMAINS)}
    result = MixMinProposal.of(found, target="t",
                               predicted_target_loss=mixture_loss(logprobs, found.weights),
                               single_domain_target_loss=single, scored=500,
                               scored_unit="tokens", constraints={"lower": {}, "upper": {}})
    # the dict propose_mixmin wrote before it was typed
    before = {"target": "t", **found.to_dict(),
              "predicted_target_loss": mixture_loss(logprobs, found.weights),
              "single_domain_target_loss": single, "tokens_scored": 500,
              "constraints": {"lower": {}, "upper": {}}}
    assert json.dumps(result.to_dict(), indent=1) == json.dumps(before, indent=1)
    assert MixMinProposal.from_dict(_json(result.to_dict())) == result
    assert result.best_single_domain == min(single.items(), key=lambda kv: kv[1])
    items = dataclasses.replace(result, scored_unit="items")
    assert "items_scored" in items.to_dict() and "tokens_scored" not in items.to_dict()
    assert MixMinProposal.from_dict(items.to_dict()) == items


def test_a_validation_writes_what_validate_json_held_and_reads_it_back():
    from raymix.proposal.validated import GapCheck, MeasuredMixture, ValidationResult
    from raymix.workflows.validation import compare

    predictions = {"predicted_at": "the validation scale", "scale": {"params": 5e5, "tokens": 4e5},
                   "regressor": {"name": "ridge"},
                   "mixtures": {name: {"mixture": {"a": 0.5, "b": 0.5}, "predicted": value,
                                       "predicted_std": 0.01}
                                for name, value in [("proposal", 3.0), ("uniform", 3.1),
                                                    ("mine", 3.2)]}}
    result = compare(predictions, {"proposal": [3.02, 3.04], "uniform": [3.2, 3.22]})
    result.proxy_scale = {"params": 1e5, "tokens": 1e5}
    data = _json(result.to_dict())
    assert list(data) == ["predicted_at", "scale", "regressor", "mixtures", "proposal_vs",
                          "proposal_best", "ranking", "prediction_error", "proxy_scale"]
    assert list(data["mixtures"]["proposal"]) == [
        "mixture", "predicted", "predicted_std", "measured", "measured_losses",
        "measured_std", "error"]
    assert list(data["proposal_vs"]["uniform"]) == [
        "measured_gap", "predicted_gap", "noise_se", "noise_from", "significant",
        "proposal_better"]
    assert data["mixtures"]["mine"]["measured"] is None and "mine" not in data["proposal_vs"]
    back = ValidationResult.from_dict(data)
    assert back == result and isinstance(back.mixtures["mine"], MeasuredMixture)
    assert isinstance(back.proposal_vs["uniform"], GapCheck)
    assert not back.proposal_vs["uniform"].proposal_lost  # the proposal won
    # a gap of an older file, before noise_from: the seeds' noise
    old = {k: v for k, v in data["proposal_vs"]["uniform"].items() if k != "noise_from"}
    assert GapCheck.from_dict(old).noise_from == "seeds"


def test_the_search_reads_back_what_proposal_json_holds(proposal):
    from raymix.proposal import SearchResult

    data = _json(proposal.to_dict())["search"]
    back = SearchResult.from_dict(data)
    assert back.method == proposal.search.method and back.domains == DOMAINS
    np.testing.assert_allclose(back.mixture, proposal.search.mixture)
    assert _json(back.to_dict()) == data
