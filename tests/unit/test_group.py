"""Training a group of proxies as one stacked model gives each proxy its solo run."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_proxy import MODEL, TRAIN, data  # noqa: F401  (the fixture: real text as bytes)

from raymix.training import group as group_module
from raymix.training import train_proxy
from raymix.training.group import train_group

MIXTURES = [{"code": 0.8, "prose": 0.2}, {"code": 0.3, "prose": 0.7}, {"code": 0.5, "prose": 0.5},
            {"code": 0.1, "prose": 0.9}]
SEEDS = [0, 1, 2, 3]


def test_a_group_of_four_trains_each_proxy_as_its_solo_run(data):  # noqa: F811
    torch.set_num_threads(1)
    group = train_group(MIXTURES, SEEDS, data, MODEL, TRAIN, device=torch.device("cpu"))
    assert [r.mixture for r in group] == MIXTURES and [r.seed for r in group] == SEEDS
    for record, mixture, seed in zip(group, MIXTURES, SEEDS):
        solo = train_proxy(mixture, data, MODEL, dataclasses.replace(TRAIN, seed=seed),
                           device=torch.device("cpu"))
        assert [e.step for e in record.evaluations] == [e.step for e in solo.evaluations]
        for ours, theirs in zip(record.evaluations, solo.evaluations):  # at every evaluation
            assert ours.target_loss == pytest.approx(theirs.target_loss, abs=2e-3)
            for domain, loss in theirs.losses.items():
                assert ours.losses[domain] == pytest.approx(loss, abs=2e-3)
        assert record.params == solo.params and record.tokens_seen == solo.tokens_seen


def test_a_diverging_proxy_fails_alone_and_the_others_are_untouched(data,  # noqa: F811
                                                                     monkeypatch):
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    calm = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN, device=cpu)
    build = group_module.build_model

    def broken_second(model_cfg, vocab_size, seed, init_from=None):
        model = build(model_cfg, vocab_size, seed, init_from)
        if seed == SEEDS[1]:  # its weights are not finite from the start: it diverges
            with torch.no_grad():
                model.model.layers[0].mlp.up_proj.weight.fill_(float("inf"))
        return model

    monkeypatch.setattr(group_module, "build_model", broken_second)
    mixed = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN, device=cpu)
    assert mixed[1].status == "failed" and "loss became nan" in mixed[1].reason
    assert mixed[1].evaluations == []
    assert mixed[0].status == "ok"
    assert mixed[0].evaluations == calm[0].evaluations  # bit for bit


@pytest.mark.parametrize("changes", [{"micro_batch_size": 2}, {"loss": "chunked"}])
def test_micro_batches_and_the_chunked_loss_train_the_same_group(data, changes):  # noqa: F811
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    whole = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN, device=cpu)
    other = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL,
                        dataclasses.replace(TRAIN, **changes), device=cpu)
    for ours, theirs in zip(other, whole):
        assert ours.micro_batch_size == changes.get("micro_batch_size", TRAIN.batch_size)
        assert ours.loss == changes.get("loss", "plain") and ours.group_size == 2
        for a, b in zip(ours.evaluations, theirs.evaluations):
            assert a.target_loss == pytest.approx(b.target_loss, abs=1e-3)


def test_a_group_keeps_each_final_model_and_its_target_logprobs(data, tmp_path):  # noqa: F811
    torch.set_num_threads(1)
    from transformers import LlamaForCausalLM

    # a target corpus of its own, as MixMin's sweeps have
    data = dataclasses.replace(data, valid={**data.valid, "held_out": data.valid["prose"]},
                               target_name="held_out", target_weights={"held_out": 1.0})
    places = [str(tmp_path / "a"), None]
    records = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN,
                          device=torch.device("cpu"), save_to=places, target_logprobs=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    kept = LlamaForCausalLM.from_pretrained(places[0])
    solo_of_first = train_proxy(MIXTURES[0], data, MODEL, dataclasses.replace(TRAIN, seed=0),
                                device=torch.device("cpu"), target_logprobs=True)
    assert kept.config.hidden_size == MODEL.hidden
    assert len(records[0].target_logprobs) == len(solo_of_first.target_logprobs)
    assert sum(records[0].target_logprobs) == pytest.approx(sum(solo_of_first.target_logprobs),
                                                            rel=1e-3)


def test_each_proxy_of_a_group_can_train_at_its_own_learning_rate(data):  # noqa: F811
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    rates = [TRAIN.lr, TRAIN.lr / 4]
    group = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN, device=cpu,
                        learning_rates=rates)
    for record, mixture, seed, lr in zip(group, MIXTURES, SEEDS, rates):
        solo = train_proxy(mixture, data, MODEL, dataclasses.replace(TRAIN, seed=seed, lr=lr),
                           device=cpu)
        for ours, theirs in zip(record.evaluations, solo.evaluations):
            assert ours.target_loss == pytest.approx(theirs.target_loss, abs=2e-3)
    same = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, TRAIN, device=cpu)
    # a quarter of the rate trains the second proxy measurably less far
    assert group[1].final_target_loss > same[1].final_target_loss + 0.01
    for ours, theirs in zip(group[0].evaluations, same[0].evaluations):  # the base rate's
        assert ours.target_loss == pytest.approx(theirs.target_loss, abs=1e-5)
