"""``raymix plan``: what a sweep will cost, checked against the model, the plan and the
memory estimate it comes from; and the command on every shipped config."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY

from raymix.cli.commands import main
from raymix.config import ModelConfig, parse_config
from raymix.config.counts import flops_per_token, non_embedding_params
from raymix.errors import ConfigError, UserError
from raymix.sweep.plan import planned_runs
from raymix.training import build_model, check_memory
from raymix.training.memory import GIB, training_memory_bytes
from raymix.training.model import count_parameters
from raymix.workflows import rates
from raymix.workflows.confirmation import runs_per_round
from raymix.workflows.costing import (
    ASSUMED_MFU,
    H100_BF16_FLOPS,
    cost_preview,
)
from raymix.workflows.rates import read_measurements
from raymix.workflows.validation import planned_validation_runs

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "jobs" / "configs").glob("*.yaml"))
SHAPE = {"layers": 2, "hidden": 64, "heads": 4, "intermediate": 256, "seq_len": 128}


def config(**sections):
    """TINY with whole sections replaced or updated (``scales`` and ``validate`` replaced)."""
    raw = json.loads(json.dumps(TINY))
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(raw.get(name), dict):
            raw[name].update(values)
        else:
            raw[name] = values
    return parse_config(raw)


@pytest.fixture
def measured(tmp_path):
    """A speed file of two CPU shapes, as bench/bench_gpu_proxy.py writes rows."""
    rows = [{"device": "x86_64 CPU", "model": {**SHAPE, "vocab_size": 512},
             "tokens_per_s": 10_000.0, "mfu": None},
            {"device": "x86_64 CPU", "model": {**SHAPE, "hidden": 512, "intermediate": 2048,
                                               "heads": 8, "vocab_size": 512},
             "tokens_per_s": 900.0},
            {"device": "NVIDIA H100 80GB HBM3", "model": {**SHAPE, "vocab_size": 512},
             "tokens_per_s": 150_000.0}]
    path = tmp_path / "speed.json"
    path.write_text(json.dumps({"rows": rows}))
    return path


# ----------------------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("shape, vocab", [((1, 32, 2, 64, 64), 512),
                                          ((10, 768, 8, 1536, 2048), 50432)])
def test_flops_per_token_is_six_n_plus_attention_from_the_built_model(shape, vocab):
    cfg = config(model=dict(zip(("layers", "hidden", "heads", "intermediate", "seq_len"),
                                shape)), data={"tokenizer": {"vocab_size": vocab}})
    m = cfg.model
    with torch.device("meta"):
        model = build_model(m, vocab, seed=0)
    # every weight in a matrix product: the linear layers, the (tied) output layer once
    linear = {id(mod.weight): mod.weight.numel() for mod in model.modules()
              if isinstance(mod, torch.nn.Linear)}
    assert model.lm_head.weight is model.get_input_embeddings().weight
    n = sum(linear.values())
    norms = sum(p.numel() for name, p in model.named_parameters() if "norm" in name)
    assert n == count_parameters(model)["params"] - norms
    assert flops_per_token(m, vocab) == 6 * n + 12 * m.layers * m.hidden * m.seq_len

    base = cost_preview(cfg).proxies[0]
    assert base.flops_per_token == 6 * n + 12 * m.layers * m.hidden * m.seq_len
    assert base.matmul_params == n
    assert base.params == count_parameters(model)["params"]
    assert base.non_embedding_params == non_embedding_params(m)


def test_a_run_is_its_training_tokens_plus_evaluation_at_a_third():
    cfg = config()
    t, m = cfg.training, cfg.model
    base = cost_preview(cfg).proxies[0]
    assert base.train_tokens == t.steps * t.batch_size * m.seq_len
    # 3 evaluations x (3 domains + the target corpus) x eval_tokens // seq_len windows
    assert base.eval_tokens == len(t.eval_steps) * 4 * (t.eval_tokens // m.seq_len) * m.seq_len
    assert base.flops == pytest.approx(base.flops_per_token * (base.train_tokens
                                                               + base.eval_tokens / 3))


# ----------------------------------------------------------------------------- runs


@pytest.mark.parametrize("sections", [
    {},
    {"scales": [{"name": "s", "hidden": 16, "intermediate": 32, "mixtures": 5},
                {"name": "l", "hidden": 64, "intermediate": 128}]},
    {"mixtures": {"strategy": "bayesopt", "initial_runs": 4, "repeats": 3, "repeat_seeds": 2}},
    {"confirm": {"rounds": 2, "candidates": 2, "observed": 1, "seeds": 3}},
    {"confirm": {"rounds": 1, "hidden": 64, "intermediate": 128, "steps": 60},
     "validate": {"seeds": 3, "mixtures": {"mine": {"code": 1.0}}}},
], ids=["repeats", "scales", "adaptive", "rounds", "larger-confirm"])
def test_run_counts_are_the_sweeps(sections):
    cfg = config(**sections)
    preview = cost_preview(cfg)
    sweep, validate = preview.commands
    groups = [g for g in preview.groups if g.command == sweep.command]
    trained = [g for g in groups if not g.what.startswith("confirmation")]
    assert sum(g.runs for g in trained) == planned_runs(cfg)
    mixtures = next(g for g in groups if g.what == "mixtures")
    assert mixtures.runs == cfg.mixtures.count
    repeats = [g for g in groups if g.what.startswith("repeats")]
    assert sum(g.runs for g in repeats) == cfg.mixtures.repeats * cfg.mixtures.repeat_seeds
    for scale in cfg.scales:
        group = next(g for g in groups if g.size == scale.name)
        assert group.runs == (scale.mixtures or cfg.mixtures.count)
    rounds = [g for g in groups if g.what.startswith("confirmation")]
    assert len(rounds) == cfg.confirm.rounds
    assert all(g.runs == runs_per_round(cfg) and g.at_most for g in rounds)
    assert {g.size for g in rounds} <= {"confirm" if cfg.confirm.changes_scale() else "base"}
    assert sweep.runs == planned_runs(cfg) + cfg.confirm.rounds * runs_per_round(cfg)
    assert validate.runs == planned_validation_runs(cfg)
    for command in preview.commands:
        mine = [g for g in preview.groups if g.command == command.command]
        assert command.flops == pytest.approx(sum(g.flops for g in mine))
        sizes = {p.size: p for p in preview.proxies}
        assert all(g.flops == pytest.approx(g.runs * sizes[g.size].flops) for g in mine)


def test_validation_runs_are_the_proposal_baselines_and_your_own():
    cfg = config(validate={"seeds": 2, "mixtures": {"mine": {"code": 1.0}}},
                 scales=[{"name": "s", "hidden": 16, "intermediate": 32}])
    # proposal, uniform, token-proportional, best observed, the base proxies' own, mine
    assert planned_validation_runs(cfg) == 6 * 2


def test_per_domain_trains_one_proxy_per_domain_and_no_confirmation():
    cfg = config(mixtures={"draw": "per_domain"})
    groups = cost_preview(cfg).groups
    assert next(g for g in groups if g.what == "mixtures").runs == len(cfg.domain_names)
    assert not any(g.what.startswith("confirmation") for g in groups)


# ----------------------------------------------------------------------------- memory


def test_auto_micro_batch_is_the_largest_divisor_that_fits():
    shape = {**SHAPE, "layers": 4, "hidden": 256, "intermediate": 1024, "seq_len": 512}
    cfg = config(model=shape, training={"batch_size": 48, "micro_batch_size": "auto"},
                 compute={"gpus_per_trial": 0.25, "gpu_memory_gb": 4})
    base = cost_preview(cfg).proxies[0]
    budget = 0.25 * 4
    assert 48 % base.micro_batch == 0 and 1 < base.micro_batch < 48
    assert base.memory_gib <= budget and base.fits
    assert base.memory_gib * GIB == pytest.approx(training_memory_bytes(
        cfg.model, base.micro_batch, 512, gpu=True, loss=cfg.training.loss), abs=1)
    larger = [d for d in range(base.micro_batch + 1, 49) if 48 % d == 0]
    assert all(training_memory_bytes(cfg.model, d, 512, gpu=True, loss=cfg.training.loss)
               > budget * GIB for d in larger)
    assert base.per_gpu_by_memory == math.floor(4 / base.memory_gib)


def test_a_proxy_too_big_is_flagged_as_the_sweep_would_refuse_it():
    big = {"layers": 8, "hidden": 512, "heads": 8, "intermediate": 2048}
    cfg = config(validate=big, compute={"memory_per_trial_gb": 0.3})
    preview = cost_preview(cfg)
    sizes = {p.size: p for p in preview.proxies}
    assert sizes["base"].fits and not sizes["validate"].fits
    with pytest.raises(ConfigError) as refused:
        check_memory(cfg)
    assert preview.refusal.field == refused.value.field == "validate"
    assert preview.to_dict()["refusal"] == {"field": "validate",
                                            "problem": refused.value.problem}


# ----------------------------------------------------------------------------- time


def test_time_is_flops_at_the_nearest_measured_rate(measured, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local cluster: compute.num_cpus
    cfg = config(model=SHAPE, compute={"num_cpus": 4, "cpus_per_trial": 2})
    preview = cost_preview(cfg, throughput=measured)
    rate = 10_000.0 * flops_per_token(ModelConfig(**SHAPE), 512)
    base = preview.proxies[0]
    assert base.rate == pytest.approx(rate)
    assert base.seconds == pytest.approx(base.flops / rate)
    assert "speed.json" in base.rate_from and "10,000 tokens/s" in base.rate_from
    sweep = preview.commands[0]
    # CPU-hours: every run's time on cpus_per_trial CPUs; wall: 2 trials at once on 4 CPUs
    assert sweep.device_hours == pytest.approx(sweep.runs * base.seconds * 2 / 3600)
    (wall,) = sweep.wall
    assert wall["slots"] == 2
    assert wall["seconds"] == pytest.approx(sweep.runs * base.seconds / 2)

    bigger = config(model={**SHAPE, "hidden": 384, "intermediate": 1536, "heads": 8})
    far = cost_preview(bigger, throughput=measured).proxies[0]
    assert "900 tokens/s" in far.rate_from  # the nearer shape in FLOPs per token


def test_gpu_sweeps_share_a_gpus_rate_and_give_wall_times_per_gpu_count(measured):
    cfg = config(model=SHAPE, compute={"gpus_per_trial": 0.25})
    preview = cost_preview(cfg, throughput=measured)
    base = preview.proxies[0]
    assert base.rate == pytest.approx(150_000.0 * base.flops_per_token)
    sweep = preview.commands[0]
    assert sweep.device_hours == pytest.approx(sweep.runs * base.seconds / 3600)
    assert [(w["gpus"], w["slots"]) for w in sweep.wall] == [(1, 4), (8, 32)]
    one, eight = sweep.wall
    assert one["seconds"] == pytest.approx(sweep.runs * base.seconds)  # 4 share one GPU
    assert eight["seconds"] == pytest.approx(max(sweep.runs * base.seconds / 8, base.seconds))
    assert sweep.device_hours_at_assumed_mfu == pytest.approx(
        sweep.flops / (ASSUMED_MFU * H100_BF16_FLOPS) / 3600)


def test_without_a_measurement_gpu_time_is_at_an_assumed_mfu(tmp_path, monkeypatch):
    monkeypatch.setattr(rates, "MEASURED_RATES", tmp_path)  # nothing measured
    gpu = cost_preview(config(compute={"gpus_per_trial": 0.5}))
    assert not gpu.rate["measured"] and "assumed" in gpu.rate["assumed"]
    assert gpu.proxies[0].rate == ASSUMED_MFU * H100_BF16_FLOPS
    cpu = cost_preview(config())
    assert cpu.proxies[0].seconds is None and cpu.commands[0].device_hours is None


def test_the_benchmark_results_in_the_repository_are_read():
    """bench/bench_proxy_speed.py's files: one shape, the median of the repeats; the
    vocabulary from the config they name (the GPU one's is not in the repository)."""
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    (cpu,) = read_measurements(results / "proxy_speed.json")
    raw = json.loads((results / "proxy_speed.json").read_text())
    assert not cpu.gpu and cpu.vocab_size == 2048 and cpu.vocab_from == raw["config"]
    assert cpu.tokens_per_s == statistics.median(raw["raymix_tokens_per_s"])
    (gpu,) = read_measurements(results / "proxy_speed_gpu.json")
    assert gpu.gpu and gpu.vocab_size == 2048 and "assumed" in gpu.vocab_from


def test_the_shipped_measurements_are_the_benchmarks_with_their_vocabulary():
    """raymix/workflows/measured_rates (package data) holds bench/publish_rates.py's copies:
    the same speeds, the CPU one's vocabulary recorded from the config it names."""
    results = Path(__file__).resolve().parents[2] / "bench" / "results"
    for name in ("proxy_speed.json", "proxy_speed_gpu.json"):
        (shipped,) = read_measurements(rates.MEASURED_RATES / name)
        (measured,) = read_measurements(results / name)
        assert shipped.tokens_per_s == measured.tokens_per_s
        assert (shipped.model, shipped.vocab_size) == (measured.model, measured.vocab_size)
    (cpu,) = rates.default_measurements(gpu=False)
    assert cpu.vocab_from == "recorded"
    assert cpu.file.endswith("raymix/workflows/measured_rates/proxy_speed.json")


@pytest.mark.parametrize("text", ["not json", '{"device": "cpu"}', "[1, 2]",
                                  '{"rows": [{"model": {"layers": 2}, "tokens_per_s": 5}]}'])
def test_a_file_without_a_measurement_is_refused(tmp_path, text):
    path = tmp_path / "speed.json"
    path.write_text(text)
    with pytest.raises(UserError) as refused:
        cost_preview(config(), throughput=path)
    assert refused.value.field == "throughput"


def test_rows_of_raymix_alone_or_of_as_many_proxies_as_a_gpu_packs_are_used(tmp_path):
    """bench/bench_gpu_proxy.py's rows: a bare loop and one process of several sharing the
    GPU are left out; a packed sweep takes the aggregate of that many proxies."""
    gpu = "NVIDIA H100 80GB HBM3"
    shape = {**SHAPE, "vocab_size": 512}
    rows = [{"name": "raymix, auto", "runner": "raymix train_proxy", "device": gpu,
             "model": shape, "asked": {"loss": "auto"}, "tokens_per_s": 100_000.0},
            {"name": "raymix, plain", "runner": "raymix train_proxy", "device": gpu,
             "model": shape, "asked": {"loss": "plain"}, "tokens_per_s": 120_000.0},
            {"name": "bare PyTorch loop", "runner": "bare", "device": gpu, "model": shape,
             "tokens_per_s": 500_000.0},
            {"name": "4 proxies sharing the device: #0", "runner": "raymix train_proxy",
             "device": gpu, "model": shape, "tokens_per_s": 60_000.0},
            {"name": "4 proxies sharing the device: aggregate", "processes": 4,
             "runner": "4 x raymix train_proxy", "device": gpu, "model": shape,
             "tokens_per_s": 240_000.0},
            {"name": "failed", "device": gpu, "model": shape, "tokens_per_s": 1.0,
             "error": "CUDA out of memory"}]
    path = tmp_path / "gpu_proxy.json"
    path.write_text(json.dumps({"device": gpu, "rows": rows}))
    assert {m.name for m in read_measurements(path)} == {
        "raymix, auto", "raymix, plain", "4 proxies sharing the device: aggregate"}
    alone = cost_preview(config(model=SHAPE, compute={"gpus_per_trial": 1}), throughput=path)
    assert "raymix, auto" in alone.proxies[0].rate_from  # raymix's own choices first
    packed = cost_preview(config(model=SHAPE, compute={"gpus_per_trial": 0.25}),
                          throughput=path)
    assert packed.proxies[0].rate == pytest.approx(240_000.0 * flops_per_token(
        ModelConfig(**SHAPE), 512))


def test_a_measurement_of_the_other_device_is_refused(tmp_path):
    path = tmp_path / "speed.json"
    path.write_text(json.dumps({"rows": [{"device": "x86_64 CPU", "model": SHAPE,
                                          "tokens_per_s": 5.0}]}))
    with pytest.raises(UserError, match="no GPU measurement"):
        cost_preview(config(compute={"gpus_per_trial": 1}), throughput=path)


# ----------------------------------------------------------------------------- the command


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_plan_works_on_every_shipped_config(path, capsys):
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "raymix sweep" in out and "raymix validate" in out and "wall time" in out
    assert main(["plan", str(path), "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["refusal"] is None
    sweep = preview["commands"][0]
    assert sweep["command"] == "raymix sweep" and sweep["runs"] > 0 and sweep["flops"] > 0
    assert all(p["fits"] is not False for p in preview["proxies"])


def test_plan_prints_the_table_and_refuses_a_proxy_too_big(tmp_path, capsys):
    raw = json.loads(json.dumps(TINY))
    raw["model"] = {**raw["model"], "layers": 8, "hidden": 512, "heads": 8,
                    "intermediate": 2048}
    raw["compute"] = {"gpus_per_trial": 0.25, "gpu_memory_gb": 0.5}
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(raw))
    before = sorted(tmp_path.rglob("*"))
    assert main(["plan", str(tmp_path / "big.yaml")]) == 2
    out, err = capsys.readouterr()
    assert "TOO BIG" in out and "REFUSED" in out
    assert err.count("\n") == 1 and err.startswith("raymix: error: config field 'model'")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_a_gpu_proxy_far_larger_than_the_measured_one_is_timed_at_the_assumed_mfu():
    """A tiny proxy on a GPU is launch-bound: its FLOP rate says nothing of RegMix's."""
    cfg = parse_config({**TINY, "data": {**TINY["data"], "tokenizer": {"vocab_size": 50432}},
                        "model": {"layers": 2, "hidden": 256, "heads": 8, "intermediate": 512,
                                  "seq_len": 2048},
                        "compute": {"gpus_per_trial": 0.25, "gpu_memory_gb": 80}})
    preview = cost_preview(cfg, throughput=rates.MEASURED_RATES / "proxy_speed_gpu.json")
    assert preview.proxies[0].rate == ASSUMED_MFU * H100_BF16_FLOPS
    assert any("is not used" in note for note in preview.notes)


def test_stacked_groups_are_priced_at_a_measured_group_or_say_the_assumption(tmp_path):
    """compute.models_per_trial > 1: a trial's group is timed at a measured group of its
    size and shape (the group's tokens/s), else at one proxy's rate, said so."""
    gpu = "NVIDIA H100 80GB HBM3"
    shape = {**SHAPE, "vocab_size": 512}
    rows = [{"name": "one proxy", "runner": "raymix train_proxy", "device": gpu,
             "model": shape, "tokens_per_s": 100_000.0},
            {"name": "a group of 8", "runner": "raymix train_group", "device": gpu,
             "model": shape, "group_size": 8, "tokens_per_s": 400_000.0}]
    path = tmp_path / "gpu_proxy.json"
    path.write_text(json.dumps({"device": gpu, "rows": rows}))
    per_token = flops_per_token(ModelConfig(**SHAPE), 512)

    def preview(models_per_trial):
        return cost_preview(config(model=SHAPE, compute={
            "gpus_per_trial": 1, "gpu_memory_gb": 80, "models_per_trial": models_per_trial}),
            throughput=path)

    solo = preview(1)  # a group's measurement says nothing of one proxy
    assert solo.proxies[0].rate == pytest.approx(100_000.0 * per_token)
    assert "group_size" not in solo.to_dict()["proxies"][0]
    assert not any("models_per_trial" in note for note in solo.notes)

    eight = preview(8)
    base = eight.proxies[0]
    assert base.group_size == 8 and eight.to_dict()["proxies"][0]["group_size"] == 8
    assert base.rate == pytest.approx(400_000.0 * per_token)
    assert "a group of 8" in base.rate_from
    assert any("timed at a measured group of 8" in note for note in eight.notes)
    # the group shares the trial's memory: each model at its own micro-batch, 8 of them
    one = training_memory_bytes(ModelConfig(**SHAPE), base.micro_batch, 512, gpu=True,
                                loss="auto") / GIB
    assert base.memory_gib == pytest.approx(8 * one)
    # a wave lasts at least one group's time: 8 runs together
    sweep = eight.commands[0]
    assert all(w["seconds"] >= 8 * base.seconds - 1e-9 for w in sweep.wall)

    four = preview(4)  # no group of 4 measured: one proxy's rate, and the plan says so
    assert four.proxies[0].rate == pytest.approx(100_000.0 * per_token)
    assert any("no measurement of a group of 4" in note and "assumed" in note
               for note in four.notes)


def test_an_auto_group_is_no_larger_than_the_runs_and_slots_give_it():
    """models_per_trial auto on an 80 GiB GPU allows groups of 128; a wave of 48 runs
    stacks at most 48 (one slot) or 6 (8 slots), as the sweep does: 8 GPUs are faster."""
    preview = cost_preview(config(model=SHAPE, mixtures={"count": 48, "repeats": 0},
                                  compute={"gpus_per_trial": 1, "gpu_memory_gb": 80,
                                           "models_per_trial": "auto"}))
    base = preview.proxies[0]
    assert base.group_size == 128
    one, eight = sorted(preview.commands[0].wall, key=lambda w: w["slots"])
    assert one["seconds"] <= 48 * base.seconds * 1.01
    assert eight["seconds"] < one["seconds"] / 4
