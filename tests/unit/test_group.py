"""Training a group of proxies as one stacked model gives each proxy its solo run."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from test_proxy import MODEL, TRAIN, data  # noqa: F401  (the fixture: real text as bytes)

from raymix.training import group as group_module
from raymix.training import train_proxy
from raymix.training.group import train_group
from raymix.training.loop import ProgressClock

MIXTURES = [{"code": 0.8, "prose": 0.2}, {"code": 0.3, "prose": 0.7}, {"code": 0.5, "prose": 0.5},
            {"code": 0.1, "prose": 0.9}]
SEEDS = [0, 1, 2, 3]


def _second_diverges(monkeypatch) -> None:
    """The proxy of seed ``SEEDS[1]`` starts with weights that are not finite: it diverges
    at its group's first evaluation."""
    build = group_module.build_model

    def broken_second(model_cfg, vocab_size, seed, init_from=None):
        model = build(model_cfg, vocab_size, seed, init_from)
        if seed == SEEDS[1]:
            with torch.no_grad():
                model.model.layers[0].mlp.up_proj.weight.fill_(float("inf"))
        return model

    monkeypatch.setattr(group_module, "build_model", broken_second)


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
    _second_diverges(monkeypatch)
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


# ----------------------------------------------------------------------------- losing nothing

SHORT = dataclasses.replace(TRAIN, steps=10, eval_every=5)  # evaluations at 5 and 10


def _keys(train=SHORT, mixtures=MIXTURES[:2], seeds=SEEDS[:2]):
    return [group_module.state_key(mix, seed, MODEL, train) for mix, seed in zip(mixtures, seeds)]


def test_a_resumed_group_trains_as_it_would_have_uninterrupted(data, tmp_path,  # noqa: F811
                                                               monkeypatch):
    """10 steps straight vs 5, a checkpoint, and 5 more from it: the same models, the
    same losses (the weights, AdamW's moments, the samplers' positions all carried)."""
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    paths = [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    straight = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, SHORT, device=cpu,
                           checkpoint_to=paths)
    # the checkpoint after step 5 (none after the last step: the record follows)
    states = [group_module.load_state(p, k) for p, k in zip(paths, _keys())]
    assert [s.step for s in states] == [5, 5]
    assert [[e.step for e in s.evaluations] for s in states] == [[5], [5]]
    steps_run = []
    original = group_module.StepLoss.train_step

    def counted(self, step, *args, **kwargs):
        steps_run.append(step)
        return original(self, step, *args, **kwargs)

    monkeypatch.setattr(group_module.StepLoss, "train_step", counted)
    resumed = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, SHORT, device=cpu,
                          states=states)
    assert steps_run == list(range(5, 10))  # only the steps after the checkpoint
    for ours, theirs in zip(resumed, straight):
        assert ours.final_train_loss == pytest.approx(theirs.final_train_loss, abs=1e-5)
        assert [e.step for e in ours.evaluations] == [5, 10]
        for a, b in zip(ours.evaluations, theirs.evaluations):
            assert a.train_loss == pytest.approx(b.train_loss, abs=1e-5)
            assert a.target_loss == pytest.approx(b.target_loss, abs=1e-5)
        assert ours.tokens_seen == theirs.tokens_seen


def test_states_of_another_run_or_a_torn_file_are_not_resumed_from(data, tmp_path):  # noqa: F811
    torch.set_num_threads(1)
    paths = [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, SHORT, device=torch.device("cpu"),
                checkpoint_to=paths)
    first, second = _keys()
    assert group_module.load_state(paths[0], first).step == 5
    assert group_module.load_state(paths[0], second) is None  # another run's
    longer = _keys(dataclasses.replace(SHORT, steps=20))[0]
    assert group_module.load_state(paths[0], longer) is None  # other settings
    assert group_module.load_state(str(tmp_path / "none.pt"), first) is None
    torn = tmp_path / "torn.pt"
    torn.write_bytes((tmp_path / "a.pt").read_bytes()[:100])
    assert group_module.load_state(str(torn), first) is None
    states = [group_module.load_state(paths[0], first), None]
    assert group_module.cohorts(states) == [[0], [1]]
    with pytest.raises(ValueError, match="one step"):
        train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, SHORT, states=states)


def test_each_record_is_handed_on_as_its_model_is_done(data, tmp_path,  # noqa: F811
                                                       monkeypatch):
    """A diverging model's record at the evaluation where it fails, the others' in order
    when the loop ends, each before a later model's final model is kept."""
    torch.set_num_threads(1)
    _second_diverges(monkeypatch)
    places = [str(tmp_path / f"model{m}") for m in range(3)]
    done = []

    def on_done(m, record):
        kept = [Path(p).is_dir() for p in places]
        done.append((m, record.status, len(done_evaluations), kept))

    done_evaluations: list = []
    original = group_module._Group._record

    def counted(self, step, *args, **kwargs):
        done_evaluations.append(step)
        return original(self, step, *args, **kwargs)

    monkeypatch.setattr(group_module._Group, "_record", counted)
    records = train_group(MIXTURES[:3], SEEDS[:3], data, MODEL, SHORT,
                          device=torch.device("cpu"), save_to=places, on_done=on_done)
    # model 1 failed at the first evaluation, before the second was made
    assert done[0][:3] == (1, "failed", 1)
    # then 0 and 2 after the last evaluation, each with its own model kept, not the next's
    assert [d[:3] for d in done[1:]] == [(0, "ok", 2), (2, "ok", 2)]
    assert done[1][3] == [True, False, False] and done[2][3] == [True, False, True]
    assert [r.status for r in records] == ["ok", "failed", "ok"]


def test_a_regrouped_trial_resumes_what_it_can_and_stores_each_run_once(data,  # noqa: F811
                                                                       tmp_path):
    """A re-run sweep regroups the runs left: here one with a state at step 5 and two
    without. The trial trains them as two groups (one per step) and hands on three
    records, each once; the state's run goes on from its checkpoint."""
    from raymix.config import BASE_SCALE
    from raymix.runs import SweepLayout
    from raymix.sweep.trial import PlannedRun, TrialSettings, _ResumeStates, _train_together

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    runs = [PlannedRun(f"run-{i}", SEEDS[i], BASE_SCALE, MIXTURES[i]) for i in range(3)]
    layout = SweepLayout(tmp_path)
    before = train_group(MIXTURES[:2], SEEDS[:2], data, MODEL, SHORT, device=cpu,
                         checkpoint_to=[str(layout.resume_state(r.run_id)) for r in runs[:2]])
    layout.resume_state("run-1").unlink()  # its record was stored, say: run-1 starts over
    settings = TrialSettings(models={BASE_SCALE: MODEL}, training=SHORT, aggregator="-",
                             cpus_per_trial=1, gpus_per_trial=0, sweep_dir=str(tmp_path))
    stored = []
    resumed = _train_together(runs, data, settings, cpu, None, _ResumeStates(str(tmp_path)),
                              lambda run, record: stored.append((run.run_id, record)))
    assert resumed == 5
    assert sorted(run_id for run_id, _ in stored) == ["run-0", "run-1", "run-2"]
    records = dict(stored)
    assert [records[r].group_size for r in ("run-0", "run-1", "run-2")] == [1, 2, 2]
    for ours, theirs in zip(records["run-0"].evaluations, before[0].evaluations):
        assert ours.target_loss == pytest.approx(theirs.target_loss, abs=1e-4)
    for ours, theirs in zip(records["run-1"].evaluations, before[1].evaluations):
        assert ours.target_loss == pytest.approx(theirs.target_loss, abs=1e-4)


# ----------------------------------------------------------------------------- live results


def test_each_evaluation_and_a_heartbeat_are_handed_on_as_they_are_made(data,  # noqa: F811
                                                                        monkeypatch):
    """``on_eval``: each live model's row at each evaluation, the very row its record holds
    (none for a model failing there); ``on_progress``: the steps in order, the live models."""
    torch.set_num_threads(1)
    _second_diverges(monkeypatch)
    rows, beats = [], []
    records = train_group(MIXTURES[:3], SEEDS[:3], data, MODEL, SHORT,
                          device=torch.device("cpu"),
                          on_eval=lambda m, row: rows.append((m, row)),
                          on_progress=beats.append, progress_seconds=0)
    assert [(m, row.step) for m, row in rows] == [(0, 5), (2, 5), (0, 10), (2, 10)]
    for m in (0, 2):
        assert [row for n, row in rows if n == m] == records[m].evaluations
    assert records[1].status == "failed"
    assert [b.step for b in beats] == list(range(1, 11))  # an interval of 0: every step
    assert [b.models for b in beats] == [3] * 4 + [2] * 6  # model 1 failed at step 5
    assert all(b.steps == 10 and b.tokens_per_s > 0 for b in beats)


def test_the_progress_clock_beats_at_most_every_interval_and_once_a_step():
    beats = []
    clock = ProgressClock(beats.append, steps=100, tokens_per_step=64, start=10, seconds=0.05)
    clock.tick(11, models=2)  # too soon
    assert beats == []
    time.sleep(0.06)
    clock.tick(12, models=2)
    assert [(b.step, b.steps, b.models) for b in beats] == [(12, 100, 2)]
    # 2 steps of 64 tokens for each of 2 models, over at least 0.06 s
    assert 0 < beats[0].tokens_per_s <= 2 * 64 * 2 / 0.06
    time.sleep(0.06)
    clock.tick(12, models=2)  # the same step again: no second beat
    assert len(beats) == 1
    ProgressClock(None, 100, 64, seconds=0).tick(1, models=1)  # nobody listens: nothing


def test_a_trial_reports_each_evaluation_and_its_progress_as_they_come(data,  # noqa: F811
                                                                       monkeypatch):
    """The Tune results of a group's trial and of a solo one, in order: a heartbeat each
    step (an interval of 0), each run's "eval" at 5 and 10 before that step's heartbeat."""
    from raymix.config import BASE_SCALE
    from raymix.sweep import trial as trial_module
    from raymix.sweep.trial import PlannedRun, PlannedTrial, TrialSettings, _ResumeStates

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    reports: list[dict] = []
    monkeypatch.setattr(trial_module.tune, "report", reports.append)
    runs = [PlannedRun(f"run-{i}", SEEDS[i], BASE_SCALE, MIXTURES[i]) for i in range(3)]
    settings = TrialSettings(models={BASE_SCALE: MODEL}, training=SHORT, aggregator="-",
                             cpus_per_trial=1, gpus_per_trial=0, progress_seconds=0)

    def expected(run_ids: list[str]) -> list[tuple]:
        return [event for step in range(1, 11)
                for event in ([("eval", run_id, step) for run_id in run_ids] if step % 5 == 0
                              else []) + [("progress", len(run_ids), step)]]

    def seen() -> list[tuple]:
        return [(r["event"], r["run_id"] if r["event"] == "eval" else r["models"], r["step"])
                for r in reports]

    stored = []
    trial_module._train_together(runs, data, settings, cpu, None, _ResumeStates(None),
                                 lambda run, record: stored.append(run.run_id))
    assert seen() == expected(["run-0", "run-1", "run-2"]) and len(stored) == 3
    evals = [r for r in reports if r["event"] == "eval"]
    assert all(r["steps"] == 10 and {"tokens", "train_loss", "target_loss", "loss/code"}
               <= set(r) for r in evals)
    assert all(r["tokens_per_s"] > 0 and r["steps"] == 10 for r in reports
               if r["event"] == "progress")

    reports.clear()
    trial_module._train_alone(runs[0], data, settings, cpu, None)
    assert seen() == expected(["run-0"])
    final = trial_module._final_report(PlannedTrial((runs[0],)), [])
    assert final["event"] == "final" and final["final"] is True
