"""The memory estimate behind the 'proxy larger than a trial's memory' refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY

from raymix.config import ModelConfig, parse_config
from raymix.sweep.cluster import trial_resources
from raymix.training.memory import (
    GIB,
    training_memory_bytes,
    trial_memory_gb,
)

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_the_estimate_matches_the_measured_peaks(device):
    """bench/bench_proxy_memory.py measured these peaks on shapes the fit never saw."""
    rows = json.loads((RESULTS / f"proxy_memory_{device}.json").read_text())["rows"]
    ratios = []
    for row in rows:
        model = ModelConfig(*(row[k] for k in ("layers", "hidden", "heads", "intermediate",
                                               "seq_len")))
        estimate = training_memory_bytes(model, row["batch_size"], row["vocab_size"],
                                         gpu=device == "cuda")
        ratios.append(estimate / row["measured"])
    low = 0.85 if device == "cuda" else 0.7  # CPU peaks are resident sets: noisier
    assert low <= min(ratios) and max(ratios) <= 1.1


def test_more_of_anything_needs_more_memory():
    base = ModelConfig(layers=2, hidden=128, heads=4, intermediate=512, seq_len=128)
    need = training_memory_bytes(base, 16, 4096, gpu=True)
    for bigger in (ModelConfig(4, 128, 4, 512, 128), ModelConfig(2, 256, 4, 512, 128),
                   ModelConfig(2, 128, 4, 512, 256)):
        assert training_memory_bytes(bigger, 16, 4096, gpu=True) > need
    assert training_memory_bytes(base, 32, 4096, gpu=True) > need
    assert training_memory_bytes(base, 16, 32000, gpu=True) > need


def test_what_a_trial_gets_and_what_ray_reserves():
    assert trial_memory_gb(0.25, 80, None) == (20.0, pytest.approx(
        "compute.gpus_per_trial 0.25 x compute.gpu_memory_gb 80"))
    assert trial_memory_gb(0.0, None, 4.0) == (4.0, "compute.memory_per_trial_gb")
    assert trial_memory_gb(0.25, None, 4.0) is None  # GPU trials: RAM is not the limit
    cpu = parse_config({**TINY, "compute": {"memory_per_trial_gb": 2}})
    assert trial_resources(cpu) == {"cpu": 1.0, "gpu": 0.0, "memory": 2 * GIB}
    gpu = parse_config({**TINY, "compute": {"gpus_per_trial": 0.5, "gpu_memory_gb": 80}})
    assert trial_resources(gpu) == {"cpu": 1.0, "gpu": 0.5}


def test_models_per_trial_groups_what_fits_and_keeps_every_slot_busy(monkeypatch):
    from raymix.errors import ConfigError
    from raymix.sweep import cluster
    from raymix.training.memory import check_memory, proxies_that_fit

    monkeypatch.setattr(cluster, "trial_slots", lambda cfg: 4.0)
    fixed = parse_config({**TINY, "compute": {"models_per_trial": 8}})
    assert cluster.models_per_trial(fixed, 100) == 8
    assert cluster.models_per_trial(fixed, 3) == 3  # never more than the runs
    cpu = parse_config({**TINY, "compute": {"models_per_trial": "auto"}})
    assert cluster.models_per_trial(cpu, 100) == cluster.CPU_AUTO_GROUP
    assert cluster.models_per_trial(cpu, 12) == 3  # 4 slots, each a group
    tight = parse_config({**TINY, "compute": {"models_per_trial": "auto",
                                              "memory_per_trial_gb": 0.01}})
    assert cluster.models_per_trial(tight, 100) == proxies_that_fit(tight, 0.01) < 8
    gpu = parse_config({**TINY, "compute": {"models_per_trial": "auto", "gpus_per_trial": 0.25,
                                            "gpu_memory_gb": 80}})
    fit = proxies_that_fit(gpu, 20.0)
    assert fit > 128  # tiny proxies: memory is not what limits the group here
    assert cluster.models_per_trial(gpu, 10_000) == cluster.MAX_AUTO_GROUP
    assert cluster.models_per_trial(gpu, 100) == 25  # 4 slots, each a group of 25
    assert cluster.models_per_trial(gpu, 100, rounds=4) == 7  # adaptive: 4 rounds a slot
    small = parse_config({**TINY, "compute": {"models_per_trial": "auto", "gpus_per_trial": 1,
                                              "gpu_memory_gb": 0.02}})
    assert cluster.models_per_trial(small, 10_000) == proxies_that_fit(small, 0.02) < 128
    # a number that does not fit the trial's memory is refused before anything starts
    too_many = parse_config({**TINY, "compute": {"models_per_trial": 500, "gpus_per_trial": 1,
                                                 "gpu_memory_gb": 0.02}})
    with pytest.raises(ConfigError, match="500 proxies .compute.models_per_trial.") as refused:
        check_memory(too_many)
    assert refused.value.field == "model"
